"""HTML rendering for the web UI's guide views (sections, glossary, jargon, reading path, TOC):
pure functions of the guide models. A chat turn is rendered by ui/web/chat.py.

Everything that comes from the guide or the user is escaped; the only markup is ours
(``<mark>`` around a quoted sentence or a jargon term, section buttons, notices).
"""
from __future__ import annotations

import html
from typing import Sequence

from assistant.schema import Annotation, GlossaryNote
from ingest.models import Chunk, Node, ReadingGuide, TocEntry
from ingest.glossary_search import category_label
from ingest.page_labels import page_label
from ingest.text import nfkc
from ui.web.text import KIND_LABELS, PERSONA_SECTOR, t

MAX_SECTION_CHUNKS = 80


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def pages_label(pages: Sequence[int] | tuple[int, int], lang: str = "ja") -> str:
    """p.94 / pp.94–95: the one page label of every front door (ingest.page_labels)."""
    return page_label(pages)


def _text_block(text: str) -> str:
    return f'<div class="kc-text">{esc(text)}</div>'


def notice(kind: str, title: str, body: str = "") -> str:
    """kind: info | warn | error (body is already HTML)."""
    return (f'<div class="kc-notice kc-{kind}" role="status"><strong>{esc(title)}</strong>'
            + (f"<div>{body}</div>" if body else "") + "</div>")


def placeholder(text: str) -> str:
    return f'<div class="kc-placeholder">{esc(text)}</div>'


# ---- evidence -------------------------------------------------------------------------------
def highlight(text: str, quote: str) -> tuple[str, bool]:
    """(HTML of ``text`` with the first occurrence of ``quote`` in <mark>, found)."""
    i = text.find(quote) if quote else -1
    if i < 0:
        return esc(text), False
    return (esc(text[:i]) + '<mark class="kc-quote">' + esc(quote) + "</mark>" + esc(text[i + len(quote):]), True)


def render_section(node: Node, chunks: Sequence[Chunk], lang: str, max_chunks: int = MAX_SECTION_CHUNKS) -> str:
    """A chapter shows its sections (with pages) and its own lead text; a section shows all its text."""
    crumbs = " &gt; ".join(esc(p) for p in node.path)
    out = [f'<div class="kc-section" data-section-id="{esc(node.id)}">',
           f'<div class="kc-ev-head"><span class="kc-path">{crumbs}</span></div>',
           f'<div class="kc-meta"><span class="kc-page">{esc(t(lang, "pages"))}: '
           f"{esc(pages_label(node.pages))}</span></div>"]
    shown: Sequence[Chunk] = chunks
    if node.level == 1 and node.children:
        out.append(render_children(node, lang))
        shown = [c for c in chunks if c.section_id == node.id]
    for c in shown[:max_chunks]:
        kind = KIND_LABELS.get(lang, KIND_LABELS["ja"]).get(c.kind, c.kind)
        sub = " &gt; ".join(esc(p) for p in c.section_path[len(node.path):])
        out.append(f'<div class="kc-chunk" data-chunk-id="{esc(c.id)}"><div class="kc-meta">{esc(pages_label(c.pages))}'
                   f" · {esc(kind)}" + (f" · {sub}" if sub else "") + f"</div>{_text_block(c.text)}</div>")
    if len(shown) > max_chunks:
        out.append(f'<div class="kc-meta">{len(shown) - max_chunks} {esc(t(lang, "chunks_more"))}</div>')
    out.append("</div>")
    return "".join(out)


def section_link(section_id: str, heading: str, pages: Sequence[int] | tuple[int, int], strong: bool = False) -> str:
    """A button that opens a section (the HTML component's js_on_load turns the click into an event)."""
    label = f"<strong>{esc(heading)}</strong>" if strong else esc(heading)
    return (f'<button type="button" class="kc-link" data-sid="{esc(section_id)}">{label}</button> '
            f'<span class="kc-page">{esc(pages_label(pages))}</span>')


def render_children(node: Node, lang: str) -> str:
    items = []
    for ch in node.children:
        sub = "".join(f"<li>{section_link(g.id, g.heading, g.pages)}</li>"
                      for g in ch.children if g.kind in ("section", "subsection", "point"))
        items.append(f"<li>{section_link(ch.id, ch.heading, ch.pages, strong=True)}"
                     + (f"<ul>{sub}</ul>" if sub else "") + "</li>")
    return (f'<div class="kc-children"><div class="kc-label">{esc(t(lang, "chapter_sections"))}</div>'
            f"<ul>{''.join(items)}</ul></div>")


# ---- glossary & jargon ----------------------------------------------------------------------
def _note_html(n: GlossaryNote | Annotation, lang: str) -> str:
    reading = f'<span class="kc-reading">（{esc(n.reading)}）</span>' if n.reading else ""
    rows = [(t(lang, "meaning"), n.meaning), (t(lang, "rephrase"), n.rephrase), (t(lang, "english"), n.en)]
    if n.pages:
        rows.append((t(lang, "pages"), pages_label(n.pages)))
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v)
    cat = f'<span class="kc-cat">{esc(category_label(n.category, lang))}</span>' if n.category else ""
    return (f'<div class="kc-term" data-term="{esc(n.term)}"><div class="kc-term-head"><strong>{esc(n.term)}</strong>'
            f"{reading} {cat}</div><dl>{dl}</dl></div>")


def render_notes(notes: Sequence[GlossaryNote], lang: str, empty_key: str = "no_results", count: bool = False) -> str:
    if not notes:
        return placeholder(t(lang, empty_key))
    head = f'<div class="kc-meta">{len(notes)} {esc(t(lang, "results"))}</div>' if count else ""
    return head + '<div class="kc-terms">' + "".join(_note_html(n, lang) for n in notes) + "</div>"


