"""The web UI (Gradio Blocks) mounted at "/" by ui.api: chat with citations, evidence,
glossary, jargon translator, reading path and table of contents. Japanese first, English switch.

Works with no internet: system fonts only (no Google Fonts), no CDN assets, analytics off.
The UI calls the Assistant in-process (the same container as /v1/*).
"""
from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from assistant.schema import Answer  # noqa: E402
from ingest.errors import KanminError  # noqa: E402
from ingest.models import Node  # noqa: E402
from ingest.text import canonical  # noqa: E402
from ui import gradio_render as R  # noqa: E402
from ui.gradio_text import ERROR_MESSAGES, PERSONAS, examples, persona_choices, t  # noqa: E402

log = logging.getLogger("kanmin.ui")

N_EXAMPLES = 3
MAX_HISTORY = 20
# system fonts only (a Japanese face first on every platform, IPA fonts from fonts-ipafont-gothic on Debian)
FONT = ["Hiragino Sans", "Hiragino Kaku Gothic ProN", "Yu Gothic UI", "Meiryo", "Noto Sans CJK JP", "IPAPGothic",
        "IPAGothic", "ui-sans-serif", "system-ui", "sans-serif"]
FONT_MONO = ["ui-monospace", "Menlo", "Consolas", "IPAGothic", "monospace"]

CSS = """
.gradio-container { max-width: 1400px !important; }
.kc-text { white-space: pre-wrap; line-height: 1.8; overflow-wrap: anywhere; }
.kc-small { font-size: .9em; }
#evidence .kc-text { max-height: 32em; overflow: auto; position: relative; }
#section-view .kc-section, #toc-section .kc-section, #reading-section .kc-section { max-height: 70vh; overflow: auto; }
mark.kc-quote { background: #ffe066; color: #111; padding: 0 2px; border-radius: 2px; }
mark.kc-jargon { background: #c3fae8; color: #111; padding: 0 2px; border-radius: 2px; }
.kc-rephrase { color: #2b8a3e; font-size: .9em; }
.kc-cite { border: 0; background: #d0ebff; color: #1864ab; border-radius: 4px; padding: 0 4px; margin: 0 1px;
  cursor: pointer; font-size: .8em; vertical-align: super; line-height: 1.2; }
.kc-cite:hover { background: #a5d8ff; }
.kc-notice { padding: .6em .9em; margin: .5em 0; border-radius: 6px; color: #111; }
.kc-warn { background: #fff4e6; border-left: 5px solid #f76707; }
.kc-info { background: #e7f5ff; border-left: 5px solid #1c7ed6; }
.kc-error { background: #fff5f5; border-left: 5px solid #e03131; }
.kc-meta { color: var(--body-text-color-subdued); font-size: .85em; margin: .3em 0; }
.kc-label { font-weight: 600; margin: .4em 0; }
.kc-q { margin-bottom: .5em; }
.kc-q .kc-label { background: var(--neutral-200); color: #111; border-radius: 4px; padding: 0 6px; margin-right: 4px; }
.kc-answer-text { white-space: pre-wrap; line-height: 1.9; font-size: 1.05em; }
.kc-placeholder { color: var(--body-text-color-subdued); padding: .6em 0; }
.kc-ev-head { font-weight: 600; margin-bottom: .2em; }
.kc-cite-n { color: #1864ab; }
.kc-page { font-weight: 600; }
.kc-chunk { border-top: 1px solid var(--border-color-primary); padding: .4em 0; }
.kc-terms { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: .6em; margin-top: .6em; }
.kc-term { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: .5em .7em; }
.kc-term dl { margin: .3em 0 0; display: grid; grid-template-columns: max-content 1fr; gap: .1em .6em;
  font-size: .92em; }
.kc-term dt { color: var(--body-text-color-subdued); }
.kc-term dd { margin: 0; }
.kc-cat { font-size: .75em; background: var(--neutral-100); color: #333; border-radius: 3px; padding: 0 4px; }
.kc-table { border-collapse: collapse; width: 100%; font-size: .92em; margin-bottom: 1em; }
.kc-table th, .kc-table td { border: 1px solid var(--border-color-primary); padding: .3em .5em; vertical-align: top; }
.kc-table ol { margin: 0; padding-left: 1.3em; }
.kc-turn { border-bottom: 1px dashed var(--border-color-primary); padding: .4em 0; }
#feedback-status { min-height: 1.5em; }
.kc-link { border: 0; background: none; padding: 0; margin: 0; color: var(--link-text-color, #1c7ed6); cursor: pointer;
  text-align: left; font: inherit; }
.kc-link:hover { text-decoration: underline; }
.kc-link strong { color: inherit; }
.kc-toc ul, .kc-children ul { list-style: none; padding-left: 1.2em; margin: .1em 0; }
.kc-toc > ul { padding-left: 0; }
.kc-toc li, .kc-children li { margin: .25em 0; }
#toc { max-height: 75vh; overflow: auto; }
"""

