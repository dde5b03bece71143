"""What every route's answerer shares: the draft an answerer returns, and the helpers that
retrieve, score, cite and quote (the Assistant mixes the route answerers over this base).

A route answerer lives in its own module (answer_qa, answer_glossary, answer_figure,
answer_reading, answer_locate, answer_abstain) as a mixin of ``Drafting``: they share the
Assistant's state (guide, retriever, scorer, configs) and call each other's routes through it
(a reading-path question with no reading guide falls back to the qa answer).
"""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass

from assistant.abstain import Support
from assistant.asked_detail import asked_details
from assistant.language import detect_language, reads_as_romaji
from assistant.lead_ins import FORWARD, LEAD_IN, PARAGRAPH_CHARS
from assistant.schema import Citation, ReadingStep, SectionRef
from assistant.sentences import Candidate, answer_types, blended, select
from assistant.table_rows import rows_view
from ingest.models import Chunk
from ingest.page_labels import page_label
from ingest.text import nfkc, sentence_spans

log = logging.getLogger("kanmin.assistant")

NO_ANSWER = {"ja": "ガイドにはこの質問に直接答える記載が見当たりません。", "en": "The guide has no passage that directly answers this question."}
NEAREST = {"ja": "近い内容の箇所:", "en": "The nearest sections are:"}
FIGURE_REF = re.compile(r"図表\s*(\d{1,3})")  # a passage naming a figure (…（図表 28）)


def toc_id(section_id: str) -> str:
    """c06.s03.u04.e04 → c06.s03.u04 (the deepest TOC node)."""
    return ".".join(p for p in section_id.split(".") if re.fullmatch(r"c\d+|s\d+|u\d+", p))


def sentences_of(text: str) -> list[tuple[int, int]]:
    return [(a, b) for a, b in sentence_spans(text) if b - a >= 8]


@dataclass(frozen=True)
class Pooled:
    """A chunk of the answer pool where a hit is expected (only ``.chunk`` is read)."""

    chunk: Chunk


@dataclass
class Draft:
    """A route's answer before the Assistant checks its quotes, adds glossary notes and saves it."""

    answer: str
    citations: list[Citation]
    abstained: bool = False
    route: str | None = None
    reason: str | None = None
    reading_path: list[ReadingStep] | None = None
    nearest: list[SectionRef] | None = None
    abstain_reason: str | None = None


def asking_words(query: str) -> frozenset[str]:
    """The English words of ``query`` that ask for a detail ("how many months", "share price")."""
    return frozenset(w.lower() for d in asked_details(query) for m in d.ask.finditer(query)
                     for w in re.findall(r"[A-Za-z]+", m.group(0)))


