"""The web UI in a real browser (Debian's chromium, headless) against a real `kanmin serve`.

One browser for the module; each test opens a fresh context (its own localStorage, so its own
conversation). The chat flow runs at desktop 1280×800 and phone 390×844. Every request the page
makes is recorded: none may leave 127.0.0.1 (no CDN, no Google Fonts, no analytics).
Screenshots of each step go to test-artifacts/ (gitignored) for a person to look at.
What the server did is read back from its SQLite store, never from the page alone.
"""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from conftest import ARTIFACTS, LOCAL_URL
from helpers_reliability import cli_main

LOCAL = LOCAL_URL
STEP_MS = 60_000  # any single UI step (generous: a busy 2-core machine)
ANSWER_MS = 120_000  # one answer (the first one loads models)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TURNS = "#chat .kc-turn-a"

pytestmark = pytest.mark.timeout(400)


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ui_server(live_server):
    """The session's default server (no LLM, no keys): the UI needs nothing else.

    Every check reads back its own answers by id or session, so other modules' use of it does not matter."""
    live_server.db_path = Path(live_server.log_path).parent / "kanmin.sqlite3"
    return live_server



class Tab:
    """A fresh browser context (its own storage) with one page, its requests and its JS errors."""

    def __init__(self, browser, viewport: dict, name: str):
        self.ctx = browser.new_context(viewport=viewport, locale="ja-JP",
                                       permissions=["clipboard-read", "clipboard-write"])
        self.ctx.set_default_timeout(STEP_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.ctx.on("request", lambda r: self.requests.append(r.url))
        self.page = self.ctx.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.name = name
        self.viewport = viewport

    def open(self, url: str):
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.wait_for_selector("#question textarea")
        # the page load sets up the session, then enables the question box and the button
        expect(self.page.locator("#ask")).to_be_enabled(timeout=STEP_MS)
        expect(self.page.locator("#question textarea")).to_be_editable(timeout=STEP_MS)
        return self.page

    def close(self) -> None:
        try:
            assert not self.errors, f"JavaScript errors on the page: {self.errors}"
            assert_local(self.requests)
        finally:
            self.ctx.close()


@pytest.fixture()
def tab(browser, request):
    opened: list[Tab] = []

    def make(viewport: dict = DESKTOP, name: str = "") -> Tab:
        t = Tab(browser, viewport, name or request.node.name)
        opened.append(t)
        return t

    yield make
    for t in opened:
        t.close()


# ---- helpers ------------------------------------------------------------------------------------
def assert_local(urls: list[str]) -> None:
    assert urls, "no request was recorded"
    outside = sorted({u for u in urls if not LOCAL.match(u)})
    assert not outside, f"requests left 127.0.0.1: {outside}"


def shot(pg, name: str, full_page: bool = False) -> Path:
    """A screenshot for a person; the viewport by default (what the user sees without scrolling)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"ui-{name}.png"
    pg.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 5_000
    return path


def ask(pg, question: str) -> str:
    """Type a question, press the button, wait for its turn; returns the new answer's id."""
    before = pg.locator(TURNS).count()
    pg.fill("#question textarea", question)
    pg.click("#ask")
    return wait_turn(pg, before + 1)


def wait_turn(pg, n: int) -> str:
    expect(pg.locator(TURNS)).to_have_count(n, timeout=ANSWER_MS)
    expect(pg.locator("#ask")).to_be_enabled(timeout=STEP_MS)
    assert pg.locator("#status .kc-error").count() == 0, pg.inner_text("#status")
    return pg.locator(TURNS).nth(n - 1).get_attribute("data-answer-id")


def turn_ids(pg) -> list[str]:
    return [t.get_attribute("data-answer-id") for t in pg.locator(TURNS).all()]


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


def session_rows(srv, session_id: str) -> list[sqlite3.Row]:
    return db_rows(srv, "SELECT id, question FROM answers WHERE session_id = ? ORDER BY seq", (session_id,))


def in_viewport(pg, selector_js: str) -> dict:
    """Wait until the element is wholly inside the viewport (the page may still be scrolling it there);
    its box as measured in that same moment (a second read could see a later scroll)."""
    handle = pg.wait_for_function(
        f"""() => {{ const el = {selector_js}; if (!el) return false; const r = el.getBoundingClientRect();
            const inside = r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight
                           && r.right <= window.innerWidth;
            return inside && {{top: r.top, bottom: r.bottom, left: r.left, right: r.right}}; }}""", timeout=STEP_MS)
    return handle.json_value()


# ---- the chat, at desktop and phone size ----------------------------------------------------------
QUESTIONS = ["随意契約とは何ですか？", "自治体の予算編成のスケジュールは？", "実証実験で取り決めておくことは？"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_three_turns_evidence_in_view_reload_and_section(tab, ui_server, viewport):
    size = "desktop" if viewport is DESKTOP else "phone"
    t = tab(viewport)
    pg = t.open(ui_server.url + "/")
    # no LLM is configured: no answer-mode choice at all; Gradio's footer (settings, 2nd language menu) gone
    expect(pg.locator("#mode")).to_be_hidden(timeout=STEP_MS)
    assert pg.get_by_text("生成（LLM）").count() == 0
    assert pg.locator("footer:visible").count() == 0
    assert pg.get_by_text("設定", exact=True).count() == 0  # Gradio's settings menu (2nd language selector)
    assert pg.locator("#lang").count() == 1
    assert pg.evaluate("document.documentElement.lang") == "ja"
    shot(pg, f"{size}-0-empty")

    # three questions: three stacked turns, in order, the newest at the bottom
    ids = [ask(pg, q) for q in QUESTIONS]
    assert turn_ids(pg) == ids and len(set(ids)) == 3
    users = [u.inner_text().strip() for u in pg.locator("#chat .kc-uq").all()]
    assert users == QUESTIONS
    # one snapshot in the page: measured one by one, a scroll still running moves the turns between reads
    tops = pg.evaluate("(sel) => [...document.querySelectorAll(sel)].map(e => e.getBoundingClientRect().top)", TURNS)
    assert len(tops) == 3 and tops == sorted(tops), tops
    stored = [stored_answer(ui_server, i) for i in ids]
    session = stored[0]["_session"]
    assert re.fullmatch(r"ui-[0-9a-f]{32}", session) and all(s["_session"] == session for s in stored)
    assert all(s["_source"] == "ui" for s in stored)
    assert [r["id"] for r in session_rows(ui_server, session)] == ids
    shot(pg, f"{size}-1-three-turns")

    # reopen the FIRST turn's evidence: it opens inside that turn and is seen without scrolling
    first = pg.locator(TURNS).first
    cit = stored[0]["citations"][0]
    first.locator(f".kc-answer-text .kc-cite[data-n='{cit['n']}']").first.click()
    panel_js = f"document.querySelector('#chat .kc-turn-a[data-answer-id=\"{ids[0]}\"] .kc-ev[data-n=\"{cit['n']}\"]')"
    box = in_viewport(pg, panel_js)
    assert 0 <= box["top"] < box["bottom"] <= viewport["height"]
    panel = first.locator(f".kc-ev[data-n='{cit['n']}']")
    assert panel.locator("mark.kc-quote").inner_text().strip() == cit["quote"].strip()
    text = panel.inner_text()
    assert cit["section_path"][-1] in text and str(min(cit["pages"])) in text
    # the quote is scrolled into view inside its passage too
    in_viewport(pg, panel_js + ".querySelector('mark.kc-quote')")
    # the other turns' panels stay closed
    assert pg.locator("#chat .kc-ev:not([hidden])").count() == 1
    shot(pg, f"{size}-2-first-turn-evidence")

    # "show the whole section" opens the section over the page, in view
    panel.locator(".kc-whole").click()
    reader = pg.locator("#reader .kc-reader")
    expect(reader).to_be_visible(timeout=STEP_MS)
    in_viewport(pg, "document.querySelector('#reader .kc-close')")
    assert reader.locator(".kc-chunk").count() >= 1
    # it opens at the cited passage, marked
    cited = reader.locator(".kc-chunk.kc-cited")
    expect(cited).to_have_count(1, timeout=STEP_MS)
    assert cited.get_attribute("data-chunk-id") == cit["chunk_id"]
    assert cited.locator("mark.kc-quote").inner_text().strip() == cit["quote"].strip()
    # the quote in view, and the whole passage when it fits the screen (a 684-character paragraph
    # does not on a phone)
    in_viewport(pg, "document.querySelector('#reader .kc-cited mark.kc-quote')")
    if pg.evaluate("document.querySelector('#reader .kc-cited').getBoundingClientRect().height") < viewport["height"] - 48:
        in_viewport(pg, "document.querySelector('#reader .kc-cited')")
    shot(pg, f"{size}-3-whole-section")
    reader.locator(".kc-close").click()
    expect(reader).to_be_hidden(timeout=STEP_MS)

    # reload: the same turns come back from the store, and the evidence still opens
    pg.reload(wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea")
    expect(pg.locator(TURNS)).to_have_count(3, timeout=STEP_MS)
    assert turn_ids(pg) == ids
    assert [u.inner_text().strip() for u in pg.locator("#chat .kc-uq").all()] == QUESTIONS
    pg.locator(TURNS).first.locator(".kc-answer-text .kc-cite").first.click()
    in_viewport(pg, "document.querySelector('#chat .kc-turn-a .kc-ev:not([hidden])')")
    shot(pg, f"{size}-4-after-reload")

    # a follow-up after the reload is still the same conversation (the id came back from the browser)
    fourth = ask(pg, "それはいつ頃ですか？")
    assert stored_answer(ui_server, fourth)["_session"] == session


def test_question_box_and_button_are_inert_until_the_page_load(tab, ui_server):
    """A question sent before the page load has set up the session was answered, then wiped from
    view when the load's (empty) conversation landed (seen once in a fresh-clone run): the page is
    served with both inert, and the load enables them."""
    config = httpx.get(ui_server.url + "/config", timeout=30).json()
    props = {c["props"].get("elem_id"): c["props"] for c in config["components"]}
    assert props["ask"]["interactive"] is False and props["question"]["interactive"] is False
    pg = tab(DESKTOP).open(ui_server.url + "/")  # waits for both to be enabled by the load
    ask(pg, QUESTIONS[0])
    expect(pg.locator(TURNS)).to_have_count(1, timeout=STEP_MS)


def test_double_click_sends_once(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    q = "原課とは何ですか？"
    pg.fill("#question textarea", q)
    # a double click, then two more clicks while the first answer may still be pending
    pg.dblclick("#ask")
    pg.click("#ask", force=True, no_wait_after=True, timeout=STEP_MS)
    expect(pg.locator(TURNS)).to_have_count(1, timeout=ANSWER_MS)
    expect(pg.locator("#ask")).to_be_enabled(timeout=STEP_MS)
    aid = pg.locator(TURNS).first.get_attribute("data-answer-id")
    # the box is cleared once the answer is there, so a late click has nothing to send
    expect(pg.locator("#question textarea")).to_have_value("", timeout=STEP_MS)
    session = stored_answer(ui_server, aid)["_session"]
    rows = session_rows(ui_server, session)
    assert [(r["id"], r["question"]) for r in rows] == [(aid, q)], [tuple(r) for r in rows]
    expect(pg.locator(TURNS)).to_have_count(1)
    shot(pg, "double-click-one-answer")


def test_button_is_disabled_and_question_kept_while_pending(tab, ui_server):
    """While an answer is pending the button is disabled and the question stays in the box."""
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    q = "スタートアップと随意契約できるのはどんな場合？"
    pg.fill("#question textarea", q)
    # watch the button and the box from the first change on (no timing assumption: record every state)
    pg.evaluate("""() => { window.__states = [];
      const btn = document.querySelector('#ask'), box = document.querySelector('#question textarea');
      const rec = () => window.__states.push([btn.disabled, box.value, !!document.querySelector('#chat .kc-pending')]);
      const mo = new MutationObserver(rec);
      mo.observe(document.querySelector('#chat'), {subtree: true, childList: true, attributes: true});
      mo.observe(btn, {attributes: true}); }""")
    pg.click("#ask")
    wait_turn(pg, 1)
    states = pg.evaluate("window.__states")
    # a moment with the answer pending, the button disabled and the question still in the box
    assert [True, q, True] in states, states[:10]
    # and the box is cleared only with (or after) the answer: never before the pending line appeared
    first_pending = next(i for i, s in enumerate(states) if s[2])
    assert all(v == q for _, v, _ in states[:first_pending + 1]), states[:first_pending + 1]
    expect(pg.locator("#question textarea")).to_have_value("")


def test_feedback_goes_to_the_answer_it_sits_under(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    first = ask(pg, "自治体の予算編成のスケジュールは？")
    second = ask(pg, "PFSとは何ですか？")
    bots = pg.locator("#chat .bot-row")
    expect(bots).to_have_count(2)
    # Gradio's own 👍/👎 under each answer (labelled in the browser's language, ja-JP here)
    bots.nth(0).locator("button[aria-label='いいね']").click()
    expect(pg.locator("#status")).to_contain_text("記録しました", timeout=STEP_MS)
    bots.nth(1).locator("button[aria-label='よくないね']").click()
    deadline_rows = None
    for _ in range(120):  # poll the store (the vote lands after the click's round trip)
        deadline_rows = db_rows(ui_server, "SELECT answer_id, rating, source FROM feedback WHERE answer_id IN (?, ?)"
                                " ORDER BY id", (first, second))
        if len(deadline_rows) >= 2:
            break
        pg.wait_for_timeout(500)
    assert [tuple(r) for r in deadline_rows] == [(first, "up", "ui"), (second, "down", "ui")]
    shot(pg, "feedback")


def test_length_limit_is_shown_before_sending_and_never_applied_silently(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    # an empty box: a plain message, nothing sent
    pg.click("#ask")
    expect(pg.locator("#status .kc-error")).to_contain_text("質問を入力してください", timeout=STEP_MS)
    pg.fill("#question textarea", "随意契約")
    expect(pg.locator("#q-counter")).to_have_text("4 / 2,000字", timeout=STEP_MS)
    long_text = "随意契約について教えてください。" * 313  # 5,008 characters: a long paste
    pg.fill("#question textarea", long_text)
    assert len(pg.input_value("#question textarea")) == len(long_text)  # not cut
    expect(pg.locator("#q-counter")).to_contain_text(f"{len(long_text):,} / 2,000字", timeout=STEP_MS)
    expect(pg.locator("#q-counter")).to_have_class(re.compile("kc-over"))
    before = db_rows(ui_server, "SELECT COUNT(*) FROM answers")[0][0]
    pg.click("#ask")
    expect(pg.locator("#status .kc-error")).to_contain_text(f"{len(long_text):,}字", timeout=STEP_MS)
    assert "2,000字" in pg.inner_text("#status")
    assert pg.input_value("#question textarea") == long_text  # kept, to shorten
    assert pg.locator(TURNS).count() == 0
    assert db_rows(ui_server, "SELECT COUNT(*) FROM answers")[0][0] == before
    shot(pg, "too-long")


def test_copy_page_links_suggestions_and_export(tab, ui_server, guide):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    aid = ask(pg, "自治体の予算編成のスケジュールは？")
    stored = stored_answer(ui_server, aid)
    turn = pg.locator(TURNS).first

    # copy: the answer and its sources, as plain text
    turn.locator(".kc-copy").click()
    expect(turn.locator(".kc-copy.kc-copied")).to_have_count(1, timeout=STEP_MS)
    clip = pg.evaluate("navigator.clipboard.readText()")
    assert clip.startswith(stored["answer"][:40]) and stored["citations"][0]["quote"] in clip

    # a page number is a link to that page's passages (/?p=N), opened over the page
    page_no = stored["citations"][0]["pages"][0]
    link = turn.locator(f".kc-chips a.kc-pagelink[href='?p={page_no}']").first
    link.click()
    reader = pg.locator("#reader .kc-reader")
    expect(reader).to_contain_text(f"p.{page_no}", timeout=STEP_MS)
    on_page = [c for c in guide.chunks if page_no in c.pages]
    expect(reader.locator(".kc-chunk")).to_have_count(len(on_page), timeout=STEP_MS)
    shot(pg, "page-view")
    reader.locator(".kc-close").click()

    # two or three next questions from the cited sections' question bank; a click asks it
    bank = {q.text for q in guide.questions if q.lang == "ja"}
    suggested = [s.inner_text().strip() for s in turn.locator(".kc-suggest").all()]
    assert 2 <= len(suggested) <= 3 and set(suggested) <= bank, suggested
    turn.locator(".kc-suggest").first.click()
    second = wait_turn(pg, 2)
    assert stored_answer(ui_server, second)["question"] == suggested[0]

    # export: Markdown with every question, answer and citation
    with pg.expect_download(timeout=STEP_MS) as dl:
        pg.click("#export")
    md = Path(dl.value.path()).read_text(encoding="utf-8")
    assert md.startswith("# ") and "自治体の予算編成のスケジュールは？" in md and suggested[0] in md
    for c in stored["citations"]:
        assert f"[{c['n']}] " in md and c["quote"] in md
    (ARTIFACTS / "ui-export.md").write_text(md, encoding="utf-8")


def test_page_link_opens_from_the_address(tab, ui_server, guide):
    t = tab(PHONE)
    pg = t.open(ui_server.url + "/?p=94")
    reader = pg.locator("#reader .kc-reader")
    expect(reader).to_contain_text("p.94", timeout=STEP_MS)
    on_page = [c for c in guide.chunks if 94 in c.pages]
    assert on_page
    expect(reader.locator(".kc-chunk")).to_have_count(len(on_page), timeout=STEP_MS)
    in_viewport(pg, "document.querySelector('#reader .kc-close')")
    shot(pg, "phone-page-94")


def test_new_conversation_starts_empty_and_stays_new_after_reload(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    old = ask(pg, "原課とは何ですか？")
    pg.click("#new-session")
    expect(pg.locator(TURNS)).to_have_count(0, timeout=STEP_MS)
    expect(pg.locator("#examples .kc-example").first).to_be_visible(timeout=STEP_MS)
    # an example question is sent like a typed one
    pg.locator("#examples .kc-example").first.click()
    new = wait_turn(pg, 1)
    assert stored_answer(ui_server, new)["_session"] != stored_answer(ui_server, old)["_session"]
    pg.reload(wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea")
    expect(pg.locator(TURNS)).to_have_count(1, timeout=STEP_MS)
    assert turn_ids(pg) == [new]


def test_english_switch_and_honest_abstention(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    pg.locator("#lang label").filter(has_text="English").click()
    pg.wait_for_function("() => document.querySelector('#ask').innerText.trim() === 'Ask'")
    assert pg.evaluate("document.documentElement.lang") == "en"
    aid = ask(pg, "What is a negotiated contract?")
    turn = pg.locator(TURNS).first
    assert "negotiated contract" in turn.locator(".kc-answer-text").inner_text()
    assert turn.locator(".kc-answer-text .kc-cite").count() >= 1
    assert "Sources" in turn.inner_text()
    assert stored_answer(ui_server, aid)["language"] == "en"
    expect(pg.locator("#q-counter")).to_contain_text("characters", timeout=STEP_MS)
    shot(pg, "en-answer")

    # a question the guide cannot answer: said plainly, nearest sections to open, no glossary cards
    aid = ask(pg, "What is the capital of France?")
    stored = stored_answer(ui_server, aid)
    assert stored["abstained"], stored["answer"]
    turn = pg.locator(TURNS).nth(1)
    assert "The guide has no passage on this" in turn.locator(".kc-warn").inner_text()
    assert turn.locator(".kc-gl, .kc-term").count() == 0
    if stored["nearest_sections"]:
        turn.locator(".kc-nearest .kc-link").first.click()
        expect(pg.locator(f"#reader .kc-section[data-section-id='{stored['nearest_sections'][0]['section_id']}']")
               ).to_have_count(1, timeout=STEP_MS)
        pg.locator("#reader .kc-close").click()
    shot(pg, "en-abstention")

    # the reading path reads "Figure 2", and 図表2 has no empty 読者例 column
    pg.get_by_role("tab", name="Reading path").click()
    expect(pg.locator("#reading-path table").first).to_be_visible(timeout=STEP_MS)
    reading = pg.inner_text("#reading-path")
    assert "Figure 2" in reading and "Figure2" not in reading
    first_table = pg.locator("#reading-path table").first
    assert "Readers" not in first_table.locator("thead").inner_text()
    # the role column never breaks inside a word
    assert pg.evaluate("getComputedStyle(document.querySelector('#reading-path td.kc-role')).whiteSpace") == "nowrap"

    # back to Japanese: the same turns, relabelled
    pg.locator("#lang label").filter(has_text="日本語").click()
    pg.wait_for_function("() => document.querySelector('#ask').innerText.trim() === '質問する'")
    pg.get_by_role("tab", name="質問").click()
    expect(pg.locator(TURNS).nth(1).locator(".kc-warn")).to_contain_text("ガイドに記載が見当たりません", timeout=STEP_MS)


# ---- the other tabs -------------------------------------------------------------------------------
def test_page_is_japanese_offline_and_uses_a_japanese_font(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    assert "官民連携" in pg.inner_text("#title")
    family = pg.evaluate("getComputedStyle(document.querySelector('#question textarea')).fontFamily")
    assert "IPAPGothic" in family or "IPAGothic" in family, family
    fc = shutil.which("fc-list")
    assert fc, "fc-list missing: run `make test` (installs fonts-ipafont-gothic)"
    fonts = subprocess.run([fc, ":lang=ja", "family"], capture_output=True, text=True, timeout=30).stdout
    assert "IPAGothic" in fonts or "IPAPGothic" in fonts, "no Japanese font: run `make test` (fonts-ipafont-gothic)"
    for name in ("読み方ガイド", "目次", "用語集", "専門用語の翻訳", "質問"):
        pg.get_by_role("tab", name=name).click()
        expect(pg.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true", timeout=STEP_MS)
    shot(pg, "home-ja")


def test_persona_examples_and_reading_path(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    pg.locator("#persona label").filter(has_text="自治体").click()
    example = pg.locator("#examples .kc-example").filter(has_text="首長")
    expect(example).to_have_count(1, timeout=STEP_MS)
    example.click()  # 首長はどの章を読めばよいですか？
    answer_id = wait_turn(pg, 1)
    stored = stored_answer(ui_server, answer_id)
    assert stored["persona"] == "municipality" and stored["question"] == "首長はどの章を読めばよいですか？"
    assert stored["route"] == "reading_path" and "第1章" in pg.locator(TURNS).first.inner_text()

    pg.get_by_role("tab", name="読み方ガイド").click()
    pg.wait_for_function("() => document.querySelector('#reading-path').innerText.includes('首長')")
    reading = pg.inner_text("#reading-path")
    assert "図表3" in reading and "スタートアップ\n実務者" not in reading
    pg.locator("#reading-chapters label").filter(has_text="第1章").click()
    pg.wait_for_selector("#reading-detail .kc-section")
    assert "この章の節" in pg.inner_text("#reading-detail")
    pg.locator("#reading-detail .kc-link").first.click()
    pg.wait_for_selector("#reading-section .kc-section")
    assert pg.locator("#reading-section .kc-chunk").count() >= 1
    shot(pg, "persona-reading-path")


def test_table_of_contents_opens_sections(tab, ui_server, guide):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    pg.get_by_role("tab", name="目次").click()
    pg.wait_for_selector("#toc .kc-toc")
    links = pg.locator("#toc .kc-link")
    assert links.count() == len(guide.toc)
    entry = next(e for e in guide.toc if "公平性の考え方" in e.heading)
    links.filter(has_text=entry.heading).first.click()
    pg.wait_for_selector("#toc-section .kc-section")
    view = pg.inner_text("#toc-section")
    assert entry.heading in view and re.search(rf"pp?\.{entry.page}\b", view)
    shot(pg, "toc")


def test_glossary_search_and_jargon_translator(tab, ui_server):
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    pg.get_by_role("tab", name="用語集").click()
    pg.fill("#glossary-search textarea", "原課")
    pg.click("#glossary-search-btn")
    pg.wait_for_function("() => document.querySelector('#glossary-results').innerText.includes('件')"
                         " && document.querySelectorAll('#glossary-results .kc-term').length < 20")
    api = httpx.get(ui_server.url + "/v1/glossary", params={"q": "原課"}, timeout=60).json()
    assert pg.locator("#glossary-results .kc-term").count() == len(api) >= 1
    # once the page-load event has rendered the table of contents, the search's results still stand
    # (the load used to render the whole list too, and a slow load landed over a quick search)
    pg.get_by_role("tab", name="目次").click()
    pg.wait_for_selector("nav.kc-toc", timeout=STEP_MS)
    pg.get_by_role("tab", name="用語集").click()
    expect(pg.locator("#glossary-results .kc-term")).to_have_count(len(api), timeout=STEP_MS)
    assert pg.input_value("#glossary-search textarea") == "原課"
    shot(pg, "glossary")

    pg.get_by_role("tab", name="専門用語の翻訳").click()
    memo = "原課と調整のうえ、来年度の予算要求に向けて4号随契での対応を検討します。PoCの結果を踏まえ、庁議に諮る予定です。"
    pg.fill("#jargon-input textarea", memo)
    pg.click("#jargon-run")
    pg.wait_for_selector("#jargon-output mark.kc-jargon")
    shown = [m.get_attribute("data-term") for m in pg.locator("#jargon-output mark.kc-jargon").all()]
    api = httpx.post(ui_server.url + "/v1/glossary/annotate", json={"text": memo}, timeout=60).json()["annotations"]
    assert shown == [a["term"] for a in api]  # the same logic as /v1/glossary/annotate
    shot(pg, "jargon")


def mapped_libraries(pid: int, package: str) -> list[str]:
    """The files of ``package`` mapped into the process: its C extensions are there once it is imported."""
    with open(f"/proc/{pid}/maps", encoding="utf-8") as f:
        return sorted({line.split()[-1] for line in f if f"/site-packages/{package}/" in line})


def test_using_the_ui_never_loads_pandas(tab, ui_server):
    """Gradio imports pandas at start-up (~25 MB of the server's memory); ui/web/deferred_imports.py
    defers it. A chat turn with its evidence, the glossary and the jargon translator must not need it."""
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    ask(pg, "4号随契とは何ですか？")
    pg.locator(TURNS).last.locator(".kc-answer-text .kc-cite").first.click()
    pg.get_by_role("tab", name="用語集").click()
    pg.fill("#glossary-search textarea", "原課")
    pg.click("#glossary-search-btn")
    pg.wait_for_function("() => document.querySelector('#glossary-results').innerText.includes('件')")
    pg.get_by_role("tab", name="専門用語の翻訳").click()
    pg.fill("#jargon-input textarea", "原課と4号随契で調整します。")
    pg.click("#jargon-run")
    pg.wait_for_selector("#jargon-output mark.kc-jargon")
    assert mapped_libraries(ui_server.proc.pid, "sudachipy"), "not the server process"  # the check sees C extensions
    assert mapped_libraries(ui_server.proc.pid, "pandas") == []


@pytest.mark.parametrize("q", ["PoC", "procurement", "ずいい"])
def test_glossary_tab_finds_what_the_api_and_cli_find(tab, ui_server, capsys, q):
    """Issue 17's words: the web glossary shows the same entries, in the same order, as
    /v1/glossary and `kanmin glossary` (one matching, ingest.glossary_search)."""
    api = [n["term"] for n in httpx.get(ui_server.url + "/v1/glossary", params={"q": q}, timeout=60).json()]
    cli = cli_main(capsys, "glossary", q, "--json")
    assert cli.returncode == 0, cli.stderr
    assert api and api == [n["term"] for n in json.loads(cli.stdout)]
    t = tab(DESKTOP)
    pg = t.open(ui_server.url + "/")
    pg.get_by_role("tab", name="用語集").click()
    pg.fill("#glossary-search textarea", q)
    # the page also fills this tab with the whole glossary when it loads; that list can arrive after a
    # search made meanwhile and replace it (a known UI race), so search again until the results stay
    want = f"() => document.querySelectorAll('#glossary-results .kc-term').length === {len(api)}"
    deadline = time.monotonic() + 180
    while True:
        pg.click("#glossary-search-btn")
        try:
            pg.wait_for_function(want, timeout=15_000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
    shown = [x.get_attribute("data-term") for x in pg.locator("#glossary-results .kc-term").all()]
    assert shown == api
    shot(pg, f"glossary-{q}")


def test_unavailable_index_is_reported_in_the_page(tab, no_index_server):
    """With no index the UI still loads, and says why it cannot answer (no stack trace, no hang)."""
    srv = no_index_server
    assert httpx.get(srv.url + "/readyz", timeout=60).status_code == 503
    t = tab(DESKTOP)
    pg = t.open(srv.url + "/")
    pg.fill("#question textarea", "随意契約とは何ですか？")
    pg.click("#ask")
    err = pg.locator("#status .kc-error")
    expect(err).to_be_visible(timeout=ANSWER_MS)
    text = err.inner_text()
    assert "現在は回答できません" in text and "manifest" in text and "Traceback" not in text
    assert pg.input_value("#question textarea") == "随意契約とは何ですか？"  # kept, to retry
    expect(pg.locator("#ask")).to_be_enabled()
    shot(pg, "not-ready")