def render_annotations(text: str, annotations: Sequence[Annotation], lang: str) -> str:
    """The pasted text with each term in <mark> followed by its plain rephrasing, then one card per term."""
    if not annotations:
        return placeholder(t(lang, "no_terms"))
    # positions refer to NFKC(text); keep the original when normalisation did not change the length
    norm = nfkc(text)
    base = text if len(norm) == len(text) else norm
    out, pos = [], 0
    for a in sorted(annotations, key=lambda x: x.start):
        if a.start < pos or a.end > len(base):
            continue
        out.append(esc(base[pos:a.start]))
        tip = a.rephrase or a.meaning
        out.append(f'<mark class="kc-jargon" data-term="{esc(a.term)}" title="{esc(a.meaning)}">'
                   f"{esc(base[a.start:a.end])}</mark>")
        if tip:
            out.append(f'<span class="kc-rephrase">（→ {esc(tip)}）</span>')
        pos = a.end
    out.append(esc(base[pos:]))
    seen: dict[str, Annotation] = {}
    for a in annotations:
        seen.setdefault(a.term, a)
    return (f'<div class="kc-meta">{len(seen)} {esc(t(lang, "terms_found"))}</div>'
            f'<div class="kc-text kc-jargon-text">{"".join(out)}</div>'
            f'<div class="kc-terms">{"".join(_note_html(a, lang) for a in seen.values())}</div>')


# ---- reading path & TOC ---------------------------------------------------------------------
def reading_rows(rows: Sequence[ReadingGuide], persona: str | None) -> list[ReadingGuide]:
    if persona in PERSONA_SECTOR:
        return [r for r in rows if r.persona == persona]
    return list(rows)


def reading_chapters(rows: Sequence[ReadingGuide], persona: str | None, toc: Sequence[TocEntry]) -> list[str]:
    """The chapters the guide recommends for this persona, in the guide's order."""
    wanted = {ch for r in reading_rows(rows, persona) for ch in r.chapters}
    order = [e.heading for e in toc if e.level == 1]
    ranked = [h for h in order if h in wanted]
    return ranked + sorted(wanted - set(ranked))


def figure_label(number: object, lang: str) -> str:
    """図表2 in Japanese, "Figure 2" in English."""
    return f"{t(lang, 'figure')}{number}" if lang == "ja" else f"{t(lang, 'figure')} {number}"


def render_reading(rows: Sequence[ReadingGuide], persona: str | None, lang: str) -> str:
    chosen = reading_rows(rows, persona)
    if not chosen:
        return placeholder(t(lang, "no_rows"))
    out = [f'<p class="kc-meta">{esc(t(lang, "reading_intro"))}</p>']
    for fig in sorted({r.source_figure for r in chosen}):
        fr = [r for r in chosen if r.source_figure == fig]
        with_chapters = any(r.chapters for r in fr)
        # 図表2 has no 読者例 column: leave it out rather than fill it with dashes
        with_readers = any(r.readers for r in fr)
        head = [t(lang, "role")] + ([t(lang, "readers")] if with_readers else []) + [t(lang, "wants")]
        head += [t(lang, "chapters")] if with_chapters else [t(lang, "next_actions")]
        body = []
        for r in fr:
            # the role cell never wraps inside a word (「スタートアップ」 stays whole)
            cells = [f'<td class="kc-role">{esc(r.sector)}<br>{esc(r.role)}</td>']
            if with_readers:
                cells.append(f"<td>{'<br>'.join(esc(x) for x in r.readers) or '—'}</td>")
            cells.append(f"<td>{'<br>'.join(esc(x) for x in r.wants) or '—'}</td>")
            if with_chapters:
                cells.append("<td><ol>" + "".join(f"<li>{esc(c)}</li>" for c in r.chapters) + "</ol></td>")
            else:
                cells.append(f"<td>{'<br>'.join(esc(x) for x in r.next_actions) or '—'}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        ths = "".join(('<th class="kc-role">' if i == 0 else "<th>") + f"{esc(h)}</th>" for i, h in enumerate(head))
        out.append(f'<div class="kc-label">{esc(figure_label(fig, lang))}</div><table class="kc-table"><thead><tr>'
                   + ths + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")
    return "".join(out)


def render_toc(entries: Sequence[tuple[TocEntry, str | None]], lang: str) -> str:
    """目次 as a tree of section buttons: chapters → sections → sub-sections, each with its page."""
    def lvl(e: TocEntry) -> int:
        return max(1, min(e.level, 3))

    out = ['<nav class="kc-toc"><ul>']
    depth = 1
    for i, (e, sid) in enumerate(entries):
        level = lvl(e)
        label = f"<strong>{esc(e.heading)}</strong>" if level == 1 else esc(e.heading)
        if sid:
            out.append(f'<li><button type="button" class="kc-link" data-sid="{esc(sid)}">{label}</button> '
                       f'<span class="kc-page">p.{e.page}</span>')
        else:
            out.append(f'<li>{label} <span class="kc-page">p.{e.page}</span>')
        nxt = lvl(entries[i + 1][0]) if i + 1 < len(entries) else 1
        if nxt > depth:
            while depth < nxt:
                out.append("<ul>")
                depth += 1
        else:
            out.append("</li>")
            while depth > nxt:
                out.append("</ul></li>")
                depth -= 1
    out.append("</ul></nav>")
    return "".join(out)
