"""The Assistant: question → route → retrieval → grounded answer with citations.

The default answerer is extractive (no LLM). Every citation's quote is checked to be
a verbatim substring of its chunk before it is shown.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from assistant import inputs
from assistant.abstain import AbstainConfig, Support, EN_STOP, exclusions, on_topic_en, weak
from assistant.asked_detail import DetailKind, asked_detail, states
from assistant.followup import resolve
from assistant.enumerations import LIST_QUESTION, Enumerations, Item
from assistant.language import detect_language
from assistant.neighbours import Neighbours
from assistant.persona import infer_persona
from assistant.router import RouteDecision, Router, locate_topic, question_parts
from assistant.schema import Annotation, Answer, Citation, GlossaryNote, ReadingStep, SectionRef
from assistant.sentences import AnswerConfig, Candidate, IdfTable, SentenceScorer, answer_types, select
from assistant.table_rows import rows_view
from assistant.terms import TermMatcher, note_of
from assistant.thesaurus import Thesaurus
from ingest.errors import NotFound
from ingest.models import Chunk, Guide, Node
from ingest.text import canonical, nfkc, sentence_spans
from ingest.toc_en import TocEnglish

log = logging.getLogger("kanmin.assistant")

NO_ANSWER = {"ja": "ガイドにはこの質問に直接答える記載が見当たりません。", "en": "The guide has no passage that directly answers this question."}
NEAREST = {"ja": "近い内容の箇所:", "en": "The nearest sections are:"}


class StoreLike(Protocol):
    def save_answer(self, answer: Answer, source: str = "api") -> None: ...
    def recent_turns(self, session_id: str, limit: int) -> list[Answer]: ...


class Generator(Protocol):
    def generate(self, question: str, language: str, citations: list[Citation], chunks: dict[str, Chunk]) -> tuple[str, list[Citation], str | None]: ...


_ASKS_COVERAGE = re.compile(
    r"(解説|説明|記載|掲載|紹介|扱)(して|され|っ)?て?(い|お)?(ます|る)(か|の)|載って(ます|る)|取り上げ|"
    r"does (the|this) guide (cover|discuss|explain|include)|is .* (covered|discussed) in the guide", re.I)


def _toc_id(section_id: str) -> str:
    """c06.s03.u04.e04 → c06.s03.u04 (the deepest TOC node)."""
    return ".".join(p for p in section_id.split(".") if re.fullmatch(r"c\d+|s\d+|u\d+", p))


def _pages_label(pages: list[int]) -> str:
    if not pages:
        return ""
    return f"p.{pages[0]}" if pages[0] == pages[-1] else f"pp.{pages[0]}–{pages[-1]}"


@dataclass(frozen=True)
class _Pooled:
    """A chunk of the answer pool where a hit is expected (only ``.chunk`` is read)."""

    chunk: Chunk


@dataclass
class Draft:
    answer: str
    citations: list[Citation]
    abstained: bool = False
    route: str | None = None
    reason: str | None = None
    reading_path: list[ReadingStep] | None = None
    nearest: list[SectionRef] | None = None
    abstain_reason: str | None = None


class Assistant:
    def __init__(self, guide: Guide, retriever, store: StoreLike | None = None,
                 abstain: AbstainConfig | None = None, generator: Generator | None = None,
                 history_turns: int = 6, thesaurus: Thesaurus | None = None, toc_en: TocEnglish | None = None):
        self.guide = guide
        self.retriever = retriever
        self.store = store
        self.abstain_cfg = abstain or AbstainConfig()
        self.generator = generator
        self.history_turns = history_turns
        self.thesaurus = thesaurus or Thesaurus({}, {})
        self.toc_en = toc_en or TocEnglish()
        self.answer_cfg = AnswerConfig(max_hits=6, rank_weight=0.3, max_sentences=5, min_ratio=0.55, extend_chars=350,
                                       sentence_hits=4, neighbour_hits=3, bank_nodes=1, bank_rank=1.0,
                                       dense_weight=0.65, coverage_slots=1, list_after_lead=True,
                                       extend_ratio=0.6, back_ratio=0.8)
        self.neighbours = Neighbours(guide)
        self.enumerations = Enumerations(guide)
        self.matcher = TermMatcher.of_guide(guide)  # + everyday words, as notes only (never routes)
        self.router = Router(self.matcher, guide.figures)
        self._figures = {f.number: f for f in guide.figures}
        tokenize = retriever.tokenizer.tokenize
        table = getattr(retriever, "tokens", None)  # the build's tokens of the guide's texts
        if table is not None:
            self.scorer = SentenceScorer(tokenize, IdfTable(table.chunk_tokens), known=table.by_text)
        else:
            self.scorer = SentenceScorer(tokenize, IdfTable(tokenize(c.text) for c in guide.chunks))
        self.nodes: dict[str, Node] = {}
        self._walk(guide.tree)
        self.chunks = {c.id: c for c in guide.chunks}
        self._token_memo: dict[tuple[str, object], frozenset[str]] = {}
        self.exclusions = exclusions(guide.chunks)
        # every English word of the glossary's translations counts as on-topic too
        self.en_words = frozenset(w.lower() for e in guide.glossary for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", e.en)
                                  if w.lower() not in EN_STOP)

    def _walk(self, nodes: list[Node]) -> None:
        for n in nodes:
            self.nodes[n.id] = n
            self._walk(n.children)

    # ---- public API -------------------------------------------------------------
    def ask(self, question: object, persona: object = None, session_id: object = None, mode: object = None,
            source: str = "api") -> Answer:
        t0 = time.perf_counter()
        q = inputs.check_question(question)
        explicit = inputs.check_persona(persona)
        mode_s = inputs.check_mode(mode) or "extractive"
        session = inputs.check_session(session_id)
        language = detect_language(q)
        history = self.store.recent_turns(session, self.history_turns) if (self.store and session) else []
        resolved = resolve(q, history)
        query = resolved or q
        if explicit and explicit != "any":
            who, who_reason = explicit, "指定された立場"
        else:
            who, who_reason = infer_persona(query)
        decision = self.router.route(q if not resolved else query)
        draft = self._answer(decision, query, language, who)
        route = draft.route or decision.route
        reason = draft.reason or decision.reason
        answer_mode, fallback = "extractive", None
        if mode_s == "generative" and route == "qa" and not draft.abstained:
            draft, answer_mode, fallback = self._generate(query, language, draft)
        citations = [c for c in draft.citations if self._quote_ok(c)]
        # quotes the answer text already holds need no second scan (a generative answer's do)
        glossary = self.matcher.notes(q, draft.answer, *(c.quote for c in citations if c.quote not in draft.answer))
        ans = Answer(
            id=uuid.uuid4().hex, question=q, answer=draft.answer, language=language, route=route,
            route_reason=f"{reason}; 立場: {who_reason}", persona=who, abstained=draft.abstained,
            abstain_reason=draft.abstain_reason if draft.abstained else None,
            citations=citations, glossary=glossary, reading_path=draft.reading_path or [],
            nearest_sections=draft.nearest or [], mode=answer_mode, fallback=fallback,
            session_id=session, resolved_question=resolved,
            latency_ms=round((time.perf_counter() - t0) * 1000, 2),
        )
        if self.store is not None:
            self.store.save_answer(ans, source=source)
        return ans

    def glossary(self, q: str | None = None) -> list[GlossaryNote]:
        # one matching for every front door (ingest.glossary_search), the translator's own index
        return [note_of(e) for e in self.matcher.search.search(q)]

    def glossary_term(self, term: str) -> GlossaryNote:
        e = self.matcher.search.lookup(term)
        if e is None:
            raise NotFound("unknown_term", f"no glossary entry for {term!r}")
        return note_of(e)

    def annotate(self, text: object) -> list[Annotation]:
        return self.matcher.annotate(inputs.check_annotate_text(text))

    def chunk(self, chunk_id: str) -> Chunk:
        c = self.chunks.get(chunk_id)
        if c is None:
            raise NotFound("chunk_not_found", f"no chunk with id {chunk_id!r}")
        return c

    def section(self, section_id: str) -> tuple[Node, list[Chunk]]:
        node = self.nodes.get(section_id)
        if node is None:
            raise NotFound("section_not_found", f"no section with id {section_id!r}")
        return node, [c for c in self.guide.chunks if c.section_id == section_id or c.section_id.startswith(section_id + ".")]

    # ---- routes -----------------------------------------------------------------
    def _answer(self, d: RouteDecision, query: str, language: str, persona: str) -> Draft:
        if d.route == "glossary" and d.term is not None:
            return self._glossary_answer(d, query, language, persona)
        if d.route == "figure" and d.figure is not None:
            return self._figure_answer(d.figure, language, query, persona)
        if d.route == "reading_path":
            return self._reading_answer(query, language, persona)
        # a locate question searches for its topic, not for "where in the guide"
        topic = locate_topic(query) if d.route == "locate" else query
        hits = self._hits(topic, persona)
        excluded = self._excluded(query, language, hits)
        if excluded is not None:
            return excluded
        query = topic
        if language == "en" and not on_topic_en(query, self.en_words) and not self.matcher.find(query):
            return self._abstain(hits, language, None, "英語の質問にガイドの主題に関わる語がない", kind="off_topic")
        support = self._support(query, hits)
        if weak(support, language, self.abstain_cfg):
            return self._abstain(hits, language, support)
        if d.route == "locate":
            return self._locate_answer(query, hits, language)
        return self._qa_answer(query, hits, language, persona)

    def _hits(self, query: str, persona: str, k: int = 8, mode: str = "hybrid"):
        return self.retriever.retrieve(query, persona=None if persona == "any" else persona, k=k, mode=mode,
                                       extra=self._extra(query))

    def _meaning(self, query: str):
        """(chunk id, start, end) → cosine of that sentence to the question, or None."""
        vectors = getattr(self.retriever, "sentences", None)
        if vectors is None:
            return None
        qv = self.retriever.query_vector(query, self._extra(query))
        return lambda cid, a, b: vectors.similarity(qv, cid, a, b)

    def _extra(self, query: str) -> list[str]:
        """The question's thesaurus words, passed with it to every search (one query vector per answer)."""
        return self.thesaurus.expand(query)

    def _query_tokens(self, query: str) -> frozenset[str]:
        """The question's words with their glossary and thesaurus expansions (memoised: an
        answer scores support, sentences and parts with the same question)."""
        key = (query, self.retriever.config)  # the eval may swap the fusion config (expansions)
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
        for word in self.thesaurus.expand(query):
            toks |= set(self.retriever.tokenizer.tokenize(word))
        if detect_language(query) == "en":
            # English words cannot match Japanese text; only the glossary's Japanese terms can
            toks = {t for t in toks if not t.isascii()} or toks
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

    def _figure_refs(self, text: str, named: set[int], language: str = "ja") -> str:
        """「（図表11「…」p.25）」 for each figure the quote refers to (図表28にて…) and the answer has
        not named yet: the reader learns what and where it is without the figure itself."""
        out = []
        for m in _FIGURE_REF.finditer(nfkc(text)):
            n = int(m.group(1))
            f = self._figures.get(n)
            if f is None or n in named:
                continue
            named.add(n)
            if language == "ja":
                out.append(f"図表{n}「{f.title}」{_pages_label([f.page])}")
            else:
                en = self.toc_en.figure(n)
                out.append(f"Figure {n} “{en}”, {_pages_label([f.page])}" if en
                           else f"Figure {n} 「{f.title}」, {_pages_label([f.page])}")
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
        return sorted(pool.values(), key=lambda p: p[1])

    def _qa_answer(self, query: str, hits, language: str, persona: str = "any") -> Draft:
        qt = self._query_tokens(query)
        cands = self.scorer.candidates(qt, self._pool(query, hits), self.answer_cfg,
                                       answer_types(query), self._meaning(query))
        detail = asked_detail(query)
        if detail is not None and not any(states(detail, c.text) for c in sorted(cands, key=lambda c: -c.score)[:10]):
            # asked for a detail (a fee, a name, a date, a contact) the guide's passages do not
            # state: quoting the topical text would read as an answer
            return self._not_stated(hits, language, detail)
        parts = question_parts(query)
        chosen = select(cands, self.answer_cfg) if len(parts) == 1 else self._per_part(query, parts, hits, persona)
        if not chosen:
            return self._abstain(hits, language, None)
        if len(parts) == 1:
            chosen = self._with_own_side(chosen, cands, persona)
        chosen = [self._with_items(c) for c in chosen]
        items = self._list_items(query, chosen)
        if items and all(any(c.chunk.id == i.chunk.id and c.start <= i.start and i.end <= c.end for c in chosen)
                         for i in items):
            items = []  # a lead-in passage already quotes the whole list
        if items:  # an item line the scorer picked is shown in the list, in the guide's order
            chosen = [c for c in chosen if not any(i.chunk.id == c.chunk.id and c.start <= i.start and i.end <= c.end
                                                   for i in items)] or chosen[:1]
        return self._compose(chosen, language, items, lead_first=len(parts) == 1, persona=persona)

    def _per_part(self, query: str, parts: list[str], hits, persona: str) -> list[Candidate]:
        """Sentences for each part of a two-part question, in the order asked: one ranking
        for the whole would spend every sentence on the part with more matching words.

        Each part adds its own search to the whole question's hits, and its own words weigh its
        sentences. A Japanese part searches by BM25 only; an English part also searches by
        meaning, with the whole question's vector (no second embedding)."""
        cfg = self.answer_cfg
        share = max(1, cfg.max_sentences // len(parts))
        meaning = self._meaning(query)
        whole = self.retriever.query_vector(query, self._extra(query))
        chosen: list[Candidate] = []
        for k, part in enumerate(parts):
            # a later part may lean on the first for its subject (「…認定は？ 申請はいつでもできる？」)
            search = f"{part} {parts[0]}" if k else part
            # Japanese words find their passages by BM25 alone; English ones need the meaning
            # (and the question bank): the whole question's vector, so an answer costs one embedding
            mode = "hybrid" if detect_language(part) == "en" else "bm25"
            own = self.retriever.retrieve(search, persona=None if persona == "any" else persona, k=cfg.max_hits,
                                          mode=mode, extra=self._extra(search), vector=whole)
            merged = list({h.chunk.id: h for pair in zip(own, hits) for h in pair}.values()) or list(hits)
            pool = self._pool(query, merged, extras=False)
            cands = [c for c in self.scorer.candidates(self._query_tokens(part), pool, cfg, answer_types(part), meaning)
                     if not any(o.chunk.id == c.chunk.id and o.start < c.end and c.start < o.end for o in chosen)]
            n = share + (cfg.max_sentences - share * len(parts) if k == 0 else 0)
            chosen += select(cands, dataclasses.replace(cfg, max_sentences=n))
        return chosen

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
        return c

    def _list_items(self, query: str, chosen: list[Candidate]) -> list[Item]:
        """The items of the guide's enumeration that one of the answer's leading passages
        belongs to, when the question asks for a set of things (観点, パターン, how to…); of
        several, the list whose passage and items share most words with the question."""
        if not LIST_QUESTION.search(nfkc(query)):
            return []
        qt = self._query_tokens(query)
        best, best_cov = [], -1.0
        for c in chosen:
            if c.rank >= self.answer_cfg.list_max_rank:
                continue
            items = self.enumerations.for_chunk(c.chunk)
            if items and items is not best:
                cov = self.scorer.coverage(qt, c.text + "\n" + "\n".join(i.text for i in items))
                if cov > best_cov:
                    best, best_cov = items, cov
        return best

    def _compose(self, chosen: list[Candidate], language: str, items: list[Item] = (),
                 lead_first: bool = True, persona: str = "any") -> Draft:
        # the answer first: the best-scoring passage leads, the others follow in reading order
        # (the parts of a two-part question keep the order asked)
        if lead_first and len(chosen) > 1:
            lead = self._lead(chosen, persona)
            chosen = [lead] + [c for c in chosen if c is not lead]
        citations, parts = [], []
        figures_named: set[int] = set()
        for i, c in enumerate(chosen, 1):
            citations.append(self._cite(i, c.chunk, c.start, c.end, c.score))
            other = i > 1 and _other_side(c.chunk, persona)
            shown = rows_view(c.chunk, c.text)  # table rows as 「column: value」; the citation stays verbatim
            refs = self._figure_refs(c.text, figures_named, language)  # ours, after the marker: not the quote
            if language == "ja":
                parts.append(("（相手側の視点から）" if other else "") + f"{shown}[{i}]{refs}")
            else:
                parts.append(("From the other side: " if other else "") + f"「{shown}」[{i}]{refs}")
        listed = []
        # one citation per passage: the items of one chunk are quoted as one block (their lines
        # as the guide prints them), the marker after the block's last item
        for group in _by_chunk(items):
            first, last = group[0], group[-1]
            cite = self._cite(len(citations) + 1, first.chunk, first.start, last.end)
            citations.append(cite)
            for k, item in enumerate(group):
                mark = f"[{cite.n}]" if k == len(group) - 1 else ""
                listed.append(f"・{item.text}{mark}" if language == "ja" else f"- 「{item.text}」{mark}")
        at = 1 if self.answer_cfg.list_after_lead else len(parts)
        if language == "en":
            block = ["The guide lists:\n" + "\n".join(listed)] if listed else []
            body = "\n".join([f"- {p}" for p in parts[:at]] + block + [f"- {p}" for p in parts[at:]])
            head = self._where_en(citations[0].section_path, citations[0].pages) if citations else ""
            return Draft(f"The guide answers this in {head}:\n{body}", citations)
        # one passage per line: the reader sees where one quote ends and the next begins
        block = ["ガイドが挙げている項目:\n" + "\n".join(listed)] if listed else []
        return Draft("\n".join(parts[:at] + block + parts[at:]), citations)

    def _with_own_side(self, chosen: list[Candidate], cands: list[Candidate], persona: str) -> list[Candidate]:
        """An official's answer draws on 第3章 自治体編, a startup's on 第4章: when no chosen
        passage was written for the asker's side, the best candidate that was joins (taking the
        weakest place) if it scores nearly as well as the best."""
        if persona not in SIDES or any(persona in c.chunk.personas for c in chosen):
            return chosen
        best = max(c.score for c in chosen)
        own = [c for c in cands if persona in c.chunk.personas and c.score >= SIDE_MARGIN * best]
        if not own:
            return chosen
        pick = select([max(own, key=lambda c: c.score)], dataclasses.replace(self.answer_cfg, max_sentences=1))
        keep = sorted(chosen, key=lambda c: -c.score)[:max(1, self.answer_cfg.max_sentences - 1)]
        return sorted(keep + pick, key=lambda c: (c.rank, c.start))

    def _lead(self, chosen: list[Candidate], persona: str) -> Candidate:
        """The best-scoring passage; for an official or a startup, the best one written for
        their side when it scores nearly as well (第3章 自治体編 and 第4章 スタートアップ編
        often mirror each other)."""
        best = max(chosen, key=lambda c: c.score)
        if _POINTER.search(best.text):
            # 「上記の…」 / 「以下にまとめました」 point at text the reader cannot see: a passage that
            # stands on its own leads if it scores nearly as well
            plain = [c for c in chosen if not _POINTER.search(c.text) and c.score >= POINTER_MARGIN * best.score]
            if plain:
                best = max(plain, key=lambda c: c.score)
        if persona not in SIDES:
            return best
        own = [c for c in chosen if persona in c.chunk.personas and c.score >= SIDE_MARGIN * best.score]
        return max(own, key=lambda c: c.score) if own else best

    def _where_en(self, path: list[str], pages: list[int]) -> str:
        """“English title of the deepest TOC heading on ``path``” (pages); kept short, since the
        quotes that follow are what answers."""
        label = f" ({_pages_label(pages)})" if pages else ""
        for n in range(len(path), 0, -1):
            en = self.toc_en.heading(path[:n])
            if en:
                return f"“{en}”{label}"
        return f"{' > '.join(path[-2:])}{label}"

    def _excluded(self, query: str, language: str, hits) -> Draft | None:
        q = nfkc(query)
        for ex in self.exclusions:
            term = next((t for t in ex.terms if re.search(rf"(?<![A-Za-z]){re.escape(t)}(?![A-Za-z])", q)), None)
            if term is None:
                continue
            chunk = self.chunks[ex.chunk_id]
            draft = self._abstain(hits, language, None, f"ガイドが扱わないと明記している「{term}」についての質問",
                                  kind="excluded_topic")
            cite = self._cite(1, chunk, ex.start, ex.end)
            note = (f"ガイドは{term}を扱わない方針です: 「{cite.quote}」[1]" if language == "ja"
                    else f"The guide states that it does not cover {term}: 「{cite.quote}」[1]")
            draft.answer = note + "\n" + draft.answer
            draft.citations = [cite]
            if _ASKS_COVERAGE.search(q):
                # "does the guide cover PFI?" is answered (no, and here is where it says so)
                draft.abstained, draft.route = False, None
            return draft
        return None

    def _not_stated(self, hits, language: str, detail: DetailKind) -> Draft:
        """The guide covers the topic but not the detail asked: say so, and where the topic is."""
        draft = self._abstain(hits, language, None, f"{detail.ja}を尋ねているが、該当箇所にその記載がない",
                              kind="not_stated")
        first = (f"ガイドには{detail.ja}についての記載はありません。" if language == "ja"
                 else f"The guide does not state {detail.en}.")
        draft.answer = first + "\n" + draft.answer.split("\n", 1)[1]
        draft.route = None  # the question is in scope; only its detail is missing
        return draft

    def _abstain(self, hits, language: str, support: Support | None, why: str | None = None,
                 kind: str = "weak_support") -> Draft:
        seen: dict[str, SectionRef] = {}
        for h in hits:
            tid = _toc_id(h.chunk.section_id) or h.chunk.section_id
            node = self.nodes.get(tid)
            if node is None or tid in seen:
                continue
            seen[tid] = SectionRef(section_id=tid, section_path=node.path, pages=list(range(node.pages[0], node.pages[1] + 1)))
            if len(seen) == 3:
                break
        nearest = list(seen.values())
        lines = [NO_ANSWER[language], NEAREST[language]] + [
            f"・{' > '.join(s.section_path)}（{_pages_label(s.pages)}）" for s in nearest]
        reason = why or "ガイドの記載による裏付けが弱い" + (
            f" (語の一致 {support.coverage:.2f}, 意味の近さ {support.dense:.2f})" if support else "")
        return Draft("\n".join(lines), [], abstained=True, route="out_of_scope", reason=reason, nearest=nearest,
                     abstain_reason=kind)

    def _glossary_answer(self, d: RouteDecision, query: str, language: str, persona: str) -> Draft:
        """The term card (meaning, 正式名称, 言い換え) with its source, then where the guide
        spells it out, how it uses the term, and what else answers the question as asked."""
        e = d.term
        assert e is not None
        en = language == "en"
        reading = f"（{e.reading}）" if e.reading else ""
        full = self._full_name(e) if e.category == "略称" else None
        citations: list[Citation] = []
        lines: list[str] = []

        def add(label: str, chunk: Chunk, start: int, end: int, score: float = 0.0) -> None:
            cite = self._cite(len(citations) + 1, chunk, start, end, score)
            citations.append(cite)
            lines.append(f"{label}「{self._shown(cite)}」[{cite.n}]")

        host = self._chunk_containing(e.meaning, prefer=("glossary", "footnote", "body", "table"))
        head = f"{e.term}{reading}: {e.en or e.meaning}." if en else f"{e.term}{reading}とは、{e.meaning}"
        if host is not None:
            i = host.text.find(e.meaning)
            cite = self._cite(1, host, i, i + len(e.meaning))
            citations.append(cite)
            head += (f" (p.{cite.pages[0]})\nIn the guide's words: 「{e.meaning}」[1]" if en and cite.pages
                     else f"\nIn the guide's words: 「{e.meaning}」[1]" if en else "[1]")
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
        surfaces = [e.term, *e.aliases]
        hits = self._hits(query, persona)  # one retrieval serves the usage passage and the extra sentences
        usage = self._usage(hits, surfaces, {c.chunk_id for c in citations})
        if usage is None:  # the question's own passages never use the term: look for the term itself
            # a passage that uses the term contains it: BM25 finds it, no second embedding
            usage = self._usage(self._hits(f"{e.term} {e.rephrase}", persona, k=6, mode="bm25"), surfaces,
                                {c.chunk_id for c in citations})
        if usage is not None:
            add("Used in the guide: " if en else "使われ方: ", *usage)
        for c in self._best_sentences(query, persona, exclude={c.chunk_id for c in citations}, n=2, hits=hits):
            add("", c.chunk, c.start, c.end, c.score)
        return Draft("\n".join(lines), citations)

    @staticmethod
    def _usage(hits, surfaces: list[str], skip: set[str]) -> tuple[Chunk, int, int] | None:
        """The first sentence among the hits that uses the term (any of its surface forms)."""
        for h in hits:
            if h.chunk.id in skip or h.chunk.kind in ("glossary", "reference", "footnote", "figure"):
                continue
            for a, b in _sentences(h.chunk.text):
                if any(s in h.chunk.text[a:b] for s in surfaces):
                    return h.chunk, a, b
        return None

    def _full_name(self, e) -> str | None:
        """The longest spelled-out form of an abbreviation that the guide itself prints."""
        forms = [a for a in e.aliases if not a.isascii() and len(a) > len(e.term)
                 and any(a in c.text or any(a in h for h in c.section_path) for c in self.guide.chunks)]
        return max(forms, key=len) if forms else None

    def _best_sentences(self, query: str, persona: str, exclude: set[str], n: int,
                        hits=None, extras: bool = True) -> list[Candidate]:
        """``extras=False`` when the caller chose the hits (a figure's section, one section of a
        locate answer): then no chunk from elsewhere may join."""
        hits = hits if hits is not None else self._hits(query, persona)
        qt = self._query_tokens(query)
        cands = [c for c in self.scorer.candidates(qt, self._pool(query, hits, extras), self.answer_cfg,
                                                   answer_types(query), self._meaning(query))
                 if c.chunk.id not in exclude]
        cfg = self.answer_cfg
        return select(cands, dataclasses.replace(cfg, max_sentences=n, per_chunk=1))

    def _chunk_containing(self, text: str, prefer: tuple[str, ...]) -> Chunk | None:
        found = [c for c in self.guide.chunks if text and text in c.text]
        found.sort(key=lambda c: prefer.index(c.kind) if c.kind in prefer else len(prefer))
        return found[0] if found else None

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
            where = " > ".join(caption.section_path)
        else:
            where = ""
        # the body sentence that introduces the figure (…（図表 N）)
        pat = re.compile(rf"図表\s*{number}(?!\d)")
        intro = None
        for c in self.guide.chunks:
            if c.kind in ("body", "case", "column") and pat.search(c.text):
                spans = _sentences(c.text)
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
        if intro:
            citations.append(self._cite(len(citations) + 1, *intro))
        if tables:
            t = tables[0]
            first = t.text.split("\n")
            snippet = "\n".join(first[:4])
            citations.append(self._cite(len(citations) + 1, t, 0, len(snippet)))
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
                    if _toc_id(h.chunk.section_id) == _toc_id(caption.section_id)]
            for c in self._best_sentences(query, persona, {c.chunk_id for c in citations}, 2, hits=near, extras=False):
                citations.append(self._cite(len(citations) + 1, c.chunk, c.start, c.end, c.score))
        lines = [head] + [f"「{self._shown(c)}」[{c.n}]" for c in citations[1:]]
        if caption is not None:
            lines[0] += "[1]"
        return Draft("\n".join(lines), citations)

    def _reading_answer(self, query: str, language: str, persona: str) -> Draft:
        rows = [r for r in self.guide.reading_guide if r.chapters]
        if not rows:
            return self._qa_answer(query, self._hits(query, persona), language)
        q = nfkc(query)
        sector = persona if persona in ("municipality", "startup", "intermediary") else None
        if sector is None:
            sector = "municipality" if re.search(r"市長|首長|局長|職員|自治体|city|mayor|municipal", q, re.I) else None
        cands = [r for r in rows if sector is None or r.persona == sector] or rows

        def fit(r) -> int:
            s = 0
            words = " ".join(r.readers + [r.role])
            for kw in re.findall(r"[一-龥ァ-ヴー]{2,}|[A-Za-z]{3,}", words):
                if kw in q:
                    s += 2
            if re.search(r"首長|市長|町長|局長|部長|社長|代表|CEO|経営|decision|mayor|executive|head", q, re.I):
                s += 3 if r.role == "意思決定者" else 0
            if re.search(r"担当|実務|職員|staff|officer|negotiat|practition|coordinator|コーディネーター", q, re.I):
                s += 2 if r.role in ("実務者", "—") else 0
            if re.search(r"原課|契約|財政|contract|financ|budget", q, re.I):
                s += 3 if any("原課" in x or "契約" in x for x in r.readers) else 0
            return s

        row = max(cands, key=fit)
        steps = []
        for i, ch in enumerate(row.chapters, 1):
            entry = next((e for e in self.guide.toc if e.level == 1 and canonical(e.heading) == canonical(ch)), None)
            steps.append(ReadingStep(order=i, heading=ch, pages=[entry.page] if entry else [],
                                     why="、".join(row.wants[:2])))
        citations: list[Citation] = []
        table = next((c for c in self.guide.chunks if c.figure == row.source_figure and c.kind == "table"
                      and all(ch in c.text for ch in row.chapters[:1]) and any(x in c.text for x in row.readers[:1])), None)
        if table is not None:
            line = next((ln for ln in table.text.split("\n") if row.readers and row.readers[0] in ln), table.text.split("\n")[0])
            a = table.text.find(line)
            citations.append(self._cite(1, table, a, a + len(line)))
        who = "・".join(row.readers) or row.sector
        if language == "ja":
            head = f"図表{row.source_figure}の推奨閲覧箇所では、{row.sector}の{row.role}（{who}）には次の順に読むことを勧めています" + ("[1]。" if citations else "。")
            body = [f"{s.order}. {s.heading}（p.{s.pages[0]}〜）" if s.pages else f"{s.order}. {s.heading}" for s in steps]
        else:
            head = (f"Figure {row.source_figure} recommends this reading order for {row.sector} {row.role} ({who})"
                    + ("[1]:" if citations else ":"))
            body = [f"{s.order}. {s.heading} (from p.{s.pages[0]})" if s.pages else f"{s.order}. {s.heading}" for s in steps]
        return Draft("\n".join([head] + body), citations, reading_path=steps,
                     reason=f"図表{row.source_figure}の行: {row.sector}/{row.role}/{who}")

    def _locate_answer(self, query: str, hits, language: str) -> Draft:
        """The top sections with their printed pages, each with the passage that matched; the
        best one opens with its first sentence, and the best two list their sub-headings."""
        groups: dict[str, list] = {}
        # the hits and what joins them (section questions, nearest sentences), in rank order
        for chunk, _ in self._pool(query, hits):
            if chunk.kind in ("footnote", "reference", "figure"):
                continue
            groups.setdefault(_toc_id(chunk.section_id) or chunk.section_id, []).append(_Pooled(chunk))
        citations, lines = [], []
        qt = self._query_tokens(query)
        for rank, (tid, hs) in enumerate(list(groups.items())[:3]):
            node = self.nodes.get(tid)
            if node is None:
                continue
            # the best-matching section gets its opening and a passage, the others one passage
            best = self._best_sentences(query, "any", set(), 2 if rank == 0 else 1, hits=hs, extras=False)
            if not best:
                continue
            if rank == 0 and self.answer_cfg.locate_lead:
                # where the section starts, in its own opening sentence (what it is about)
                lead = self._opening(tid)
                if lead is not None and not any(c.chunk.id == lead.chunk.id and c.start == lead.start for c in best):
                    best = [lead] + best[:self.answer_cfg.locate_lead_keep]
            label = _pages_label(list(range(node.pages[0], node.pages[1] + 1)))
            quotes = []
            for c in best:
                cit = self._cite(len(citations) + 1, c.chunk, c.start, c.end, c.score)
                citations.append(cit)
                # the deepest heading (a point, a column, a case) says more than the section
                inner = c.chunk.section_path[len(node.path):]
                where = f"{' > '.join(inner)}（{_pages_label(cit.pages)}）: " if inner else ""
                quotes.append(f"{where}「{self._shown(cit)}」[{cit.n}]")
            figures = self._figures_in(tid, qt)
            outline = self._outline(node, language) if rank < self.answer_cfg.locate_outlines else ""
            lines.append(f"・{' > '.join(node.path)}（{label}）: " + " ".join(quotes) + outline
                         + ("".join(f"\n   {f}" for f in figures)))
        if not citations:
            return self._abstain(hits, language, None)
        if language == "ja":
            head = "ガイドの該当箇所:"
        else:
            best = self.nodes.get(next(iter(groups)))
            pages = list(range(best.pages[0], best.pages[1] + 1)) if best else citations[0].pages
            head = f"The guide covers this mainly in {self._where_en(best.path if best else citations[0].section_path, pages)}:"
        return Draft("\n".join([head] + lines), citations)

    @staticmethod
    def _outline(node: Node, language: str, limit: int = 8) -> str:
        """The section's own sub-headings (its points and sub-sections) with their pages: what
        a reader looking for the place will scan first."""
        subs = [c for c in node.children if re.match(r"[pu]\d+$", c.id.rsplit(".", 1)[-1])][:limit]
        if len(subs) < 2:
            return ""
        label = "この節の見出し" if language == "ja" else "Its headings"
        return f"\n   {label}: " + " / ".join(
            f"{c.heading}（{_pages_label(list(range(c.pages[0], c.pages[1] + 1)))}）" for c in subs)

    def _opening(self, toc_id: str) -> Candidate | None:
        """The first sentence of a section's first prose chunk."""
        for c in self.guide.chunks:
            if (c.section_id == toc_id or c.section_id.startswith(toc_id + ".")) and c.kind in ("body", "case", "column"):
                spans = _sentences(c.text)
                if spans:
                    a, b = spans[0]
                    return Candidate(c, 0, a, b, c.text[a:b])
        return None

    def _figures_in(self, toc_id: str, query_tokens: set[str]) -> list[str]:
        """Captions of the section's figures that share words with the question."""
        out = []
        for c in self.guide.chunks:
            if c.kind == "figure" and _toc_id(c.section_id) == toc_id and self.scorer.coverage(query_tokens, c.text) > 0.2:
                out.append(f"{c.text}（{_pages_label(c.pages)}）")
        return out[:3]

    def _generate(self, query: str, language: str, draft: Draft):
        if self.generator is None:
            return draft, "extractive", "generative mode is not configured (KANMIN_LLM_BACKEND=none)"
        try:
            text, cites, problem = self.generator.generate(query, language, draft.citations, self.chunks)
        except Exception as exc:  # any LLM failure falls back to the extractive answer
            log.warning("generative answer failed, falling back: %s", type(exc).__name__)
            return draft, "extractive", f"llm_error: {type(exc).__name__}: {str(exc)[:200]}"
        if not text.strip() or not cites:
            return draft, "extractive", problem or "llm_unusable: no supported citation in the generated answer"
        return Draft(text, cites, reading_path=draft.reading_path), "generative", problem


