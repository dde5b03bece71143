"""The web UI (Gradio Blocks) mounted at "/" by ui.http.api: a chat with citations and inline evidence,
glossary, jargon translator, reading path and table of contents. Japanese first, English switch.

Works with no internet: system fonts only (no Google Fonts), no CDN assets, analytics off.
The UI calls the Assistant in-process (the same container as /v1/*). The conversation lives in
the store: the browser keeps only its session id (gr.BrowserState), and the chat is read back
from `store.recent_turns` on load, so a reload shows the same turns.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue rebuilds a monitoring summary, a pandas DataFrame of its recent events, after
# every UI event; only its /monitoring page shows it, which mount() turns off (kanmin's own
# metrics are at /metrics). Never rebuilding it spares the CPU and pandas' ~25 MB.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))

from ui.web.deferred_imports import install as _defer_unused_imports  # noqa: E402

_defer_unused_imports()  # before Gradio: it imports pandas, which the chat never uses (~25 MB)

import gradio as gr  # noqa: E402

from assistant.inputs import MAX_QUESTION_CHARS  # noqa: E402
from assistant.schema import Answer  # noqa: E402
from ingest.errors import KanminError  # noqa: E402
from ingest.models import Chunk, Node  # noqa: E402
from ingest.text import canonical  # noqa: E402
from ui.web import render as R  # noqa: E402
from ui.web import chat as W  # noqa: E402
from ui.web.text import ERROR_MESSAGES, PERSONAS, examples, persona_choices, t  # noqa: E402
from ui.web.js import DOWNLOAD_MD, HEAD, READER_JS  # noqa: E402
from ui.web.llm import llm_available  # noqa: E402
from ui.web.suggest import QuestionBank  # noqa: E402

log = logging.getLogger("kanmin.ui")

MAX_TURNS = 50  # turns shown (and exported) per conversation
STATE_TTL_S = 3600  # server-side per-tab state is dropped an hour after the tab's last event
# the chat fills the window under the header and above the input (desktop 1280×800: ~430 px)
CHAT_HEIGHT = "max(300px, calc(100vh - 380px))"
UI_SESSION_RE = re.compile(r"^ui-[0-9a-f]{32}$")
# system fonts only (a Japanese face first on every platform, IPA fonts from fonts-ipafont-gothic on Debian)
FONT = ["Hiragino Sans", "Hiragino Kaku Gothic ProN", "Yu Gothic UI", "Meiryo", "Noto Sans CJK JP", "IPAPGothic",
        "IPAGothic", "ui-sans-serif", "system-ui", "sans-serif"]
FONT_MONO = ["ui-monospace", "Menlo", "Consolas", "IPAGothic", "monospace"]

CSS = """
.gradio-container { max-width: 1400px !important; }
footer { display: none !important; }
.kc-text { white-space: pre-wrap; line-height: 1.8; overflow-wrap: anywhere; }
.kc-small { font-size: .9em; }
#section-view .kc-section, #toc-section .kc-section, #reading-section .kc-section { max-height: 70vh; overflow: auto; }
mark.kc-quote { background: #ffe066; color: #111; padding: 0 2px; border-radius: 2px; }
mark.kc-jargon { background: #c3fae8; color: #111; padding: 0 2px; border-radius: 2px; }
.kc-rephrase { color: #2b8a3e; font-size: .9em; }
.kc-cite { border: 0; background: #d0ebff; color: #1864ab; border-radius: 4px; padding: 0 5px; margin: 0 1px;
  cursor: pointer; font-size: .85em; line-height: 1.4; }
.kc-cite:hover, .kc-cite.kc-active { background: #1c7ed6; color: #fff; }
.kc-notice { padding: .5em .8em; margin: .4em 0; border-radius: 6px; color: #111; }
.kc-warn { background: #fff4e6; border-left: 5px solid #f76707; }
.kc-info { background: #e7f5ff; border-left: 5px solid #1c7ed6; }
.kc-error { background: #fff5f5; border-left: 5px solid #e03131; }
.kc-meta { color: var(--body-text-color-subdued); font-size: .85em; margin: .3em 0; }
.kc-label { font-weight: 600; margin: .4em 0; }
.kc-answer-text { line-height: 1.9; overflow-wrap: anywhere; }
.kc-placeholder { color: var(--body-text-color-subdued); padding: .6em 0; }
.kc-ev-head { font-weight: 600; margin-bottom: .2em; }
.kc-cite-n { color: #1864ab; }
.kc-page { font-weight: 600; }
.kc-chunk { border-top: 1px solid var(--border-color-primary); padding: .4em 0; }
.kc-terms { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: .5em; margin-top: .5em; }
.kc-term { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: .4em .6em; }
.kc-term dl { margin: .3em 0 0; display: grid; grid-template-columns: max-content 1fr; gap: .1em .6em;
  font-size: .92em; }
.kc-term dt { color: var(--body-text-color-subdued); }
.kc-term dd { margin: 0; }
.kc-cat { font-size: .75em; background: var(--neutral-100); color: #333; border-radius: 3px; padding: 0 4px; }
.kc-table { border-collapse: collapse; width: 100%; font-size: .92em; margin-bottom: 1em; }
.kc-table th, .kc-table td { border: 1px solid var(--border-color-primary); padding: .3em .5em; vertical-align: top; }
.kc-table td.kc-role, .kc-table th.kc-role { white-space: nowrap; word-break: keep-all; }
.kc-table ol { margin: 0; padding-left: 1.3em; }
.kc-link { border: 0; background: none; padding: 0; margin: 0; color: var(--link-text-color, #1c7ed6); cursor: pointer;
  text-align: left; font: inherit; }
.kc-link:hover { text-decoration: underline; }
.kc-link strong { color: inherit; }
.kc-toc ul, .kc-children ul { list-style: none; padding-left: 1.2em; margin: .1em 0; }
.kc-toc > ul { padding-left: 0; }
.kc-toc li, .kc-children li { margin: .25em 0; }
#toc { max-height: 75vh; overflow: auto; }
/* chat */
#chat .top-panel { display: none !important; }  /* its "clear" would hide turns the store keeps */
#chat .scroll-down-button-container { display: none !important; }  /* it covered the evidence text */
#kc-title h1 { font-size: 1.4em; }
@media (max-width: 640px) { #kc-title .kc-meta { display: none; } }
.kc-uq { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 12em; overflow: auto; }
.kc-pending { color: var(--body-text-color-subdued); font-style: italic; }
.kc-sources ul.kc-chips { list-style: none; padding: 0; margin: .2em 0; }
.kc-sources ul.kc-chips li { margin: .15em 0; }
.kc-where { font-size: .9em; }
.kc-ev { border: 1px solid #74c0fc; border-radius: 6px; padding: .5em .7em; margin: .4em 0; background: var(--background-fill-secondary); }
.kc-ev .kc-passage { max-height: min(16em, 38vh); overflow: auto; line-height: 1.8; overflow-wrap: anywhere; }
.kc-pagelink { color: var(--link-text-color, #1c7ed6); text-decoration: underline; }
.kc-whole { margin-left: .8em; }
.kc-gl summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: .9em; }
.kc-nearest ul { margin: .2em 0; padding-left: 1.2em; }
.kc-suggests { margin-top: .5em; display: flex; flex-wrap: wrap; gap: .3em; align-items: center; }
.kc-suggest, .kc-example { border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color); border-radius: 999px; padding: .15em .7em; cursor: pointer; font-size: .88em; text-align: left; }
.kc-suggest:hover, .kc-example:hover { border-color: #1c7ed6; }
.kc-tools { display: flex; gap: .8em; align-items: center; margin-top: .4em; flex-wrap: wrap; }
.kc-copy { border: 1px solid var(--border-color-primary); background: none; border-radius: 4px; padding: 0 .6em;
  cursor: pointer; font-size: .85em; color: var(--body-text-color); }
.kc-copy.kc-copied::after { content: " ✓"; }
#examples { display: flex; flex-wrap: wrap; gap: .3em; }
#q-counter { font-size: .85em; color: var(--body-text-color-subdued); min-height: 1.3em; }
#q-counter.kc-over { color: #c92a2a; font-weight: 600; }
#status:empty { display: none; }
/* the reader: a page's or a section's passages, over the page so it is seen without scrolling */
.kc-reader { position: fixed; top: 0; right: 0; width: min(680px, 100vw); height: 100vh; overflow: auto; z-index: 1000;
  background: var(--background-fill-primary); box-shadow: -4px 0 16px rgba(0,0,0,.25); padding: 1em 1.2em; box-sizing: border-box; }
.kc-reader[hidden] { display: none; }
.kc-cited { background: #fff9db; border-left: 4px solid #fab005; padding-left: .5em; }
.kc-close { position: sticky; top: 0; float: right; border: 1px solid var(--border-color-primary); border-radius: 4px;
  background: var(--background-fill-primary); cursor: pointer; padding: .1em .7em; }
"""

# gr.HTML js_on_load: turn clicks on our buttons into Gradio events (delegated, survives re-renders)
JS_SECTION_LINKS = """element.addEventListener('click', (e) => {
  const b = e.target.closest ? e.target.closest('[data-sid]') : null;
  if (b) { e.preventDefault(); trigger('click', {sid: b.getAttribute('data-sid')}); }
});"""



def new_session_id() -> str:
    return "ui-" + uuid.uuid4().hex


def theme() -> gr.themes.Base:
    # plain font names only: gr.themes.GoogleFont would make the browser fetch fonts.googleapis.com
    return gr.themes.Default(primary_hue="blue", font=FONT, font_mono=FONT_MONO)


@dataclass
class GuideMaps:
    """TOC entries and reading-guide chapters → structure-tree node ids."""

    by_path: dict[tuple[str, ...], str]
    chapters: dict[str, str]


def _toc_level_id(section_id: str) -> str:
    """c06.s03.u04.e04 → c06.s03.u04: the section as listed in the TOC."""
    return ".".join(p for p in section_id.split(".") if re.fullmatch(r"c\d+|s\d+|u\d+", p)) or section_id


class KanminUI:
    def __init__(self, container_factory: Callable[[], Any], metrics: Any = None):
        self.factory = container_factory
        self.metrics = metrics
        self._maps: tuple[int, GuideMaps] | None = None
        self._bank: tuple[int, QuestionBank] | None = None
        self._inflight: set[str] = set()
        self._inflight_lock = threading.Lock()

    # ---- container access -------------------------------------------------------------
    def container(self) -> Any:
        return self.factory()

    def maps(self, container: Any) -> GuideMaps:
        if self._maps is None or self._maps[0] != id(container.guide):
            by_path: dict[tuple[str, ...], str] = {}
            chapters: dict[str, str] = {}

            def walk(nodes: list[Node]) -> None:
                for n in nodes:
                    by_path.setdefault(tuple(canonical(p) for p in n.path), n.id)
                    if n.level == 1:
                        chapters.setdefault(canonical(n.heading), n.id)
                    walk(n.children)

            walk(container.guide.tree)
            self._maps = (id(container.guide), GuideMaps(by_path, chapters))
        return self._maps[1]

    @staticmethod
    def error_text(exc: BaseException, lang: str) -> str:
        if isinstance(exc, KanminError):
            if getattr(exc, "status", 400) == 503:
                if exc.code == "starting":
                    return t(lang, "not_ready")
                return f"{t(lang, 'unavailable')} {exc.message}"
            return ERROR_MESSAGES.get(lang, {}).get(exc.code, exc.message)
        log.error("UI handler failed", exc_info=exc)
        return t(lang, "internal_error")

    def error_html(self, exc: BaseException, lang: str) -> str:
        return R.notice("error", t(lang, "error"), R.esc(self.error_text(exc, lang)))

    # ---- renderers that need the container ------------------------------------------------
    def section_html(self, section_id: str | None, lang: str) -> str:
        if not section_id:
            return ""
        try:
            node, chunks = self.container().assistant.section(section_id)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return R.render_section(node, chunks, lang)

    def glossary_html(self, q: str | None, lang: str) -> str:
        try:
            notes = self.container().assistant.glossary((q or "").strip()[:200] or None)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return R.render_notes(notes, lang, count=True)

    def jargon_html(self, text: str | None, lang: str) -> str:
        if not (text or "").strip():
            return ""
        try:
            anns = self.container().assistant.annotate(text)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return R.render_annotations(text or "", anns, lang)

    def reading_html(self, persona: str, lang: str) -> tuple[str, list[str]]:
        try:
            c = self.container()
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang), []
        rows = c.guide.reading_guide
        return R.render_reading(rows, persona, lang), R.reading_chapters(rows, persona, c.guide.toc)

    def chapter_html(self, chapter: str | None, lang: str) -> str:
        if not chapter:
            return ""
        try:
            c = self.container()
            sid = self.maps(c).chapters.get(canonical(chapter))
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return self.section_html(sid, lang) if sid else R.placeholder(chapter)

    def toc_html(self, lang: str) -> str:
        try:
            c = self.container()
            by_path = self.maps(c).by_path
            entries = [(e, by_path.get(tuple(canonical(p) for p in e.path))) for e in c.guide.toc]
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return R.render_toc(entries, lang)

    # ---- the conversation -------------------------------------------------------------
    def bank(self, container: Any) -> QuestionBank:
        if self._bank is None or self._bank[0] != id(container.guide):
            self._bank = (id(container.guide), QuestionBank(container.guide.questions))
        return self._bank[1]

    def turns(self, session_id: str | None) -> list[Answer]:
        if not valid_session(session_id):
            return []
        return self.container().store.recent_turns(session_id, MAX_TURNS)

    def answer_message(self, answer: Answer, lang: str, asked: list[str]) -> str:
        c = self.container()

        def chunk_of(cid: str) -> Chunk | None:
            try:
                return c.assistant.chunk(cid)
            except KanminError:
                return None

        cited = [ch.section_id for ch in (chunk_of(x.chunk_id) for x in answer.citations) if ch is not None]
        suggestions = [] if answer.abstained else self.bank(c).suggest(cited, answer.language, asked)
        return W.answer_html(answer, lang, chunk_of, lambda ch: _toc_level_id(ch.section_id), suggestions)

    def chat_messages(self, answers: list[Answer], lang: str) -> list[dict]:
        asked = [x for a in answers for x in (a.question, a.resolved_question) if x]
        out: list[dict] = []
        for a in answers:
            out.append({"role": "user", "content": W.user_html(a.question)})
            out.append({"role": "assistant", "content": self.answer_message(a, lang, asked)})
        return out

    def llm_ok(self) -> bool:
        try:
            return llm_available(self.container())
        except Exception:  # noqa: BLE001 - a failed probe only hides the option
            return False

    def ask(self, question: str | None, persona: str, mode: str, lang: str, session_id: str | None):
        """A generator: first the question with a pending line (button disabled, the box kept),
        then the answer (box cleared). Errors leave the chat as it was and the question in the box."""
        sid = session_id if valid_session(session_id) else new_session_id()
        q = question or ""
        if not q.strip():
            yield (gr.skip(), gr.skip(), gr.skip(), self.status_html("error", ERROR_MESSAGES[_l(lang)]["empty_question"]),
                   sid, gr.skip())
            return
        if len(q) > MAX_QUESTION_CHARS:
            msg = t(lang, "question_too_long_n").format(n=f"{len(q):,}", limit=f"{MAX_QUESTION_CHARS:,}")
            yield gr.skip(), gr.skip(), gr.skip(), self.status_html("error", msg), sid, gr.skip()
            return
        with self._inflight_lock:  # one answer at a time per conversation, whatever the browser sends
            if sid in self._inflight:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
            self._inflight.add(sid)
        prior: list[Answer] = []
        try:
            prior = self.turns(sid)
            shown = self.chat_messages(prior, lang)
            yield ([*shown, {"role": "user", "content": W.user_html(q)},
                    {"role": "assistant", "content": W.pending_html(lang)}],
                   gr.skip(), gr.update(interactive=False), "", sid, gr.update(visible=False))
            c = self.container()
            use_mode = mode if (mode == "generative" and self.llm_ok()) else "extractive"
            answer = c.assistant.ask(q, persona=persona or "any", session_id=sid, mode=use_mode, source="ui")
            if self.metrics is not None:
                try:
                    self.metrics.observe_answer(answer, "ui")
                except Exception:  # noqa: BLE001 - metrics never break the UI
                    pass
            yield self.chat_messages([*prior, answer], lang), "", gr.update(interactive=True), "", sid, gr.skip()
        except Exception as exc:  # noqa: BLE001
            yield (self.chat_messages(prior, lang), gr.skip(), gr.update(interactive=True),
                   self.error_html(exc, lang), sid, gr.update(visible=not prior))
        finally:
            with self._inflight_lock:
                self._inflight.discard(sid)

    @staticmethod
    def status_html(kind: str, text: str) -> str:
        return f'<div class="kc-notice kc-{kind}" role="alert">{R.esc(text)}</div>'

    def feedback(self, chat: list | None, session_id: str | None, lang: str, like: gr.LikeData):
        """👍/👎 under a turn: recorded for the answer of that very message, one vote per conversation."""
        aid = W.answer_id_of(like.value)
        if aid is None and isinstance(like.index, int) and chat and 0 <= like.index < len(chat):
            msg = chat[like.index]
            aid = W.answer_id_of(msg.get("content") if isinstance(msg, dict) else getattr(msg, "content", ""))
        if aid is None or like.liked not in (True, False) or not valid_session(session_id):
            return gr.skip()
        try:
            c = self.container()
            stored = c.store.get_answer(aid)
            if stored is None or stored.session_id != session_id:
                return gr.skip()  # only answers of this conversation
            rating = "up" if like.liked else "down"
            _, what = c.store.vote(aid, session_id, rating, source="ui")
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        if self.metrics is not None and what != "same":
            try:
                self.metrics.feedback.labels(rating, "ui").inc()
            except Exception:  # noqa: BLE001
                pass
        return self.status_html("info", t(lang, "feedback_saved"))

    def export(self, session_id: str | None, lang: str) -> str:
        try:
            return W.conversation_markdown(self.turns(session_id), lang)
        except Exception as exc:  # noqa: BLE001
            return self.error_text(exc, lang)

    # ---- the reader: a page or a whole section, over the page ------------------------------
    def reader_html(self, nav: str | None, lang: str, session_id: str | None = None) -> str:
        """p:<page> a page's passages, s:<section> a whole section, c:<answer>:<n> the whole section of
        citation n of one of this conversation's answers, opened at its passage with the quote marked."""
        nav = nav or ""
        m = re.fullmatch(r"p:(\d{1,4})|s:([A-Za-z0-9._-]{1,64})|c:([0-9a-f]{32}):(\d{1,2})", nav)
        if not m:
            return ""
        if m.group(1):
            body = self.page_html(int(m.group(1)), lang)
        elif m.group(2):
            body = self.section_html(m.group(2), lang)
        else:
            body = self.cited_section_html(m.group(3), int(m.group(4)), session_id, lang)
            if not body:
                return ""
        # a fresh id each time, so that opening the same view again re-renders (and unhides) it
        return (f'<div class="kc-reader" role="dialog" data-view="{R.esc(nav)}" data-open="{uuid.uuid4().hex[:8]}">'
                f'<button type="button" class="kc-close">{R.esc(t(lang, "close"))} ✕</button>{body}</div>')

    def cited_section_html(self, answer_id: str, n: int, session_id: str | None, lang: str) -> str:
        try:
            c = self.container()
            answer = c.store.get_answer(answer_id)
            if answer is None or not valid_session(session_id) or answer.session_id != session_id:
                return ""  # only this conversation's answers
            cit = next((x for x in answer.citations if x.n == n), None)
            if cit is None:
                return ""
            chunk = c.assistant.chunk(cit.chunk_id)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        body = self.section_html(_toc_level_id(chunk.section_id), lang)
        # mark the cited passage and its quote (ui/web/js.py scrolls to it)
        head = f'<div class="kc-chunk" data-chunk-id="{R.esc(chunk.id)}">'
        at = body.find(head)
        if at < 0:
            return body
        plain = f'<div class="kc-text">{R.esc(chunk.text)}</div>'
        marked, _ = R.highlight(chunk.text, cit.quote)
        end = body.find(plain, at)
        if end >= 0:
            body = body[:end] + f'<div class="kc-text">{marked}</div>' + body[end + len(plain):]
        return body[:at] + f'<div class="kc-chunk kc-cited" data-chunk-id="{R.esc(chunk.id)}">' + body[at + len(head):]

    def page_html(self, page: int, lang: str) -> str:
        try:
            chunks = [c for c in self.container().guide.chunks if page in c.pages]
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        head = f'<div class="kc-ev-head kc-page-head">{R.esc(t(lang, "page_view"))} p.{page}</div>'
        if not chunks:
            return head + R.placeholder(t(lang, "page_none"))
        rows = []
        for ch in chunks:
            sid = _toc_level_id(ch.section_id)
            rows.append(f'<div class="kc-chunk" data-chunk-id="{R.esc(ch.id)}"><div class="kc-meta">'
                        f'<button type="button" class="kc-link" data-nav="s:{R.esc(sid)}">'
                        f'{R.esc(" > ".join(ch.section_path))}</button> · {R.esc(R.pages_label(ch.pages))}</div>'
                        f'<div class="kc-text">{R.esc(ch.text)}</div></div>')
        return head + "".join(rows)

    def open_nav(self, lang: str, session_id: str | None, evt: gr.EventData):
        nav = str(getattr(evt, "nav", "") or "")
        return self.reader_html(nav, lang, session_id) or gr.skip()

    def open_link(self, lang: str, evt: gr.EventData):
        """A click on a section button inside an HTML panel (evt.sid)."""
        sid = str(getattr(evt, "sid", "") or "")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", sid):
            return gr.skip(), gr.skip()
        return self.section_html(sid, lang), sid

    # ---- layout ---------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        lang0 = "ja"
        with gr.Blocks(title="官民連携ガイド アシスタント / kanmin", analytics_enabled=False,
                       delete_cache=(STATE_TTL_S, STATE_TTL_S)) as demo:
            # the conversation id, kept in the browser (encrypted by Gradio) so a reload finds it again
            session = gr.BrowserState("", storage_key="kanmin-ui-session", secret=_browser_secret())
            toc_section_state = gr.State(None, time_to_live=STATE_TTL_S)
            reading_section_state = gr.State(None, time_to_live=STATE_TTL_S)

            with gr.Row(equal_height=False, elem_id="header"):
                with gr.Column(scale=2, min_width=300):
                    title = gr.HTML(self._title(lang0), elem_id="title")
                persona = gr.Radio(persona_choices(lang0), value="any", label=t(lang0, "persona"), elem_id="persona",
                                   scale=3, min_width=300)
                # offered only when an LLM is configured and answers (see on_load)
                mode = gr.Radio(self._mode_choices(lang0), value="extractive", label=t(lang0, "mode"), elem_id="mode",
                                scale=2, visible=False, min_width=240)
                lang = gr.Radio([("日本語", "ja"), ("English", "en")], value=lang0, label=t(lang0, "lang"),
                                elem_id="lang", scale=2, min_width=240)

            with gr.Tabs(elem_id="tabs"):
                with gr.Tab(t(lang0, "tab_ask"), id="ask", elem_id="tab-ask") as tab_ask:
                    chat = gr.Chatbot([], elem_id="chat", label=t(lang0, "chat_label"), show_label=False,
                                      placeholder=t(lang0, "chat_ph"), layout="panel", sanitize_html=False,
                                      latex_delimiters=[], line_breaks=False, group_consecutive_messages=False,
                                      autoscroll=False, height=CHAT_HEIGHT, buttons=[])
                    status = gr.HTML("", elem_id="status")
                    # shown while the conversation is empty (a click sends the question)
                    examples_html = gr.HTML(self._examples(lang0, "any"), elem_id="examples-box")
                    with gr.Row(equal_height=False):
                        # no max_length: a long paste is kept and the counter says it is too long
                        # both inert until the page load has set up the session (on_load): a question
                        # sent before it would be answered, then wiped from view by the load's empty chat
                        question = gr.Textbox(label=t(lang0, "question"), placeholder=t(lang0, "question_ph"),
                                              lines=2, max_lines=8, elem_id="question", scale=5, interactive=False)
                        with gr.Column(scale=1, min_width=200):
                            ask_btn = gr.Button(t(lang0, "ask"), variant="primary", elem_id="ask", interactive=False)
                            counter = gr.HTML(self._counter("", lang0), elem_id="counter-box")
                            with gr.Row():
                                new_btn = gr.Button(t(lang0, "new_session"), variant="secondary", size="sm",
                                                    elem_id="new-session", min_width=90)
                                export_btn = gr.Button(t(lang0, "export"), size="sm", variant="secondary",
                                                       elem_id="export", min_width=90)
                    export_box = gr.Textbox("", label=t(lang0, "export_label"), lines=6, max_lines=20,
                                            elem_id="export-md", visible=False, buttons=["copy"])

                with gr.Tab(t(lang0, "tab_reading"), id="reading", elem_id="tab-reading") as tab_reading:
                    reading = gr.HTML("", elem_id="reading-path")
                    reading_chapters = gr.Radio([], value=None, label=t(lang0, "reading_chapters"),
                                                elem_id="reading-chapters")
                    reading_detail = gr.HTML("", elem_id="reading-detail", js_on_load=JS_SECTION_LINKS)
                    reading_section = gr.HTML("", elem_id="reading-section", js_on_load=JS_SECTION_LINKS)

                with gr.Tab(t(lang0, "tab_toc"), id="toc", elem_id="tab-toc") as tab_toc:
                    toc_help = gr.Markdown(t(lang0, "toc_help"))
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=2):
                            toc = gr.HTML("", elem_id="toc", js_on_load=JS_SECTION_LINKS)
                        with gr.Column(scale=3):
                            toc_section = gr.HTML("", elem_id="toc-section", js_on_load=JS_SECTION_LINKS)

                with gr.Tab(t(lang0, "tab_glossary"), id="glossary", elem_id="tab-glossary") as tab_glossary:
                    with gr.Row():
                        g_search = gr.Textbox(label=t(lang0, "glossary_search"),
                                              placeholder=t(lang0, "glossary_search_ph"),
                                              max_length=200, elem_id="glossary-search", scale=4)
                        g_btn = gr.Button(t(lang0, "search"), elem_id="glossary-search-btn", scale=1)
                    g_results = gr.HTML("", elem_id="glossary-results")

                with gr.Tab(t(lang0, "tab_jargon"), id="jargon", elem_id="tab-jargon") as tab_jargon:
                    j_input = gr.Textbox(label=t(lang0, "jargon_input"), placeholder=t(lang0, "jargon_input_ph"),
                                         lines=6, max_lines=20, max_length=20000, elem_id="jargon-input")
                    with gr.Row():
                        j_btn = gr.Button(t(lang0, "jargon_run"), variant="primary", elem_id="jargon-run")
                        j_example = gr.Button(t(lang0, "jargon_example"), variant="secondary", elem_id="jargon-example")
                    j_output = gr.HTML("", elem_id="jargon-output")

            reader = gr.HTML("", elem_id="reader", js_on_load=READER_JS)

            # ---- events -------------------------------------------------------------------------
            # one event for the button and Enter ("once": no second send while one is pending);
            # example and suggested questions click the same button (ui/web/js.py)
            gr.on([ask_btn.click, question.submit], self.ask, [question, persona, mode, lang, session],
                  [chat, question, ask_btn, status, session, examples_html], concurrency_limit=4, trigger_mode="once")

            def new_conversation():
                return [], "", "", "", gr.update(value="", visible=False), new_session_id(), gr.update(visible=True)

            new_btn.click(new_conversation, None, [chat, question, status, reader, export_box, session, examples_html])
            chat.like(self.feedback, [chat, session, lang], status)
            export_btn.click(lambda sid, lang_v: gr.update(value=self.export(sid, lang_v), visible=True),
                             [session, lang], export_box).then(None, export_box, None, js=DOWNLOAD_MD)
            reader.click(self.open_nav, [lang, session], reader, show_progress="hidden")  # no dimmed overlay

            # The list is rendered when the tab opens and on each search, one event at a time in the
            # order sent (~1.5 ms each): rendered by the page-load event instead, a slow load could
            # land after a quick search and put the whole list back over its results.
            for listener in (tab_glossary.select, g_search.submit, g_btn.click):
                listener(self.glossary_html, [g_search, lang], g_results, concurrency_id="glossary",
                         concurrency_limit=1)
            j_btn.click(self.jargon_html, [j_input, lang], j_output)
            j_example.click(lambda lang_v: t(lang_v, "jargon_example_text"), lang, j_input, queue=False).then(
                self.jargon_html, [j_input, lang], j_output)

            toc.click(self.open_link, [lang], [toc_section, toc_section_state])
            toc_section.click(self.open_link, [lang], [toc_section, toc_section_state])
            reading_detail.click(self.open_link, [lang], [reading_section, reading_section_state])
            reading_section.click(self.open_link, [lang], [reading_section, reading_section_state])

            def pick_chapter(chapter, lang_v):
                return self.chapter_html(chapter, lang_v), "", None

            reading_chapters.input(pick_chapter, [reading_chapters, lang],
                                   [reading_detail, reading_section, reading_section_state])

            def on_persona(p, lang_v):
                html, chapters = self.reading_html(p, lang_v)
                return (self._examples(lang_v, p), html, gr.update(choices=chapters, value=None), "", "", None)

            persona.change(on_persona, [persona, lang], [examples_html, reading, reading_chapters, reading_detail,
                                                         reading_section, reading_section_state])

            def on_load(sid, p, lang_v, request: gr.Request):
                sid = sid if valid_session(sid) else new_session_id()
                try:
                    chat_v = self.chat_messages(self.turns(sid), lang_v)
                except Exception as exc:  # noqa: BLE001 - the page still loads; the reason is shown
                    chat_v, err = [], self.error_html(exc, lang_v)
                else:
                    err = ""
                html, chapters = self.reading_html(p, lang_v)
                nav = _nav_from_query(getattr(request, "query_params", None) or {})
                return (sid, chat_v, err, gr.update(visible=self.llm_ok()), gr.update(visible=not chat_v),
                        self.toc_html(lang_v), html,
                        gr.update(choices=chapters, value=None), self.reader_html(nav, lang_v) if nav else "",
                        gr.update(interactive=True), gr.update(interactive=True))

            demo.load(on_load, [session, persona, lang],
                      [session, chat, status, mode, examples_html, toc, reading, reading_chapters, reader,
                       question, ask_btn])

            # language switch: relabel everything and re-render what is on screen
            relabel_outputs = [
                title, persona, mode, tab_ask, tab_reading, tab_toc, tab_glossary, tab_jargon,
                chat, examples_html, question, ask_btn, new_btn, export_btn, export_box, status, counter,
                reading, reading_chapters, reading_detail, reading_section, toc_help, toc, toc_section,
                g_search, g_btn, g_results, j_input, j_btn, j_example, j_output]

            def relabel(lang_v, p, sid, chapter, reading_sid, toc_sid, q, g_q, jtext):
                lang_v = _l(lang_v)
                reading_v, chapters = self.reading_html(p, lang_v)
                try:
                    chat_v = gr.update(value=self.chat_messages(self.turns(sid), lang_v), placeholder=t(lang_v, "chat_ph"))
                except Exception:  # noqa: BLE001 - the chat stays as it is
                    chat_v = gr.update(placeholder=t(lang_v, "chat_ph"))
                return [
                    self._title(lang_v),
                    gr.update(choices=persona_choices(lang_v), label=t(lang_v, "persona")),
                    gr.update(choices=self._mode_choices(lang_v), label=t(lang_v, "mode")),
                    gr.update(label=t(lang_v, "tab_ask")), gr.update(label=t(lang_v, "tab_reading")),
                    gr.update(label=t(lang_v, "tab_toc")), gr.update(label=t(lang_v, "tab_glossary")),
                    gr.update(label=t(lang_v, "tab_jargon")),
                    chat_v,
                    self._examples(lang_v, p),
                    gr.update(label=t(lang_v, "question"), placeholder=t(lang_v, "question_ph")),
                    gr.update(value=t(lang_v, "ask")), gr.update(value=t(lang_v, "new_session")),
                    gr.update(value=t(lang_v, "export")), gr.update(label=t(lang_v, "export_label")), "",
                    self._counter(q, lang_v),
                    reading_v, gr.update(choices=chapters, value=chapter if chapter in chapters else None,
                                         label=t(lang_v, "reading_chapters")),
                    self.chapter_html(chapter, lang_v) if chapter in chapters else "",
                    self.section_html(reading_sid, lang_v),
                    t(lang_v, "toc_help"), self.toc_html(lang_v), self.section_html(toc_sid, lang_v),
                    gr.update(label=t(lang_v, "glossary_search"), placeholder=t(lang_v, "glossary_search_ph")),
                    gr.update(value=t(lang_v, "search")), self.glossary_html(g_q, lang_v),
                    gr.update(label=t(lang_v, "jargon_input"), placeholder=t(lang_v, "jargon_input_ph")),
                    gr.update(value=t(lang_v, "jargon_run")), gr.update(value=t(lang_v, "jargon_example")),
                    self.jargon_html(jtext, lang_v),
                ]

            lang.change(relabel, [lang, persona, session, reading_chapters, reading_section_state, toc_section_state,
                                  question, g_search, j_input], relabel_outputs)
            lang.change(None, lang, None, js="(l) => { document.documentElement.lang = l; return []; }")
        return demo

    @staticmethod
    def _title(lang: str) -> str:
        return (f'<div id="kc-title"><h1 style="margin:.1em 0">{R.esc(t(lang, "title"))}</h1>'
                f'<div class="kc-meta">{R.esc(t(lang, "subtitle"))}</div></div>')

    @staticmethod
    def _mode_choices(lang: str) -> list[tuple[str, str]]:
        return [(t(lang, "mode_extractive"), "extractive"), (t(lang, "mode_generative"), "generative")]

    @staticmethod
    def _counter(text: str | None, lang: str) -> str:
        # the browser keeps it current as one types (ui/web/js.py); this is its first state
        unit = "字" if lang == "ja" else " characters"
        return f'<div id="q-counter">{len(text or ""):,} / {MAX_QUESTION_CHARS:,}{unit}</div>'

    @staticmethod
    def _examples(lang: str, persona: str | None) -> str:
        buttons = "".join(f'<button type="button" class="kc-example" data-q="{R.esc(q)}">{R.esc(q)}</button>'
                          for q in examples(lang, persona))
        return f'<div id="examples"><span class="kc-meta">{R.esc(t(lang, "examples"))}</span>{buttons}</div>'


def _l(lang: str | None) -> str:
    return lang if lang in ("ja", "en") else "ja"


def valid_session(session_id: object) -> bool:
    """Only ids this UI made (ui- + uuid hex): the ui- prefix is the web UI's own."""
    return isinstance(session_id, str) and bool(UI_SESSION_RE.fullmatch(session_id))


def _browser_secret() -> str | None:
    """The key Gradio encrypts the stored session id with. From KANMIN_UI_SECRET when set, so a
    conversation also survives a server restart; else Gradio's random per-process key."""
    try:
        from ingest.settings import get_settings

        secret = str(getattr(get_settings(), "ui_secret", "") or "")
    except Exception:  # noqa: BLE001 - settings problems are reported elsewhere; keep the UI up
        secret = ""
    return hashlib.sha256(b"kanmin-ui-browser-state:" + secret.encode()).hexdigest()[:32] if secret else None


def _nav_from_query(params: Any) -> str:
    """/?p=94 opens page 94's passages, /?s=c06.s03 a section."""
    try:
        p, s = params.get("p"), params.get("s")
    except Exception:  # noqa: BLE001
        return ""
    if p and re.fullmatch(r"\d{1,4}", str(p)):
        return f"p:{int(p)}"
    if s and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", str(s)):
        return f"s:{s}"
    return ""


def build_blocks(container_factory: Callable[[], Any], metrics: Any = None) -> gr.Blocks:
    demo = KanminUI(container_factory, metrics).build()
    # the UI's event handlers are not a public API (that is /v1/*): hide them from Gradio clients
    for fn in demo.fns.values():
        fn.api_visibility = "private"
    demo.queue(default_concurrency_limit=8, max_size=128)
    return demo


def mount(app: Any, container_factory: Callable[[], Any]) -> Any:
    """Mount the UI at "/" on ``app`` (called by ui.http.api.create_app)."""
    metrics = getattr(getattr(app, "state", None), "metrics", None)
    demo = build_blocks(container_factory, metrics)
    # no footer links (Gradio's settings menu brings a second language selector and developer items);
    # the UI takes no files, so uploads are capped at a token size
    return gr.mount_gradio_app(
        app, demo, path="/", theme=theme(), css=CSS, head=HEAD, ssr_mode=False, footer_links=[],
        show_error=False, mcp_server=False, max_file_size="1kb", pwa=False, enable_monitoring=False,
    )


__all__ = ["PERSONAS", "KanminUI", "build_blocks", "mount", "theme", "valid_session"]
