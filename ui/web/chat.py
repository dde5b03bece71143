"""One chat turn of the web UI as HTML (for gr.Chatbot), and a conversation as Markdown.

A turn carries everything needed to read its evidence again later: each citation's passage
(quote highlighted), section path, printed pages and a "whole section" button are rendered
into the turn, hidden until its chip is clicked (ui/web/js.py toggles them in the browser).
So reopening an earlier turn's evidence needs no server round trip and no per-tab state.

The HTML is one line with no blank line: gr.Chatbot's markdown renderer passes an HTML block
through untouched only until a blank line. Everything from the guide or the user is escaped.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

from assistant.schema import Answer, Citation
from ingest.models import Chunk
from ui.web.render import esc, highlight, pages_label
from ui.web.text import PERSONA_LABELS, ROUTE_LABELS, t

_MARKER = re.compile(r"\[(\d{1,2})\]")
ANSWER_ID_RE = re.compile(r'data-answer-id="([0-9a-f]{32})"')


def _lines(html_text: str) -> str:
    """Newlines as <br>: no raw newline may end the markdown HTML block."""
    return html_text.replace("\r\n", "\n").replace("\n", "<br>")


def _attr(text: str) -> str:
    return esc(text).replace("\n", "&#10;")


def page_links(pages: Sequence[int]) -> str:
    """p.94 / pp.94–95 (the one page label, ingest.page_labels) with each shown page a link to
    that page's passages (/?p=94)."""
    pages = sorted(set(pages))
    if not pages:
        return ""
    first, last = (f'<a class="kc-pagelink" href="?p={p}" data-nav="p:{p}">{p}</a>' for p in (pages[0], pages[-1]))
    return f'<span class="kc-page">p.{first}</span>' if len(pages) == 1 else f'<span class="kc-page">pp.{first}–{last}</span>'


def user_html(question: str) -> str:
    return f'<div class="kc-uq">{_lines(esc(question))}</div>'


def pending_html(lang: str) -> str:
    return f'<div class="kc-pending" role="status">{esc(t(lang, "pending"))}</div>'


def fallback_line(answer: Answer, lang: str) -> str:
    """One translated line for a generative answer that fell back (the raw reason as a tooltip)."""
    reason = answer.fallback or ""
    if not reason:
        return ""
    if answer.mode == "generative":
        key = "fallback_trimmed"  # generated, but some sentences failed the citation check
    elif "not configured" in reason or "LlmConfigError" in reason:
        key = "fallback_unconfigured"
    elif "Timeout" in reason:
        key = "fallback_timeout"
    elif reason.startswith(("llm_skipped", "llm_unusable")):
        key = "fallback_unusable"
    else:
        key = "fallback_error"
    return (f'<div class="kc-notice kc-info kc-fallback" role="status" title="{_attr(reason)}">'
            f"{esc(t(lang, key))}</div>")


def _chip(n: int) -> str:
    return f'<button type="button" class="kc-cite" data-n="{n}" aria-expanded="false">[{n}]</button>'


def answer_text_html(text: str, citations: Sequence[Citation]) -> str:
    valid = {c.n for c in citations}
    return _MARKER.sub(lambda m: _chip(int(m.group(1))) if int(m.group(1)) in valid else m.group(0), esc(text))


def evidence_panel(cit: Citation, chunk: Chunk | None, section_id: str | None, lang: str, answer_id: str = "") -> str:
    crumbs = " &gt; ".join(esc(p) for p in cit.section_path)
    if chunk is not None:
        body, found = highlight(chunk.text, cit.quote)
    else:
        body, found = f'<mark class="kc-quote">{esc(cit.quote)}</mark>', True
    # the section view opens at this passage, its quote highlighted (c:<answer>:<n>); else the plain section
    target = f"c:{answer_id}:{cit.n}" if (answer_id and chunk is not None) else f"s:{section_id}"
    whole = (f'<button type="button" class="kc-link kc-whole" data-nav="{esc(target)}">'
             f"{esc(t(lang, 'open_section'))}</button>") if section_id else ""
    return (f'<div class="kc-ev" data-n="{cit.n}" hidden>'
            f'<div class="kc-ev-head"><span class="kc-cite-n">[{cit.n}]</span> '
            f'<span class="kc-path">{esc(t(lang, "section_path"))}: {crumbs}</span></div>'
            f'<div class="kc-meta">{esc(t(lang, "pages"))}: {page_links(cit.pages)} {whole}</div>'
            + ("" if found else f'<div class="kc-meta">{esc(t(lang, "quote_missing"))}</div>')
            + f'<div class="kc-text kc-passage">{_lines(body)}</div></div>')


def copy_text(answer: Answer, lang: str) -> str:
    """What the copy button puts on the clipboard: the answer and its sources, plain text."""
    out = [answer.answer]
    if answer.citations:
        out.append("")
        out.append(t(lang, "sources") + ":")
        out += [f"[{c.n}] {' > '.join(c.section_path)} ({pages_label(c.pages)}) 「{c.quote}」" for c in answer.citations]
    return "\n".join(out)