def _by_chunk(items: list[Item]) -> list[list[Item]]:
    """Runs of items printed on adjacent lines of one chunk (only bullets and line breaks between
    them); items with prose between them, or split by a page break, stay apart."""
    runs: list[list[Item]] = []
    for item in items:
        prev = runs[-1][-1] if runs else None
        if (prev is not None and prev.chunk.id == item.chunk.id and item.start >= prev.end
                and not re.search(r"[^\s\-・●■◆□]", item.chunk.text[prev.end:item.start])):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


# a sentence that introduces the items after it
LEAD_IN = re.compile(r"(以下|次|下記)の|以下を|以下に|次のとおり|[0-9０-９一二三四五六七八九]+\s*(つ|点|種類|項目)|ポイント(として|は)")

SIDES = ("municipality", "startup")
# a quote that points at text the reader cannot see (上記の / 前述の / 以下にまとめ / 下記の)
_POINTER = re.compile(r"上記|前述|下記|以下に(まとめ|示|整理)|次のとおり|こちらを参照")
POINTER_MARGIN = 0.8
_FIGURE_REF = re.compile(r"図表\s*(\d{1,3})")
SIDE_MARGIN = 0.8  # the asker's side leads when its passage scores at least this share of the best


def _other_side(chunk: Chunk, persona: str) -> bool:
    """A passage written for the other side only (an official reading 第4章 スタートアップ編)."""
    return persona in SIDES and bool(chunk.personas) and all(p in SIDES and p != persona for p in chunk.personas)


def _sentences(text: str) -> list[tuple[int, int]]:
    return [(a, b) for a, b in sentence_spans(text) if b - a >= 8]