class Drafting:
    """Retrieval, scoring, citing and quoting shared by the route answerers (state: see Assistant)."""

    def _hits(self, query: str, persona: str, k: int = 8, mode: str = "hybrid"):
        return self.retriever.retrieve(query, persona=None if persona == "any" else persona, k=k, mode=mode,
                                       extra=self._extra(query))

    def _meaning(self, query: str):
        """(chunk id, start, end) → cosine of that sentence to the question, or None."""
        vectors = getattr(self.retriever, "sentences", None)
        if vectors is None:
            return None
        qv = self.retriever.query_vector(query, self._extra(query))
        cfg = self.answer_cfg
        return lambda cid, a, b: blended(vectors.similarity(qv, cid, a, b), vectors.asked_similarity(qv, cid, a, b), cfg)

    def _extra(self, query: str) -> list[str]:
        """The question's thesaurus words, passed with it to every search (one query vector per answer),
        after the guide's terms it spells in romaji ("kan no ketteiken mondai" → 官の決定権問題): the
        asker named them, as if in Japanese (not the ubiquitous ones the expander skips: "kanmin renkei")."""
        words = self.thesaurus.expand(query, asking=asking_words(query))
        spelt = self.retriever.expander.spelt(nfkc(query))
        return list(dict.fromkeys(spelt + words)) if spelt else words

    def _query_tokens(self, query: str) -> frozenset[str]:
        """The question's words with their glossary and thesaurus expansions (memoised: an
        answer scores support, sentences and parts with the same question)."""
        # the eval may swap the fusion config (expansions) and the answer config
        key = (query, self.retriever.config, self.answer_cfg.thesaurus_replaces, self.answer_cfg.latin_df)
        toks = self._token_memo.get(key)
        if toks is None:
            toks = self._token_memo[key] = frozenset(self._expand_tokens(query))
            if len(self._token_memo) > 256:
                self._token_memo.pop(next(iter(self._token_memo)))
        return toks

    def _expand_tokens(self, query: str) -> set[str]:
        q = nfkc(query)
        toks = set(self.retriever.tokenizer.tokenize(q))
        exp = self.retriever.expand(q)
        for extra in exp.extra:
            toks |= set(self.retriever.tokenizer.tokenize(extra))
        for term in exp.terms:
            toks |= set(self.retriever.tokenizer.tokenize(term))
        added: set[str] = set()
        for word in self.thesaurus.expand(query, asking=asking_words(query)):
            added |= set(self.retriever.tokenizer.tokenize(word))
        if self.answer_cfg.thesaurus_replaces:
            # the asker's phrase is stood in for by the guide's words (アーバンイノベーションジャパン →
            # Urban Innovation JAPAN): its own tokens, absent from the guide, no longer count as missing
            for phrase in self.thesaurus.phrases(query):
                toks -= set(self.retriever.tokenizer.tokenize(phrase)) - added
        toks |= added
        if detect_language(query) == "en":
            # English words cannot match Japanese text; only the glossary's Japanese terms can,
            # and the names the guide prints in Latin letters (CureApp, LIMEX): a word in at most
            # AnswerConfig.latin_df of its chunks (not "startup" or "city" of its English names),
            # and not a romanised place (Hiroshima: the place checks and the thesaurus's 広島県 read those)
            rare = self.answer_cfg.latin_df
            toks = {t for t in toks if not t.isascii() or (
                len(t) >= 3 and 0 < self.scorer.idf.df.get(t, 0) <= rare and not reads_as_romaji(t))} or toks
        return toks

    def _support(self, query: str, hits) -> Support:
        qt = self._query_tokens(query)
        cov = max((self.scorer.coverage(qt, h.chunk.text) for h in hits[:3]), default=0.0)
        dense = max((h.components["dense"].score or 0.0 for h in hits if "dense" in h.components
                     and h.components["dense"].score is not None), default=0.0)
        return Support(coverage=cov, dense=dense)

    def _cite(self, n: int, chunk: Chunk, start: int, end: int, score: float = 0.0) -> Citation:
        return Citation(n=n, chunk_id=chunk.id, section_path=chunk.section_path,
                        pages=chunk.pages_of(start, end), quote=chunk.text[start:end], score=round(score, 4))

    def _captions(self, text: str) -> str:
        """The titles of the figures ``text`` cites (what _figure_refs shows beside its quote)."""
        return "\n".join(f.title for m in FIGURE_REF.finditer(nfkc(text)) if (f := self._figures.get(int(m.group(1)))))

    def _figure_refs(self, text: str, named: set[int], language: str = "ja") -> str:
        """「（図表11「…」p.25）」 for each figure the quote refers to (図表28にて…) and the answer has
        not named yet: the reader learns what and where it is without the figure itself."""
        out = []
        for m in FIGURE_REF.finditer(nfkc(text)):
            n = int(m.group(1))
            f = self._figures.get(n)
            if f is None or n in named:
                continue
            named.add(n)
            if language == "ja":
                out.append(f"図表{n}「{f.title}」{page_label([f.page])}")
            else:
                # cut as a figure answer cuts it: the quote, not the figure's long title, is the answer
                en = clip_title(self.toc_en.figure(n) or "", self.answer_cfg.figure_title_chars)
                out.append(f"Figure {n} “{en}”, {page_label([f.page])}" if en
                           else f"Figure {n} 「{f.title}」, {page_label([f.page])}")
        if not out:
            return ""
        return f"（{'、'.join(out)}）" if language == "ja" else f" ({'; '.join(out)})"

    def _shown(self, c: Citation) -> str:
        """The quote as the answer text shows it (table rows labelled; the citation stays verbatim)."""
        chunk = self.chunks.get(c.chunk_id)
        return rows_view(chunk, c.quote) if chunk is not None else c.quote

    def _quote_ok(self, c: Citation) -> bool:
        chunk = self.chunks.get(c.chunk_id)
        ok = chunk is not None and bool(c.quote) and c.quote in chunk.text
        if not ok:
            log.error("dropped a citation whose quote is not in its chunk: %s", c.chunk_id)
        return ok

    def _pool(self, query: str, hits, extras: bool = True) -> list[tuple[Chunk, float]]:
        """The chunks whose sentences compete for the answer, each with its rank: the hits;
        beside the best hits, their section neighbours and footnotes; then the chunks of the
        sentences nearest in meaning (a fact stated in one sentence can sit in a chunk whose
        other sentences are about something else)."""
        cfg = self.answer_cfg
        pool: dict[str, tuple[Chunk, float]] = {}

        def add(chunk: Chunk, rank: float) -> None:
            if chunk.id not in pool or pool[chunk.id][1] > rank:
                pool[chunk.id] = (chunk, rank)

        for i, h in enumerate(hits[:cfg.max_hits]):
            add(h.chunk, i)
        for i, h in enumerate(hits[:cfg.neighbour_hits]):
            for c in self.neighbours.siblings(h.chunk):
                add(c, i + cfg.neighbour_rank)
            for c in self.neighbours.footnotes(h.chunk):
                add(c, i + cfg.footnote_rank)
        if not extras:  # a part of a question: its own hits only (the extras follow the whole question)
            return sorted(pool.values(), key=lambda p: p[1])
        if cfg.bank_nodes:
            for j, c in enumerate(self.retriever.question_chunks(query, cfg.bank_nodes, cfg.bank_chunks,
                                                                 extra=self._extra(query))):
                add(c, cfg.bank_rank + j // cfg.bank_chunks)
        vectors = getattr(self.retriever, "sentences", None)
        if vectors is not None and cfg.sentence_hits:
            seen = set(pool)
            extra = 0
            for cid, _, _, _ in vectors.top(self.retriever.query_vector(query, self._extra(query)), cfg.sentence_hits):
                if cid not in seen and cid in self.chunks:
                    seen.add(cid)
                    add(self.chunks[cid], cfg.max_hits + extra)
                    extra += 1
        if vectors is not None and cfg.asked_hits:
            # the chunks of the sentences that answer the questions nearest this one, in that order
            near: list[str] = []
            for cid, _, _ in vectors.asked_top(self.retriever.query_vector(query, self._extra(query)), 4 * cfg.asked_hits):
                if cid not in near:
                    near.append(cid)
            for j, cid in enumerate(near[:cfg.asked_hits]):
                if cid in self.chunks and cid not in pool:  # (a hit keeps its own rank)
                    add(self.chunks[cid], cfg.asked_rank + j)
        return sorted(pool.values(), key=lambda p: p[1])

    def _best_sentences(self, query: str, persona: str, exclude: set[str], n: int,
                        hits=None, extras: bool = True, window: bool = True) -> list[Candidate]:
        """``extras=False`` when the caller chose the hits (a figure's section, one section of a
        locate answer): then no chunk from elsewhere may join. ``window=False``: each sentence
        alone, without the neighbours a quote window would add."""
        hits = hits if hits is not None else self._hits(query, persona)
        qt = self._query_tokens(query)
        cands = [c for c in self.scorer.candidates(qt, self._pool(query, hits, extras), self.answer_cfg,
                                                   answer_types(query), self._meaning(query))
                 if c.chunk.id not in exclude]
        cfg = self.answer_cfg
        # a passage ending in a lead-in (【…3つの出口】) brings what it introduces, as in a qa answer
        return [self._with_items(c) for c in select(cands, dataclasses.replace(
            cfg, max_sentences=n, per_chunk=1, **({} if window else {"extend_chars": 0})))]

    def _with_items(self, c: Candidate) -> Candidate:
        """A passage that ends by introducing a list (「以下を含む各内容について協議し…。」) is
        quoted with the items that follow it in the same chunk: one unit, one citation."""
        last = c.chunk.text[c.start:c.end].rstrip().rsplit("。", 2)[-2:]
        if not LEAD_IN.search("。".join(last)):
            return c
        for items in self.enumerations.lists.get(c.chunk.section_id, []):
            run = [i for i in items if i.chunk.id == c.chunk.id]
            if run and run[0].start >= c.end and not re.search(r"[^\s\-・●■◆□①-⑳]", c.chunk.text[c.end:run[0].start]):
                end = run[-1].end
                return dataclasses.replace(c, end=end, text=c.chunk.text[c.start:end])
        # 「具体的には、以下のようなステップを踏むことが考えられます。」 ending its line, with the
        # steps as the next paragraph of prose (「まず、…。次に、…。」) and no list of items: the
        # paragraph is what it introduces
        rest = c.chunk.text[c.end:]
        if (FORWARD.search(last[-1] if last[-1] else "。".join(last)) and rest.startswith("\n")
                and not self.enumerations.following(c.chunk, c.end, 2)):
            para = rest[1:].split("\n", 1)[0]
            if para.strip() and len(para) <= PARAGRAPH_CHARS and not para.lstrip().startswith(("-", "・", "図表")):
                end = c.end + 1 + len(para.rstrip())
                return dataclasses.replace(c, end=end, text=c.chunk.text[c.start:end])
        return c

    def _chunk_containing(self, text: str, prefer: tuple[str, ...]) -> Chunk | None:
        found = [c for c in self.guide.chunks if text and text in c.text]
        found.sort(key=lambda c: prefer.index(c.kind) if c.kind in prefer else len(prefer))
        return found[0] if found else None

    def _where_en(self, path: list[str], pages: list[int]) -> str:
        """“English title of the deepest TOC heading on ``path``” (pages); kept short, since the
        quotes that follow are what answers."""
        label = f" ({page_label(pages)})" if pages else ""
        for n in range(len(path), 0, -1):
            en = self.toc_en.heading(path[:n])
            if en:
                return f"“{clip_title(en, self.answer_cfg.title_chars)}”{label}"
        return f"{' > '.join(path[-2:])}{label}"


def clip_title(title: str, chars: int) -> str:
    """A long English heading cut at a word before ``chars`` characters, marked with …: the
    quotes that follow are what answers (0: never cut)."""
    if not chars or len(title) <= chars:
        return title
    cut = title.rfind(" ", 0, chars)
    return title[: cut if cut > chars // 2 else chars].rstrip(" ,:;(") + "…"
