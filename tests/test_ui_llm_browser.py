"""The answer-mode choice when an LLM is configured and answers (a fake OpenAI-compatible server on
127.0.0.1), and the one-line notice when a generative answer falls back. The no-LLM case (no choice at
all) is in test_ui_browser.py."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server
from test_ui_browser import ANSWER_MS, DESKTOP, STEP_MS, TURNS, db_rows, shot

pytestmark = pytest.mark.timeout(300)


class FailingLLM:
    """Lists its models (so it is reachable) and fails every completion with HTTP 500."""

    def __init__(self):
        self.completions = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/") == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
                self._send(404, {"error": "not found"})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.completions += 1
                self._send(500, {"error": {"message": "boom"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    fake = FailingLLM()
    tmp = tmp_path_factory.mktemp("ui-llm")
    srv = start_server(tmp, {"KANMIN_LLM_BACKEND": "openai", "KANMIN_LLM_BASE_URL": f"http://127.0.0.1:{fake.port}/v1",
                             "KANMIN_LLM_MODEL": "fake", "KANMIN_LLM_TIMEOUT_S": "10"})
    srv.db_path = tmp / "kanmin.sqlite3"
    srv.fake = fake
    yield srv
    stop_server(srv)
    fake.close()


def test_llm_choice_shown_when_reachable_and_fallback_is_one_translated_line(llm_server):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            pg = browser.new_context(viewport=DESKTOP, locale="ja-JP").new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(llm_server.url + "/", wait_until="domcontentloaded")
            mode = pg.locator("#mode")
            expect(mode).to_be_visible(timeout=STEP_MS)
            mode.locator("label").filter(has_text="生成").click()
            pg.fill("#question textarea", "スタートアップと随意契約できるのはどんな場合？")
            pg.click("#ask")
            expect(pg.locator(TURNS)).to_have_count(1, timeout=ANSWER_MS)
            aid = pg.locator(TURNS).first.get_attribute("data-answer-id")
            row = db_rows(llm_server, "SELECT json FROM answers WHERE id = ?", (aid,))
            stored = json.loads(row[0]["json"])
            assert llm_server.fake.completions >= 1, "the generative mode never called the LLM"
            assert stored["mode"] == "extractive" and stored["fallback"], stored["fallback"]
            notice = pg.locator(TURNS).first.locator(".kc-fallback")
            expect(notice).to_have_count(1)
            text = notice.inner_text().strip()
            assert text == "生成回答でエラーが起きたため、ガイドから抜き出した回答を表示しています。"
            assert "llm_error" not in pg.locator(TURNS).first.inner_text()  # developer text stays out of sight
            shot(pg, "llm-fallback")
            assert not errors, errors
        finally:
            browser.close()
