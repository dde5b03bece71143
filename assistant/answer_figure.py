"""The figure route: 図表N's title and page, its first table rows, what the text around it
says to the question as asked, and the body sentences that introduce it."""
from __future__ import annotations

import re
from typing import Sequence

from assistant.drafting import Draft, Drafting, clip_title, sentences_of, toc_id
from assistant.schema import Citation
from ingest.models import Chunk

SECOND_ROW_RATIO = 0.8  # a second row named by the question: nearly as many of its words as the first
SHOWN_ROWS = 4  # a figure's table: its first lines (the header and the first rows) are shown
WHOLE_TABLE_ROWS = 6  # … or all of them, when that is at most this many lines (図表58's five rows)
ROW_MIN_COVERAGE = 0.15  # a later row joins them when the question names it
ROW_HEAD_CHARS = 12  # a row's first cell that is a label (参加者数, 主催), not a sentence
_MARK = re.compile(r"\[(\d+)\]")  # a citation marker in an answer's text
# a sentence that only announces a figure: 「…について解説していきます（図表 11）。」
ANNOUNCES = re.compile(r"(解説|紹介|示し|整理|まとめ)(し)?(て)?(いき|おり)?(ます|ました)[(（\s]*[)）]?[。．]?\s*$")


class FigureAnswers(Drafting):
    """Answers questions that name a figure (図表N / Figure N)."""

    def _figure_answer(self, number: int, language: str, query: str = "", persona: str = "any") -> Draft:
        parts = self._figure_parts(number, language, query, persona)
        if isinstance(parts, Draft):
            return parts
        head, citations, shown = parts
        return Draft("\n".join([head] + [f"「{self._shown(c)}」[{c.n}]" for c in shown]), citations)

    def _figures_answer(self, numbers: Sequence[int], language: str, query: str = "", persona: str = "any") -> Draft:
        """Each figure the question names ("Figures 16 and 17": the two pages of one sheet), one
        after the other, citations numbered on; a passage quoted for an earlier one is not again."""
        blocks: list[str] = []
        citations: list[Citation] = []
        for number in numbers:
            parts = self._figure_parts(number, language, query, persona)
            if isinstance(parts, Draft):  # a number the guide has no figure for
                continue
            head, own, shown = parts
            renumber: dict[int, int] = {}
            for c in own:
                if c in shown and any((o.chunk_id, o.quote) == (c.chunk_id, c.quote) for o in citations):
                    continue  # quoted for an earlier figure
                renumber[c.n] = len(citations) + 1
                citations.append(c.model_copy(update={"n": renumber[c.n]}))
            head = _MARK.sub(lambda m: f"[{renumber.get(int(m.group(1)), int(m.group(1)))}]", head)
            blocks.append("\n".join([head] + [f"「{self._shown(c)}」[{renumber[c.n]}]" for c in shown if c.n in renumber]))
        if not blocks:
            return self._figure_answer(numbers[0], language, query, persona)
        return Draft("\n\n".join(blocks), citations)

    def _figure_parts(self, number: int, language: str, query: str = "", persona: str = "any"
                      ) -> Draft | tuple[str, list[Citation], list[Citation]]:
        """The figure answer's head line(s), its citations and the ones quoted under the head (an
        abstaining Draft for a figure the guide does not have)."""
        entry = next((f for f in self.guide.figures if f.number == number), None)
        if entry is None:
            last = max((f.number for f in self.guide.figures), default=0)
            msg = (f"図表{number}はこのガイドにありません（図表は1〜{last}）。" if language == "ja"
                   else f"The guide has no figure {number} (figures run from 1 to {last}).")
            return Draft(msg, [], abstained=True, route="out_of_scope", reason=f"図表{number}は図表一覧にない",
                         abstain_reason="unknown_figure")
        parts = [c for c in self.guide.chunks if c.figure == number]
        caption = next((c for c in parts if c.kind == "figure"), None)
        tables = [c for c in parts if c.kind in ("table", "glossary")]
        # the figure's own content first (its table rows), then what the text around it says to
        # the question as asked, then the body sentences that introduce it: measured on the eval
        # set's figure questions, key phrases in the first 250 characters 0.34 → 0.74 (intro before
        # the text around it: 0.68)
        body: list[tuple[Chunk, int, int, float]] = []
        intro = self._figure_intro(number)
        if tables:
            t = tables[0]
            lines = t.text.split("\n")
            asked = self._asked_rows(t, query) if query else []
            for row in asked:
                body.append((t, *row, 0.0))  # the rows the question names answer it: they lead
            # a small table is shown whole unless rows the question names lead it
            whole = not asked and len(lines) <= WHOLE_TABLE_ROWS
            body.append((t, 0, len("\n".join(lines if whole else lines[:SHOWN_ROWS])), 0.0))
        # a figure with no rows of its own (an image): the sentence that cites it, its explanation in
        # the text, comes before the text around it (tuning set: one figure question's key phrase
        # moved into the first 250 characters, nothing else moved)
        intro_first = not tables and intro is not None
        if intro_first:
            body.append((*intro, 0.0))
        if caption is not None and query:
            near = [h for h in self._hits(query, persona, k=12)
                    if toc_id(h.chunk.section_id) == toc_id(caption.section_id)]
            # the intro's chunk is quoted below: the text around the figure adds other passages
            taken = {caption.id} | {b[0].id for b in body} | ({intro[0].id} if intro else set())
            for c in self._best_sentences(query, persona, taken, 2, hits=near, extras=False):
                body.append((c.chunk, c.start, c.end, c.score))
        if intro is not None and not intro_first:
            body.append((*intro, 0.0))
        citations: list[Citation] = []
        body = _read_on(body)
        if caption is not None:
            citations.append(self._cite(1, caption, 0, len(caption.text)))
        for chunk, a, b, score in body:
            citations.append(self._cite(len(citations) + 1, chunk, a, b, score))
        # the head names the figure and its page; the section path is in the citation below
        if language == "ja":
            head = f"図表{number}「{entry.title}」（p.{entry.page}）。"
            if caption is None:
                head += "ただし本文テキストには図表そのものが含まれていません（抽出時に欠落）。"
        else:
            # cut like a section's English title: the verbatim Japanese title follows, and the
            # rows after it are what answers
            title_en = clip_title(self.toc_en.figure(number) or "", self.answer_cfg.figure_title_chars)
            head = f"Figure {number}" + (f", “{title_en}”," if title_en else "") + f" is on p.{entry.page}."
            if caption is None:
                head += " The figure itself is missing from the guide's text."
        if caption is not None:
            head += "[1]"
        if language != "ja":
            # the Japanese title stays, on its own line (the first line stays English): it is what
            # the reader finds printed in the guide
            head += f"\n（「{entry.title}」）"
        shown = citations[1:] if caption is not None else citations
        return head, citations, shown

    def _asked_rows(self, table: Chunk, query: str) -> list[tuple[int, int]]:
        """The rows past the ones shown that the question names (「スピード感」の違いには…; "how
        many 広域連合 and 一部事務組合"): the row that shares most of the question's words, when it
        shares clearly more than any shown row, and a second one that shares nearly as much."""
        qt = self._query_tokens(query)
        lines = table.text.split("\n")
        shown = max((self.scorer.coverage(qt, ln) for ln in lines[2:SHOWN_ROWS]), default=0.0)
        rows: list[tuple[float, int, int]] = []
        pos = len("\n".join(lines[:SHOWN_ROWS])) + 1
        for ln in lines[SHOWN_ROWS:]:
            cov = self.scorer.coverage(qt, ln)
            named = self._names_row(qt, ln)  # named by its first cell: ahead of any row matched by words
            if ln.strip() and (named or (cov >= ROW_MIN_COVERAGE and cov > shown)):
                rows.append((1.0 if named else cov, pos, pos + len(ln)))
            pos += len(ln) + 1
        if not rows:
            return []
        best = max(rows)
        second = max((r for r in rows if r is not best and r[0] >= SECOND_ROW_RATIO * best[0]), default=None)
        spans = [(a, b) for _, a, b in sorted([best] + ([second] if second else []), key=lambda r: r[1])]
        if len(spans) == 2 and spans[1][0] == spans[0][1] + 1:  # adjacent rows: one passage, one citation
            spans = [(spans[0][0], spans[1][1])]
        return spans

    def _names_row(self, qt: frozenset[str], line: str) -> bool:
        """The question names the row by its first cell (「参加者は…何人」 names 「参加者数 | 現地参加
        218名…」, though the long 「プログラム」 row shares more of its other words): half or more of
        the cell's words of two or more characters (参加者数: 参加者数, 参加) are the question's."""
        head, sep, _ = line.partition(" | ")
        if not sep or len(head) > ROW_HEAD_CHARS:
            return False
        words = {t for t in self.retriever.tokenizer.tokenize(head) if len(t) >= 2}
        return bool(words) and 2 * len(words & qt) >= len(words)

    def _figure_intro(self, number: int) -> tuple[Chunk, int, int] | None:
        """The body sentence that introduces 図表N (…（図表 N）), with what follows it within a
        quote window: the figure's explanation. A sentence that only announces the figure
        (「…を解説していきます（図表 11）。」) gives way to the sentences after it."""
        pat = re.compile(rf"図表\s*{number}(?!\d)")
        for c in self.guide.chunks:
            if c.kind not in ("body", "case", "column") or not pat.search(c.text):
                continue
            spans = sentences_of(c.text)
            for i, (a, b) in enumerate(spans):
                if not pat.search(c.text[a:b]):
                    continue
                rest = spans[i + 1:]
                if rest and ANNOUNCES.search(pat.sub("", c.text[a:b])):
                    a = rest[0][0]
                for _, nb in rest:
                    if nb - a > self.answer_cfg.extend_chars:
                        break
                    b = nb
                return c, a, b
        return None


def _read_on(body: list[tuple[Chunk, int, int, float]]) -> list[tuple[Chunk, int, int, float]]:
    """A passage followed in its chunk by the next one listed, nothing but space between them, is
    one passage read on (one citation), not two."""
    out: list[tuple[Chunk, int, int, float]] = []
    for chunk, a, b, score in body:
        if out and out[-1][0].id == chunk.id and out[-1][2] <= a and not chunk.text[out[-1][2]:a].strip():
            prev = out.pop()
            out.append((chunk, prev[1], b, max(prev[3], score)))
        else:
            out.append((chunk, a, b, score))
    return out
