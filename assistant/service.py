"""The Assistant: question → route → retrieval → grounded answer with citations.

The default answerer is extractive (no LLM). Every citation's quote is checked to be
a verbatim substring of its chunk before it is shown. Each route's answerer is its own
module (assistant/answer_*.py); this class routes, checks, annotates and saves.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Protocol, Sequence

from assistant import inputs
from assistant.abstain import AbstainConfig, EN_STOP, exclusions, latin_names, off_guide, on_topic_en, weak
from assistant.answer_abstain import AbstainAnswers
from assistant.answer_figure import FigureAnswers
from assistant.answer_glossary import GlossaryAnswers
from assistant.answer_locate import LocateAnswers
from assistant.answer_qa import QaAnswers
from assistant.answer_reading import ReadingAnswers
from assistant.drafting import Draft
from assistant.enumerations import Enumerations
from assistant.followup import resolve
from assistant.language import detect_language
from assistant.lead_ranker import LeadRanker
from assistant.neighbours import Neighbours
from assistant.persona import infer_persona
from assistant.router import RouteDecision, Router, describes_figure, locate_topic
from assistant.schema import Annotation, Answer, Citation, GlossaryNote
from assistant.sentences import AnswerConfig, IdfTable, SentenceScorer
from assistant.store import StoreUnavailable
from assistant.terms import TermMatcher, note_of
from assistant.thesaurus import Thesaurus
from assistant.unmentioned import Unmentioned
from ingest.errors import NotFound
from ingest.models import Chunk, Guide, Node
from ingest.text import nfkc
from ingest.toc_en import TocEnglish

log = logging.getLogger("kanmin.assistant")

# a question describing a figure is about the figure of one of its best passages, not any lower
FIGURE_HITS = 2


class StoreLike(Protocol):
    def save_answer(self, answer: Answer, source: str = "api") -> None: ...
    def recent_turns(self, session_id: str, limit: int) -> list[Answer]: ...


class Generator(Protocol):
    def generate(self, question: str, language: str, citations: list[Citation], chunks: dict[str, Chunk]) -> tuple[str, list[Citation], str | None]: ...


class Assistant(QaAnswers, GlossaryAnswers, FigureAnswers, ReadingAnswers, LocateAnswers, AbstainAnswers):
    def __init__(self, guide: Guide, retriever, store: StoreLike | None = None,
                 abstain: AbstainConfig | None = None, generator: Generator | None = None,
                 history_turns: int = 6, thesaurus: Thesaurus | None = None, toc_en: TocEnglish | None = None,
                 english_words: Sequence[str] = (), lead_ranker: LeadRanker | None = None):
        self.guide = guide
        self.retriever = retriever
        self.store = store
        self.abstain_cfg = abstain or AbstainConfig()
        self.generator = generator
        self.history_turns = history_turns
        self.thesaurus = thesaurus or Thesaurus({}, {})
        self.toc_en = toc_en or TocEnglish()
        self.lead_ranker = lead_ranker
        self.answer_cfg = AnswerConfig(max_hits=6, rank_weight=0.3, max_sentences=5, min_ratio=0.55, per_chunk=3,
                                       extend_chars=200, sentence_hits=4, neighbour_hits=3, bank_nodes=1, bank_rank=1.0,
                                       dense_weight=0.65, coverage_slots=1, list_after_lead=True, list_host_leads=True,
                                       extend_ratio=0.6, back_ratio=0.8, supports=6, support_ratio=0.7,
                                       lead_back_ratio=0.95, quoted_supports=1, part_quoted=2,
                                       list_first=True, stated_leads=True, thesaurus_replaces=True, title_chars=40,
                                       typed_next=True, asked_weight=0.7, asked_lo=0.81, asked_hits=3, asked_rank=4.0,
                                       lead_top=12, before_lead=True, whole_lead=True, example_point=1,
                                       part_label_chars=20, side_neutral=True, footnote_cov=0.3, list_first_at=1,
                                       typed_lead_first=True, note_cut=True, headed_list=True,
                                       lead_paragraph=True, latin_df=3, typed_from=1, anaphor_back=True,
                                       part_leads_first=True, rank_parts=True, part_passages=6, part_extend_chars=0,
                                       window_lead_in=True, extend_chars_en=175, figure_title_chars=40,
                                       pointer_back=300, locate_titles=6, locate_title_min=0.34,
                                       locate_lead=False, locate_outline_after=True, locate_outlines=1)
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
        self._filled_spans: dict[str, list] = {}  # per detail kind, the sentences holding one (QaAnswers._filled)
        self.exclusions = exclusions(guide.chunks)
        guide_text = "\n".join(c.text for c in guide.chunks)
        self.unmentioned = Unmentioned(guide_text, retriever.tokenizer.proper_nouns,
                                       [*self.thesaurus.ja, *self.thesaurus.en, *(e.term for e in guide.glossary),
                                        *guide.en_aliases],
                                       english=[*english_words, *self.toc_en.headings.values(),
                                                *self.toc_en.figures.values(), *self.toc_en.items.values(),
                                                *(e.en for e in guide.glossary), *guide.en_aliases,
                                                *self.thesaurus.en, *self.thesaurus.en_phrases])
        # every English word of the glossary's translations counts as on-topic too
        self.en_words = frozenset(w.lower() for e in guide.glossary for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", e.en)
                                  if w.lower() not in EN_STOP)
        self.en_names = latin_names(nfkc(guide_text), known=[*self.thesaurus.lexicon, *self.thesaurus.en])

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
        history: list[Answer] = []
        saved = True
        if self.store is not None and session:
            try:
                history = self.store.recent_turns(session, self.history_turns)
            except StoreUnavailable:  # an answer needs no state: answer as a first question, say so
                saved = False
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
            try:
                self.store.save_answer(ans, source=source)
            except StoreUnavailable:
                saved = False
        if not saved:
            # not silent: the caller sees saved=false, the log names the answer (the store logged why)
            log.warning("answer not saved", extra={"fields": {"answer_id": ans.id, "source": source}})
            ans.saved = False
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
            if len(d.figures) > 1:
                return self._figures_answer(d.figures, language, query, persona)
            return self._figure_answer(d.figure, language, query, persona)
        if d.route == "reading_path":
            return self._reading_answer(query, language, persona)
        # a locate question searches for its topic, not for "where in the guide"
        topic = locate_topic(query) if d.route == "locate" else query
        hits = self._hits(topic, persona)
        excluded = self._excluded(query, language, hits)
        if excluded is not None:
            return excluded
        if d.route == "qa" and describes_figure(query):
            # the figure it describes, when the search's best passages are that figure's own
            shown = next((h.chunk.figure for h in hits[:FIGURE_HITS] if h.chunk.figure is not None), None)
            if shown is not None:
                draft = self._figure_answer(shown, language, query, persona)
                draft.route, draft.reason = "figure", f"図表{shown}の内容を説明で尋ねる質問"
                return draft
        if (word := off_guide(query)) is not None:
            return self._abstain(hits, language, None, f"ガイドの扱わない話題 (「{word}」)", kind="off_topic")
        names = self.unmentioned.find(query)  # an English question: its acronyms (GDPR) only
        if names:
            return self._unmentioned(hits, language, names)
        query = topic
        if (language == "en" and not on_topic_en(query, self.en_words, self.en_names, self.thesaurus.places)
                and not self.matcher.find(query)):
            return self._abstain(hits, language, None, "英語の質問にガイドの主題に関わる語がない", kind="off_topic")
        support = self._support(query, hits)
        if weak(support, language, self.abstain_cfg):
            return self._abstain(hits, language, support)
        if d.route == "locate":
            return self._locate_answer(query, hits, language)
        return self._qa_answer(query, hits, language, persona)

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
