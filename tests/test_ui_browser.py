"""The web UI in a real browser (Debian's chromium, headless) against a real `kanmin serve`.

Every request the page makes is recorded: none may leave 127.0.0.1 (no CDN, no Google Fonts,
no analytics). Screenshots go to test-artifacts/ (gitignored).
"""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LOCAL = re.compile(r"^(https?|wss?)://127\.0\.0\.1:\d+/|^(data|blob):")
STEP_MS = 60_000  # any single UI step (generous: a busy 2-core machine)
ANSWER_MS = 120_000  # one answer (the first one loads models)

pytestmark = pytest.mark.timeout(300)


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ui_server(live_server):
    """The session's default server (no LLM, no keys): the UI needs nothing else.

    Every check reads back its own answers by id, so other modules' use of it does not matter."""
    live_server.db_path = Path(live_server.log_path).parent / "kanmin.sqlite3"
    return live_server


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs chromium and fonts-ipafont-gothic with apt)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # a new, empty user-data-dir
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, locale="ja-JP", timeout=60_000)
        ctx.set_default_timeout(STEP_MS)
        ctx.requests = []  # every request of every page of this context
        ctx.on("request", lambda r: ctx.requests.append(r.url))
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture()
def page(browser_context, ui_server):
    start = len(browser_context.requests)
    pg = browser_context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(ui_server.url + "/", wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea")
    pg.requests_since = lambda: browser_context.requests[start:]
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert_local(browser_context.requests[start:])


# ---- helpers ------------------------------------------------------------------------------------
def assert_local(urls: list[str]) -> None:
    assert urls, "no request was recorded"
    outside = sorted({u for u in urls if not LOCAL.match(u)})
    assert not outside, f"requests left 127.0.0.1: {outside}"


def shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"ui-{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def ask(pg, question: str) -> str:
    """Type a question, press the button, wait for its answer; returns the answer id."""
    pg.fill("#question textarea", question)
    pg.click("#ask")
    return wait_answer(pg, question)


def wait_answer(pg, question: str) -> str:
    pg.wait_for_function(
        """(q) => document.querySelector('#answer .kc-error') ||
                  [...document.querySelectorAll('#answer .kc-q')].some(e => e.innerText.includes(q))""",
        arg=question, timeout=ANSWER_MS)
    assert pg.locator("#answer .kc-error").count() == 0, pg.inner_text("#answer")
    return pg.get_attribute("#answer .kc-answer", "data-answer-id")


def tab(pg, name: str) -> None:
    pg.get_by_role("tab", name=name).click()


def db_rows(srv, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(str(srv.db_path), timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_answer(srv, answer_id: str) -> dict:
    rows = db_rows(srv, "SELECT json, source, session_id FROM answers WHERE id = ?", (answer_id,))
    assert rows, f"answer {answer_id} not stored"
    out = json.loads(rows[0]["json"])
    out["_source"], out["_session"] = rows[0]["source"], rows[0]["session_id"]
    return out


# ---- tests --------------------------------------------------------------------------------------
def test_page_is_japanese_offline_and_uses_a_japanese_font(page):
    assert page.get_by_text("質問", exact=True).first.is_visible()
    assert "官民連携" in page.inner_text("#title")
    assert page.evaluate("document.documentElement.lang") == "ja"
    family = page.evaluate("getComputedStyle(document.querySelector('#question textarea')).fontFamily")
    assert "IPAPGothic" in family or "IPAGothic" in family, family
    fc = shutil.which("fc-list")
    assert fc, "fc-list missing: run `make test` (installs fonts-ipafont-gothic)"
    fonts = subprocess.run([fc, ":lang=ja", "family"], capture_output=True, text=True, timeout=30).stdout
    assert "IPAGothic" in fonts or "IPAPGothic" in fonts, "no Japanese font: run `make test` (fonts-ipafont-gothic)"
    # every tab renders from the local server only
    for name in ("読み方ガイド", "目次", "用語集", "専門用語の翻訳", "質問"):
        tab(page, name)
        expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true", timeout=STEP_MS)
    shot(page, "home-ja")
    assert_local(page.requests_since())


def test_japanese_question_citation_evidence_and_section(page, ui_server):
    answer_id = ask(page, "随意契約とは何ですか？")
    text = page.inner_text("#answer .kc-answer-text")
    assert "随意契約" in text and "[1]" in text
    stored = stored_answer(ui_server, answer_id)
    assert stored["_source"] == "ui" and stored["_session"].startswith("ui-")
    cits = stored["citations"]
    assert cits, "the answer has no citation"
    # the first citation is selected: its quote is highlighted in its passage, with its page
    page.wait_for_selector("#evidence mark.kc-quote")
    assert page.inner_text("#evidence mark.kc-quote").strip() == cits[0]["quote"].strip()
    ev = page.inner_text("#evidence")
    first, last = min(cits[0]["pages"]), max(cits[0]["pages"])
    assert (f"p.{first}" if first == last else f"pp.{first}–{last}") in ev
    assert cits[0]["section_path"][-1] in ev
    # clicking the chip [2] in the answer selects citation 2 (this answer quotes several passages)
    assert len(cits) >= 2, cits
    page.click("#answer .kc-cite[data-n='2']")
    page.wait_for_selector("#evidence .kc-evidence[data-n='2']")
    assert page.inner_text("#evidence mark.kc-quote").strip() == cits[1]["quote"].strip()
    assert page.locator("#citations input[type=radio]:checked").get_attribute("value") == "2"
    # and the radio brings back citation 1
    page.locator("#citations label").first.click()
    page.wait_for_selector("#evidence .kc-evidence[data-n='1']")
    assert page.inner_text("#evidence mark.kc-quote").strip() == cits[0]["quote"].strip()
    # the whole section of the cited passage
    page.click("#open-section")
    page.wait_for_selector("#section-view .kc-section")
    assert page.locator("#section-view .kc-chunk").count() >= 1
    assert re.search(r"pp?\.\d+", page.inner_text("#section-view"))
    glossary = page.locator("#answer-glossary .kc-term[data-term='随意契約']")
    assert glossary.count() == 1 and "言い換え" in glossary.inner_text()
    shot(page, "ja-answer-evidence")


def test_follow_up_keeps_the_session_and_feedback_is_stored(page, ui_server):
    first = ask(page, "自治体の予算編成のスケジュールは？")
    assert page.is_enabled("#feedback-up") and page.is_enabled("#feedback-down")
    page.click("#feedback-up")
    page.wait_for_function("() => document.querySelector('#feedback-status').innerText.includes('記録しました')")
    assert page.is_disabled("#feedback-up") and page.is_disabled("#feedback-down")
    rows = db_rows(ui_server, "SELECT answer_id, rating, source FROM feedback WHERE answer_id = ?", (first,))
    assert [tuple(r) for r in rows] == [(first, "up", "ui")]

    # a follow-up in the same browser page is the same session, resolved against its history,
    # and the page shows the question it actually answered
    page.fill("#question textarea", "それはいつ頃ですか？")
    page.press("#question textarea", "Shift+Enter")  # Shift+Enter sends as well
    second = wait_answer(page, "それはいつ頃ですか？")
    assert second != first and page.is_enabled("#feedback-down")
    a1, a2 = stored_answer(ui_server, first), stored_answer(ui_server, second)
    assert a1["_session"] == a2["_session"]
    assert a2["resolved_question"] and "予算編成" in a2["resolved_question"], a2["resolved_question"]
    assert a2["resolved_question"] in page.inner_text("#answer")
    page.click("#feedback-down")
    page.wait_for_function("() => document.querySelector('#feedback-status').innerText.includes('記録しました')")
    rows = db_rows(ui_server, "SELECT answer_id, rating, source FROM feedback WHERE answer_id = ?", (second,))
    assert [tuple(r) for r in rows] == [(second, "down", "ui")]
    page.get_by_text("この会話のこれまでのやり取り").click()
    assert "自治体の予算編成のスケジュールは？" in page.inner_text("#history")
    shot(page, "followup-feedback")

    # an empty question is refused with a plain message
    page.fill("#question textarea", "   ")
    page.click("#ask")
    page.wait_for_selector("#answer .kc-error")
    assert "質問を入力してください" in page.inner_text("#answer .kc-error")

    # a new conversation is a new session
    page.click("#new-session")
    page.wait_for_selector("#answer .kc-placeholder")
    third = ask(page, "原課とは何ですか？")
    assert stored_answer(ui_server, third)["_session"] != a1["_session"]


def test_english_switch_answer_and_honest_abstention(page, ui_server):
    page.locator("#lang label").filter(has_text="English").click()
    page.wait_for_function("() => document.querySelector('#ask').innerText.trim() === 'Ask'")
    page.get_by_role("tab", name="Glossary").wait_for()
    assert page.locator("#persona label").filter(has_text="Municipality").count() == 1
    assert page.evaluate("document.documentElement.lang") == "en"

    answer_id = ask(page, "What is a negotiated contract?")
    assert "negotiated contract" in page.inner_text("#answer .kc-answer-text")
    assert page.locator("#answer .kc-cite").count() >= 1
    assert page.locator("#answer-glossary .kc-term[data-term='随意契約']").count() == 1
    assert "Plain Japanese" in page.inner_text("#answer-glossary")
    page.wait_for_selector("#evidence mark.kc-quote")
    assert "Pages: p" in page.inner_text("#evidence")
    assert stored_answer(ui_server, answer_id)["language"] == "en"
    shot(page, "en-answer")

    # a question the guide cannot answer: said plainly, with the nearest sections to open
    page.click("#new-session")
    page.wait_for_selector("#answer .kc-placeholder")  # the reset lands before we type (it clears the box)
    aid = ask(page, "What is the capital of France?")
    stored = stored_answer(ui_server, aid)
    assert stored["abstained"], stored["answer"]
    assert "The guide has no passage on this" in page.inner_text("#answer .kc-warn")
    expect(page.locator("#citations")).to_be_hidden(timeout=STEP_MS)
    nearest = stored["nearest_sections"]
    assert nearest, "an off-topic question still gets the nearest sections to open"
    expect(page.locator("#nearest label")).to_have_count(len(nearest), timeout=STEP_MS)
    page.locator("#nearest label").first.click()
    page.wait_for_selector(f"#section-view .kc-section[data-section-id='{nearest[0]['section_id']}']")
    shot(page, "en-abstention")
    # a figure the guide does not have: abstains with no section to offer, and none is shown
    aid = ask(page, "What does Figure 99 show?")
    stored = stored_answer(ui_server, aid)
    assert stored["abstained"] and stored["nearest_sections"] == []
    assert "The guide has no passage on this" in page.inner_text("#answer .kc-warn")
    expect(page.locator("#nearest")).to_be_hidden(timeout=STEP_MS)

    # back to Japanese: the same answer, relabelled
    page.locator("#lang label").filter(has_text="日本語").click()
    page.wait_for_function("() => document.querySelector('#ask').innerText.trim() === '質問する'")
    assert "ガイドに記載が見当たりません" in page.inner_text("#answer .kc-warn")


def test_generative_fallback_is_shown_as_a_notice(page, ui_server):
    page.locator("#mode label").filter(has_text="生成").click()
    answer_id = ask(page, "スタートアップと随意契約できるのはどんな場合？")
    stored = stored_answer(ui_server, answer_id)
    assert stored["fallback"], "with no LLM configured the generative mode must fall back"
    notice = page.inner_text("#answer .kc-info")
    assert "生成回答は使えなかった" in notice and stored["fallback"] in notice


def test_persona_examples_and_reading_path(page, ui_server):
    page.locator("#persona label").filter(has_text="自治体").click()
    page.wait_for_function("() => document.querySelector('#example-1').innerText.includes('首長')")
    page.click("#example-1")  # 首長はどの章を読めばよいですか？
    answer_id = wait_answer(page, "首長はどの章を読めばよいですか？")
    stored = stored_answer(ui_server, answer_id)
    assert stored["persona"] == "municipality"
    assert stored["route"] == "reading_path" and "第1章" in page.inner_text("#answer")

    tab(page, "読み方ガイド")
    page.wait_for_selector("#reading-path table")
    # the table follows the persona: wait for the municipality rows, not just any table
    page.wait_for_function("() => document.querySelector('#reading-path').innerText.includes('首長')")
    reading = page.inner_text("#reading-path")
    assert "首長" in reading and "図表3" in reading and "スタートアップ\n実務者" not in reading
    chapter = page.locator("#reading-chapters label").filter(has_text="第1章")
    chapter.click()
    page.wait_for_selector("#reading-detail .kc-section")
    assert "この章の節" in page.inner_text("#reading-detail")
    assert re.search(r"pp?\.\d+", page.inner_text("#reading-detail"))
    page.locator("#reading-detail .kc-link").first.click()
    page.wait_for_selector("#reading-section .kc-section")
    assert page.locator("#reading-section .kc-chunk").count() >= 1
    shot(page, "persona-reading-path")

    # another persona: other rows, other chapters
    page.locator("#persona label").filter(has_text="スタートアップ").click()
    page.wait_for_function("() => document.querySelector('#reading-path').innerText.includes('代表者')")
    assert "首長" not in page.inner_text("#reading-path")
    assert page.locator("#reading-chapters label").filter(has_text="第4章").count() == 1


def test_table_of_contents_opens_sections(page, guide):
    tab(page, "目次")
    page.wait_for_selector("#toc .kc-toc")
    links = page.locator("#toc .kc-link")
    assert links.count() == len(guide.toc)
    entry = next(e for e in guide.toc if "公平性の考え方" in e.heading)
    links.filter(has_text=entry.heading).first.click()
    page.wait_for_selector("#toc-section .kc-section")
    view = page.inner_text("#toc-section")
    assert entry.heading in view and re.search(rf"pp?\.{entry.page}\b", view)
    # a chapter lists its sections; clicking one opens it
    chapter = next(e for e in guide.toc if e.level == 1 and e.heading.startswith("第2章"))
    links.filter(has_text=chapter.heading).first.click()
    page.wait_for_function("() => document.querySelector('#toc-section').innerText.includes('この章の節')")
    page.locator("#toc-section .kc-children .kc-link").first.click()
    page.wait_for_function("() => !document.querySelector('#toc-section').innerText.includes('この章の節')")
    assert page.locator("#toc-section .kc-chunk").count() >= 1
    shot(page, "toc")


def test_glossary_search_and_jargon_translator(page, ui_server):
    tab(page, "用語集")
    page.fill("#glossary-search textarea", "原課")
    page.click("#glossary-search-btn")
    page.wait_for_function("() => document.querySelector('#glossary-results').innerText.includes('件')"
                           " && document.querySelectorAll('#glossary-results .kc-term').length < 20")
    api = httpx.get(ui_server.url + "/v1/glossary", params={"q": "原課"}, timeout=60).json()
    assert page.locator("#glossary-results .kc-term").count() == len(api) >= 1
    card = page.locator("#glossary-results .kc-term[data-term='原課']")
    assert "担当" in card.inner_text() and "言い換え" in card.inner_text()
    shot(page, "glossary")

    tab(page, "専門用語の翻訳")
    memo = "原課と調整のうえ、来年度の予算要求に向けて4号随契での対応を検討します。PoCの結果を踏まえ、庁議に諮る予定です。"
    page.fill("#jargon-input textarea", memo)
    page.click("#jargon-run")
    page.wait_for_selector("#jargon-output mark.kc-jargon")
    shown = [m.get_attribute("data-term") for m in page.locator("#jargon-output mark.kc-jargon").all()]
    api = httpx.post(ui_server.url + "/v1/glossary/annotate", json={"text": memo}, timeout=60).json()["annotations"]
    assert shown == [a["term"] for a in api]  # the same logic as /v1/glossary/annotate
    assert "原課" in shown
    assert "（→ " in page.inner_text("#jargon-output")
    # the highlighted surfaces are the memo's own words, in order
    surfaces = [m.inner_text() for m in page.locator("#jargon-output mark.kc-jargon").all()]
    assert surfaces == [memo[a["start"]:a["end"]] for a in api]
    shot(page, "jargon")


def test_unavailable_index_is_reported_in_the_page(browser_context, tmp_path):
    """With no index the UI still loads, and says why it cannot answer (no stack trace, no hang)."""
    empty = tmp_path / "no-index"
    empty.mkdir()
    srv = start_server(tmp_path, {"KANMIN_INDEX_DIR": str(empty), "KANMIN_LLM_BACKEND": "none"}, wait_ready=False)
    start = len(browser_context.requests)
    pg = browser_context.new_page()
    try:
        assert httpx.get(srv.url + "/readyz", timeout=60).status_code == 503
        pg.goto(srv.url + "/", wait_until="domcontentloaded")
        pg.wait_for_selector("#question textarea")
        pg.fill("#question textarea", "随意契約とは何ですか？")
        pg.click("#ask")
        pg.wait_for_selector("#answer .kc-error")
        text = pg.inner_text("#answer .kc-error")
        assert "現在は回答できません" in text and "manifest" in text and "Traceback" not in text
        assert pg.input_value("#question textarea") == "随意契約とは何ですか？"  # kept, to retry
        shot(pg, "not-ready")
    finally:
        pg.close()
        stop_server(srv)
    assert_local(browser_context.requests[start:])