HEAD = '<script>document.documentElement.lang = "ja";</script>'

# gr.HTML js_on_load: turn clicks on our buttons into Gradio events (delegated, survives re-renders)
JS_SECTION_LINKS = """element.addEventListener('click', (e) => {
  const b = e.target.closest ? e.target.closest('[data-sid]') : null;
  if (b) { e.preventDefault(); trigger('click', {sid: b.getAttribute('data-sid')}); }
});"""
JS_CITE_CHIPS = """element.addEventListener('click', (e) => {
  const b = e.target.closest ? e.target.closest('.kc-cite') : null;
  if (b) { e.preventDefault(); trigger('click', {n: Number(b.getAttribute('data-n'))}); }
});"""


# scroll the evidence box so that the highlighted quote is visible (without moving the page)
SCROLL_TO_QUOTE = """() => {
  const m = document.querySelector("#evidence mark.kc-quote");
  const box = m && m.closest(".kc-text");
  if (box) box.scrollTop = Math.max(0, m.offsetTop - 40);
  return [];
}"""


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
    def evidence_html(self, answer: Answer | None, n: int | None, lang: str) -> str:
        if answer is None or not n:
            return R.render_evidence(None, None, lang)
        cit = next((c for c in answer.citations if c.n == int(n)), None)
        if cit is None:
            return R.render_evidence(None, None, lang)
        try:
            chunk = self.container().assistant.chunk(cit.chunk_id)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return R.render_evidence(cit, chunk, lang)

    def section_html(self, section_id: str | None, lang: str) -> str:
        if not section_id:
            return ""
        try:
            node, chunks = self.container().assistant.section(section_id)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang)
        return R.render_section(node, chunks, lang)

    def answer_glossary_html(self, answer: Answer | None, lang: str) -> str:
        head = f'<div class="kc-label">{R.esc(t(lang, "answer_glossary"))}</div>'
        if answer is None:
            return head + R.placeholder(t(lang, "glossary_none"))
        return head + R.render_notes(answer.glossary, lang, empty_key="glossary_none")

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

    # ---- event handlers ---------------------------------------------------------------
    def ask(self, question: str, persona: str, mode: str, lang: str, session_id: str | None,
            history: list[dict] | None):
        history = list(history or [])
        session_id = session_id or new_session_id()
        try:
            c = self.container()
            answer = c.assistant.ask(question, persona=persona or "any", session_id=session_id,
                                     mode=mode or "extractive", source="ui")
        except Exception as exc:  # noqa: BLE001
            # the question goes back into the box so that it can be corrected
            return (self.error_html(exc, lang),) + (gr.skip(),) * 11 + (session_id, question, gr.skip())
        if self.metrics is not None:
            try:
                self.metrics.observe_answer(answer, "ui")
            except Exception:  # noqa: BLE001 - metrics never break the UI
                pass
        history.append({"question": answer.question, "answer": answer.answer})
        history = history[-MAX_HISTORY:]
        first = answer.citations[0].n if answer.citations else None
        nearest = R.nearest_choices(answer)
        return (
            R.render_answer(answer, lang),
            gr.update(choices=R.citation_choices(answer), value=first, visible=bool(answer.citations)),
            self.evidence_html(answer, first, lang),
            gr.update(choices=nearest, value=None, visible=bool(nearest)),
            "",  # section view
            None,  # section state
            self.answer_glossary_html(answer, lang),
            answer.model_dump(mode="json"),
            history,
            R.render_history(history[:-1], lang),
            gr.update(interactive=True),
            gr.update(interactive=True),
            session_id,
            gr.skip(),
            gr.update(visible=bool(answer.citations)),
        )

    def feedback(self, rating: str, answer_state: dict | None, lang: str):
        if not answer_state:
            return t(lang, "feedback_none"), gr.skip(), gr.skip()
        try:
            c = self.container()
            c.store.add_feedback(answer_state["id"], rating, None, source="ui")
        except Exception as exc:  # noqa: BLE001
            return f"{t(lang, 'error')}: {self.error_text(exc, lang)}", gr.skip(), gr.skip()
        if self.metrics is not None:
            try:
                self.metrics.feedback.labels(rating, "ui").inc()
            except Exception:  # noqa: BLE001
                pass
        msg = t(lang, "feedback_saved_up" if rating == "up" else "feedback_saved_down")
        return msg, gr.update(interactive=False), gr.update(interactive=False)

    def open_citation_section(self, n: int | None, answer_state: dict | None, lang: str):
        answer = Answer.model_validate(answer_state) if answer_state else None
        cit = next((c for c in answer.citations if c.n == n), None) if (answer and n) else None
        if cit is None:
            return "", None
        try:
            chunk = self.container().assistant.chunk(cit.chunk_id)
        except Exception as exc:  # noqa: BLE001
            return self.error_html(exc, lang), None
        sid = _toc_level_id(chunk.section_id)
        return self.section_html(sid, lang), sid

    def open_link(self, lang: str, evt: gr.EventData):
        """A click on a section button inside an HTML panel (evt.sid)."""
        sid = str(getattr(evt, "sid", "") or "")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", sid):
            return gr.skip(), gr.skip()
        return self.section_html(sid, lang), sid

    def pick_chip(self, answer_state: dict | None, lang: str, evt: gr.EventData):
        """A click on a citation chip [n] in the answer."""
        try:
            n = int(getattr(evt, "n", 0) or 0)
        except (TypeError, ValueError):
            n = 0
        answer = Answer.model_validate(answer_state) if answer_state else None
        if answer is None or n not in {c.n for c in answer.citations}:
            return gr.skip(), gr.skip()
        return gr.update(value=n), self.evidence_html(answer, n, lang)

    # ---- layout ---------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        lang0 = "ja"
        with gr.Blocks(title="官民連携ガイド アシスタント / kanmin", analytics_enabled=False) as demo:
            session = gr.State(new_session_id)
            answer_state = gr.State(None)
            history_state = gr.State([])
            section_state = gr.State(None)
            toc_section_state = gr.State(None)

            with gr.Row(equal_height=False):
                with gr.Column(scale=4):
                    title = gr.HTML(self._title(lang0), elem_id="title")
                with gr.Column(scale=2, min_width=260):
                    lang = gr.Radio([("日本語", "ja"), ("English", "en")], value=lang0, label=t(lang0, "lang"),
                                    elem_id="lang")
            with gr.Row(equal_height=False):
                persona = gr.Radio(persona_choices(lang0), value="any", label=t(lang0, "persona"), elem_id="persona",
                                   scale=3)
                mode = gr.Radio(self._mode_choices(lang0), value="extractive", label=t(lang0, "mode"), elem_id="mode",
                                scale=2)

            with gr.Tabs(elem_id="tabs"):
                with gr.Tab(t(lang0, "tab_ask"), id="ask", elem_id="tab-ask") as tab_ask:
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=3):
                            examples_label = gr.Markdown(t(lang0, "examples"), elem_id="examples-label")
                            with gr.Row(elem_id="examples"):
                                ex_buttons = [gr.Button(q, size="sm", variant="secondary", elem_id=f"example-{i}")
                                              for i, q in enumerate(examples(lang0, "any"))]
                            question = gr.Textbox(label=t(lang0, "question"), placeholder=t(lang0, "question_ph"),
                                                  lines=2, max_lines=8, max_length=2000, elem_id="question")
                            with gr.Row():
                                ask_btn = gr.Button(t(lang0, "ask"), variant="primary", elem_id="ask", scale=3)
                                new_btn = gr.Button(t(lang0, "new_session"), variant="secondary",
                                                    elem_id="new-session", scale=1)
                            answer = gr.HTML(R.render_answer(None, lang0), elem_id="answer", js_on_load=JS_CITE_CHIPS)
                            with gr.Row():
                                fb_up = gr.Button(t(lang0, "feedback_up"), size="sm", interactive=False,
                                                  elem_id="feedback-up")
                                fb_down = gr.Button(t(lang0, "feedback_down"), size="sm", interactive=False,
                                                    elem_id="feedback-down")
                            fb_status = gr.Markdown("", elem_id="feedback-status")
                            glossary_box = gr.HTML(self.answer_glossary_html(None, lang0), elem_id="answer-glossary")
                            with gr.Accordion(t(lang0, "history"), open=False, elem_id="history-acc") as history_acc:
                                history = gr.HTML(R.render_history([], lang0), elem_id="history")
                        with gr.Column(scale=2):
                            citations = gr.Radio([], value=None, label=t(lang0, "citations"), visible=False,
                                                 elem_id="citations")
                            evidence = gr.HTML(R.render_evidence(None, None, lang0), elem_id="evidence")
                            open_btn = gr.Button(t(lang0, "open_section"), size="sm", elem_id="open-section",
                                                 visible=False)
                            nearest = gr.Radio([], value=None, label=t(lang0, "nearest"), visible=False,
                                               elem_id="nearest")
                            section_view = gr.HTML("", elem_id="section-view", js_on_load=JS_SECTION_LINKS)

                with gr.Tab(t(lang0, "tab_reading"), id="reading", elem_id="tab-reading") as tab_reading:
                    reading = gr.HTML("", elem_id="reading-path")
                    reading_chapters = gr.Radio([], value=None, label=t(lang0, "reading_chapters"),
                                                elem_id="reading-chapters")
                    reading_detail = gr.HTML("", elem_id="reading-detail", js_on_load=JS_SECTION_LINKS)
                    reading_section = gr.HTML("", elem_id="reading-section", js_on_load=JS_SECTION_LINKS)
                    reading_section_state = gr.State(None)

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

            # ---- events -------------------------------------------------------------------------
            pending = gr.State("")  # the question being answered (the box is cleared at once)
            ask_outputs = [answer, citations, evidence, nearest, section_view, section_state, glossary_box,
                           answer_state, history_state, history, fb_up, fb_down, session, question, open_btn]
            ask_inputs = [pending, persona, mode, lang, session, history_state]

            def stash(q: str):
                return "", q, ""

            for trigger, src in [(ask_btn.click, question), (question.submit, question),
                                 *[(b.click, b) for b in ex_buttons]]:
                trigger(stash, src, [question, pending, fb_status], queue=False).then(
                    self.ask, ask_inputs, ask_outputs, concurrency_limit=4).then(None, js=SCROLL_TO_QUOTE)

            def new_conversation(lang_v: str):
                return (R.render_answer(None, lang_v), gr.update(choices=[], value=None, visible=False),
                        R.render_evidence(None, None, lang_v), gr.update(choices=[], value=None, visible=False),
                        "", None, self.answer_glossary_html(None, lang_v), None, [], R.render_history([], lang_v),
                        gr.update(interactive=False), gr.update(interactive=False), new_session_id(), "",
                        gr.update(visible=False), "")

            new_btn.click(new_conversation, lang, [*ask_outputs, fb_status])

            def pick_citation(n, ans, lang_v):
                answer_obj = Answer.model_validate(ans) if ans else None
                return self.evidence_html(answer_obj, n, lang_v)

            citations.input(pick_citation, [citations, answer_state, lang], evidence).then(None, js=SCROLL_TO_QUOTE)
            open_btn.click(self.open_citation_section, [citations, answer_state, lang], [section_view, section_state])

            def pick_nearest(sid, lang_v):
                return self.section_html(sid, lang_v), sid

            nearest.input(pick_nearest, [nearest, lang], [section_view, section_state])

            fb_up.click(lambda a, lang_v: self.feedback("up", a, lang_v), [answer_state, lang],
                        [fb_status, fb_up, fb_down])
            fb_down.click(lambda a, lang_v: self.feedback("down", a, lang_v), [answer_state, lang],
                          [fb_status, fb_up, fb_down])

            g_search.submit(self.glossary_html, [g_search, lang], g_results)
            g_btn.click(self.glossary_html, [g_search, lang], g_results)
            j_btn.click(self.jargon_html, [j_input, lang], j_output)
            j_example.click(lambda lang_v: t(lang_v, "jargon_example_text"), lang, j_input, queue=False).then(
                self.jargon_html, [j_input, lang], j_output)

            toc.click(self.open_link, [lang], [toc_section, toc_section_state])
            toc_section.click(self.open_link, [lang], [toc_section, toc_section_state])
            section_view.click(self.open_link, [lang], [section_view, section_state])
            reading_detail.click(self.open_link, [lang], [reading_section, reading_section_state])
            reading_section.click(self.open_link, [lang], [reading_section, reading_section_state])
            answer.click(self.pick_chip, [answer_state, lang], [citations, evidence]).then(None, js=SCROLL_TO_QUOTE)

            def pick_chapter(chapter, lang_v):
                return self.chapter_html(chapter, lang_v), "", None

            reading_chapters.input(pick_chapter, [reading_chapters, lang],
                                   [reading_detail, reading_section, reading_section_state])

            def on_persona(p, lang_v):
                html, chapters = self.reading_html(p, lang_v)
                qs = examples(lang_v, p)
                return ([gr.update(value=q) for q in qs[:N_EXAMPLES]]
                        + [html, gr.update(choices=chapters, value=None), "", "", None])

            persona.change(on_persona, [persona, lang], [*ex_buttons, reading, reading_chapters, reading_detail,
                                                         reading_section, reading_section_state])

            def on_load(p, lang_v):
                html, chapters = self.reading_html(p, lang_v)
                return (self.toc_html(lang_v), self.glossary_html(None, lang_v), html,
                        gr.update(choices=chapters, value=None))

            demo.load(on_load, [persona, lang], [toc, g_results, reading, reading_chapters])

            # language switch: relabel everything and re-render what is on screen
            relabel_outputs = [
                title, persona, mode, tab_ask, tab_reading, tab_toc, tab_glossary, tab_jargon,
                examples_label, *ex_buttons, question, ask_btn, new_btn, answer, fb_up, fb_down, fb_status,
                history_acc, history, citations, evidence, open_btn, nearest, section_view, glossary_box,
                reading, reading_chapters, reading_detail, reading_section, toc_help, toc, toc_section,
                g_search, g_btn, g_results, j_input, j_btn, j_example, j_output]

            def relabel(lang_v, p, ans, hist, n, sid, chapter, reading_sid, toc_sid, q, jtext):
                lang_v = lang_v if lang_v in ("ja", "en") else "ja"
                answer_obj = Answer.model_validate(ans) if ans else None
                reading_v, chapters = self.reading_html(p, lang_v)
                qs = examples(lang_v, p)
                return [
                    self._title(lang_v),
                    gr.update(choices=persona_choices(lang_v), label=t(lang_v, "persona")),
                    gr.update(choices=self._mode_choices(lang_v), label=t(lang_v, "mode")),
                    gr.update(label=t(lang_v, "tab_ask")), gr.update(label=t(lang_v, "tab_reading")),
                    gr.update(label=t(lang_v, "tab_toc")), gr.update(label=t(lang_v, "tab_glossary")),
                    gr.update(label=t(lang_v, "tab_jargon")),
                    t(lang_v, "examples"),
                    *[gr.update(value=x) for x in qs[:N_EXAMPLES]],
                    gr.update(label=t(lang_v, "question"), placeholder=t(lang_v, "question_ph")),
                    gr.update(value=t(lang_v, "ask")), gr.update(value=t(lang_v, "new_session")),
                    R.render_answer(answer_obj, lang_v),
                    gr.update(value=t(lang_v, "feedback_up")), gr.update(value=t(lang_v, "feedback_down")), "",
                    gr.update(label=t(lang_v, "history")), R.render_history((hist or [])[:-1], lang_v),
                    gr.update(label=t(lang_v, "citations")),
                    self.evidence_html(answer_obj, n, lang_v),
                    gr.update(value=t(lang_v, "open_section")), gr.update(label=t(lang_v, "nearest")),
                    self.section_html(sid, lang_v), self.answer_glossary_html(answer_obj, lang_v),
                    reading_v, gr.update(choices=chapters, value=chapter if chapter in chapters else None,
                                         label=t(lang_v, "reading_chapters")),
                    self.chapter_html(chapter, lang_v) if chapter in chapters else "",
                    self.section_html(reading_sid, lang_v),
                    t(lang_v, "toc_help"), self.toc_html(lang_v), self.section_html(toc_sid, lang_v),
                    gr.update(label=t(lang_v, "glossary_search"), placeholder=t(lang_v, "glossary_search_ph")),
                    gr.update(value=t(lang_v, "search")), self.glossary_html(q, lang_v),
                    gr.update(label=t(lang_v, "jargon_input"), placeholder=t(lang_v, "jargon_input_ph")),
                    gr.update(value=t(lang_v, "jargon_run")), gr.update(value=t(lang_v, "jargon_example")),
                    self.jargon_html(jtext, lang_v),
                ]

            lang.change(relabel, [lang, persona, answer_state, history_state, citations, section_state,
                                  reading_chapters, reading_section_state, toc_section_state, g_search, j_input],
                        relabel_outputs)
            lang.change(None, lang, None, js="(l) => { document.documentElement.lang = l; return []; }")
        return demo

    @staticmethod
    def _title(lang: str) -> str:
        return (f'<div id="kc-title"><h1 style="margin:.2em 0">{R.esc(t(lang, "title"))}</h1>'
                f'<div class="kc-meta">{R.esc(t(lang, "subtitle"))}</div></div>')

    @staticmethod
    def _mode_choices(lang: str) -> list[tuple[str, str]]:
        return [(t(lang, "mode_extractive"), "extractive"), (t(lang, "mode_generative"), "generative")]


def build_blocks(container_factory: Callable[[], Any], metrics: Any = None) -> gr.Blocks:
    demo = KanminUI(container_factory, metrics).build()
    # the UI's event handlers are not a public API (that is /v1/*): hide them from Gradio clients
    for fn in demo.fns.values():
        fn.api_visibility = "private"
    demo.queue(default_concurrency_limit=8, max_size=128)
    return demo


def mount(app: Any, container_factory: Callable[[], Any]) -> Any:
    """Mount the UI at "/" on ``app`` (called by ui.api.create_app)."""
    metrics = getattr(getattr(app, "state", None), "metrics", None)
    demo = build_blocks(container_factory, metrics)
    return gr.mount_gradio_app(
        app, demo, path="/", theme=theme(), css=CSS, head=HEAD, ssr_mode=False, footer_links=["settings"],
        show_error=False, mcp_server=False,
    )


__all__ = ["PERSONAS", "KanminUI", "build_blocks", "mount", "theme"]