def _glossary(answer: Answer, lang: str) -> str:
    # a "not in the guide" answer explains no term: cards there read as if the guide covered it
    if answer.abstained or answer.route == "out_of_scope" or not answer.glossary:
        return ""
    cards = "".join(
        f'<div class="kc-term" data-term="{esc(n.term)}"><strong>{esc(n.term)}</strong>'
        + (f"（{esc(n.reading)}）" if n.reading else "")
        + f'<div class="kc-small">{esc(n.rephrase or n.meaning)}</div></div>' for n in answer.glossary)
    return (f'<details class="kc-gl"><summary>{esc(t(lang, "answer_glossary"))} ({len(answer.glossary)})</summary>'
            f'<div class="kc-terms">{cards}</div></details>')


def _nearest(answer: Answer, lang: str) -> str:
    if not (answer.abstained and answer.nearest_sections):
        return ""
    items = "".join(f'<li><button type="button" class="kc-link" data-nav="s:{esc(s.section_id)}">'
                    f"{esc(' > '.join(s.section_path[-2:]))}</button> {page_links(s.pages)}</li>"
                    for s in answer.nearest_sections)
    return f'<div class="kc-nearest"><div class="kc-label">{esc(t(lang, "nearest"))}</div><ul>{items}</ul></div>'


def _suggestions(questions: Sequence[str], lang: str) -> str:
    if not questions:
        return ""
    buttons = "".join(f'<button type="button" class="kc-suggest" data-q="{_attr(q)}">{esc(q)}</button>'
                      for q in questions)
    return f'<div class="kc-suggests"><span class="kc-label">{esc(t(lang, "suggested"))}</span>{buttons}</div>'


def answer_html(answer: Answer, lang: str, chunk_of: Callable[[str], Chunk | None],
                section_of: Callable[[Chunk], str | None], suggestions: Sequence[str] = ()) -> str:
    """The assistant message of one turn."""
    parts = [f'<div class="kc-turn-a" data-answer-id="{esc(answer.id)}" data-route="{esc(answer.route)}"'
             f' data-abstained="{str(answer.abstained).lower()}">']
    if answer.resolved_question:
        parts.append(f'<div class="kc-meta kc-resolved">{esc(t(lang, "resolved"))} {esc(answer.resolved_question)}</div>')
    if answer.abstained:
        parts.append(f'<div class="kc-notice kc-warn" role="status"><strong>{esc(t(lang, "abstained"))}</strong></div>')
    parts.append(fallback_line(answer, lang))
    parts.append(f'<div class="kc-answer-text">{_lines(answer_text_html(answer.answer, answer.citations))}</div>')
    if answer.citations:
        chips = "".join(f'<li>{_chip(c.n)} <span class="kc-where">{esc(c.section_path[-1] if c.section_path else "")}'
                        f"</span> {page_links(c.pages)}</li>" for c in answer.citations)
        panels = []
        for c in answer.citations:
            chunk = chunk_of(c.chunk_id)
            panels.append(evidence_panel(c, chunk, section_of(chunk) if chunk else None, lang, answer.id))
        parts.append(f'<div class="kc-sources"><div class="kc-label">{esc(t(lang, "sources"))}</div>'
                     f'<ul class="kc-chips">{chips}</ul><div class="kc-evs">{"".join(panels)}</div></div>')
    parts.append(_nearest(answer, lang))
    parts.append(_glossary(answer, lang))
    parts.append(_suggestions(suggestions, lang))
    route = ROUTE_LABELS.get(lang, ROUTE_LABELS["ja"]).get(answer.route, answer.route)
    persona = PERSONA_LABELS.get(lang, PERSONA_LABELS["ja"]).get(answer.persona, answer.persona)
    parts.append(f'<div class="kc-tools"><button type="button" class="kc-copy" data-copy="{_attr(copy_text(answer, lang))}">'
                 f'{esc(t(lang, "copy"))}</button><span class="kc-meta">{esc(t(lang, "route"))}: {esc(route)} · '
                 f'{esc(t(lang, "persona_used"))}: {esc(persona)}</span></div></div>')
    return "".join(parts)


def conversation_markdown(turns: Sequence[Answer], lang: str) -> str:
    """The conversation as Markdown: each question, its answer and its citations with pages and quotes."""
    out = [f"# {t(lang, 'export_title')}", ""]
    if not turns:
        out.append(t(lang, "history_empty"))
    for i, a in enumerate(turns, 1):
        out += [f"## {t(lang, 'you')} {i}", "", *[f"> {line}" for line in a.question.splitlines() or [""]], ""]
        if a.resolved_question:
            out += [f"*{t(lang, 'resolved')} {a.resolved_question}*", ""]
        out += [a.answer, ""]
        if a.citations:
            out += [f"**{t(lang, 'sources')}**", ""]
            out += [f"- [{c.n}] {' > '.join(c.section_path)} ({pages_label(c.pages)}): 「{c.quote}」"
                    for c in a.citations]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def answer_id_of(message_html: object) -> str | None:
    m = ANSWER_ID_RE.search(str(message_html or ""))
    return m.group(1) if m else None
