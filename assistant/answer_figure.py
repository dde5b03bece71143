"""The figure route: 図表N's title, page and section, the body sentence that introduces it,
its first table rows, and what the text around it says to the question as asked."""
from __future__ import annotations

import re

from assistant.drafting import Draft, Drafting, sentences_of, toc_id
from assistant.schema import Citation


class FigureAnswers(Drafting):
    """Answers questions that name a figure (図表N / Figure N)."""

    def _figure_answer(self, number: int, language: str, query: str = "", persona: str = "any") -> Draft:
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
        citations: list[Citation] = []
        if caption is not None:
            citations.append(self._cite(1, caption, 0, len(caption.text)))
            where = " > ".join(caption.section_path[-1:])  # its own heading: the answer is the figure, not the path
        else:
            where = ""
        # the body sentence that introduces the figure (…（図表 N）)
        pat = re.compile(rf"図表\s*{number}(?!\d)")
        intro = None
        for c in self.guide.chunks:
            if c.kind in ("body", "case", "column") and pat.search(c.text):
                spans = sentences_of(c.text)
                for i, (a, b) in enumerate(spans):
                    if pat.search(c.text[a:b]):
                        # with what follows it, within a quote window: the figure's explanation
                        for _, nb in spans[i + 1:]:
                            if nb - a > self.answer_cfg.extend_chars:
                                break
                            b = nb
                        intro = (c, a, b)
                        break
            if intro:
                break
        # the figure's own rows first (what it shows), then the body text that introduces it
        if tables:
            t = tables[0]
            first = t.text.split("\n")
            snippet = "\n".join(first[:4])
            citations.append(self._cite(len(citations) + 1, t, 0, len(snippet)))
        if intro:
            citations.append(self._cite(len(citations) + 1, *intro))
        if language == "ja":
            head = f"図表{number}「{entry.title}」はp.{entry.page}に掲載されています" + (f"（{where}）。" if where else "。")
            if caption is None:
                head += "ただし本文テキストには図表そのものが含まれていません（抽出時に欠落）。"
        else:
            title_en = self.toc_en.figure(number)
            head = (f"Figure {number}" + (f", “{title_en}”" if title_en else "") + f" (「{entry.title}」), is on "
                    f"p.{entry.page}" + (f", in {self._where_en(caption.section_path, [])}." if caption else "."))
            if caption is None:
                head += " The figure itself is missing from the guide's text."
        # what the text around the figure says in answer to the question as asked
        if caption is not None and query:
            near = [h for h in self._hits(query, persona, k=12)
                    if toc_id(h.chunk.section_id) == toc_id(caption.section_id)]
            for c in self._best_sentences(query, persona, {c.chunk_id for c in citations}, 2, hits=near, extras=False):
                citations.append(self._cite(len(citations) + 1, c.chunk, c.start, c.end, c.score))
        lines = [head] + [f"「{self._shown(c)}」[{c.n}]" for c in citations[1:]]
        if caption is not None:
            lines[0] += "[1]"
        return Draft("\n".join(lines), citations)
