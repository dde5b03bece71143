"""The glossary route: a term's card (meaning in the guide's words, 正式名称, 言い換え) with its
source, where the guide spells it out, how it uses the term, and what else answers the question."""
from __future__ import annotations

from assistant.drafting import Draft, Drafting, sentences_of
from assistant.router import RouteDecision
from assistant.schema import Citation
from ingest.models import Chunk


class GlossaryAnswers(Drafting):
    """Answers 「〇〇とは」 questions about the guide's own terms."""

    def _glossary_answer(self, d: RouteDecision, query: str, language: str, persona: str) -> Draft:
        """The term card (meaning, 正式名称, 言い換え) with its source, then where the guide
        spells it out, how it uses the term, and what else answers the question as asked.
        Terms asked about together (「AとBって、それぞれどういう意味？」) get a card each, in the
        order asked, before the passages."""
        e = d.term
        assert e is not None
        en = language == "en"
        citations: list[Citation] = []
        lines: list[str] = []

        def add(label: str, chunk: Chunk, start: int, end: int, score: float = 0.0) -> None:
            cite = self._cite(len(citations) + 1, chunk, start, end, score)
            citations.append(cite)
            lines.append(f"{label}「{self._shown(cite)}」[{cite.n}]")

        for term in d.terms or (e,):
            self._card(term, en, citations, lines, add)
        hits = self._hits(query, persona)  # one retrieval serves the usage passage and the extra sentences
        if not d.terms:
            surfaces = [e.term, *e.aliases]
            usage = self._usage(hits, surfaces, {c.chunk_id for c in citations})
            if usage is None:  # the question's own passages never use the term: look for the term itself
                # a passage that uses the term contains it: BM25 finds it, no second embedding
                usage = self._usage(self._hits(f"{e.term} {e.rephrase}", persona, k=6, mode="bm25"), surfaces,
                                    {c.chunk_id for c in citations})
            if usage is not None:
                add("Used in the guide: " if en else "使われ方: ", *usage)
        # what else answers the question: a passage that speaks of the term ('nagekomi', 投げ込み, asked
        # in English shares only "pilot" with 「…250件以上の実証実験…」, which would read as the answer)
        named = [s for t in d.terms or (e,) for s in (t.term, *t.aliases) if len(s) >= 2]
        for c in self._best_sentences(query, persona, exclude={c.chunk_id for c in citations}, n=2, hits=hits):
            if any(s in c.text for s in named):
                add("", c.chunk, c.start, c.end, c.score)
        return Draft("\n".join(lines), citations)

    def _card(self, e, en: bool, citations: list[Citation], lines: list[str], add) -> None:
        """One term's card: its meaning with the source, 正式名称, 言い換え and the guide's details."""
        reading = f"（{e.reading}）" if e.reading else ""
        full = self._full_name(e) if e.category == "略称" else None
        host = self._chunk_containing(e.meaning, prefer=("glossary", "footnote", "body", "table"))
        # a meaning that names its own term (「トライアル発注制度は、…」,「「外部不経済」とは、…」) is not
        # introduced with 「…とは、」 again
        says_term = e.meaning.lstrip("「『").startswith(e.term)
        head = (f"{e.term}{reading}: {e.en or e.meaning}." if en
                else f"{e.term}{reading}：{e.meaning}" if says_term else f"{e.term}{reading}とは、{e.meaning}")
        if host is not None:
            i = host.text.find(e.meaning)
            cite = self._cite(len(citations) + 1, host, i, i + len(e.meaning))
            citations.append(cite)
            n = cite.n
            head += (f" (p.{cite.pages[0]})\nIn the guide's words: 「{e.meaning}」[{n}]" if en and cite.pages
                     else f"\nIn the guide's words: 「{e.meaning}」[{n}]" if en else f"[{n}]")
        lines.append(head)
        if full:
            lines.append(f"Full name in the guide: {full}" if en else f"正式名称: {full}")
        if e.rephrase:
            lines.append(f"Plain Japanese: {e.rephrase}" if en else f"言い換え例: {e.rephrase}")
        if e.detail:
            where = self._chunk_containing(e.detail, prefer=("body", "table", "case", "column"))
            if where is not None:
                i = where.text.find(e.detail)
                add("Details: " if en else "内容: ", where, i, i + len(e.detail))

    @staticmethod
    def _usage(hits, surfaces: list[str], skip: set[str]) -> tuple[Chunk, int, int] | None:
        """The first sentence among the hits that uses the term (any of its surface forms)."""
        for h in hits:
            if h.chunk.id in skip or h.chunk.kind in ("glossary", "reference", "footnote", "figure"):
                continue
            for a, b in sentences_of(h.chunk.text):
                if any(s in h.chunk.text[a:b] for s in surfaces):
                    return h.chunk, a, b
        return None

    def _full_name(self, e) -> str | None:
        """The longest spelled-out form of an abbreviation that the guide itself prints."""
        forms = [a for a in e.aliases if not a.isascii() and len(a) > len(e.term)
                 and any(a in c.text or any(a in h for h in c.section_path) for c in self.guide.chunks)]
        return max(forms, key=len) if forms else None
