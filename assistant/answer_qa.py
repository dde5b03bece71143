"""The qa route: the best answer unit first (a sentence with its window, a lead-in with its
items, a table row), then the supporting passages; lists from the hit's own section only."""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

import numpy as np

from assistant.asked_detail import (
    STATED_ELSEWHERE, STATED_MIN_CONTEXT, DetailKind, asked_details, stating, with_previous,
)
from assistant.drafting import Draft, Drafting, clip_title, sentences_of
from assistant.enumerations import LIST_QUESTION, Item, text_lines
from assistant.language import detect_language
from assistant.lead_ins import FORWARD, LEAD_IN
from assistant.lead_ranker import Question, reorder, top_rows
from assistant.neighbours import footnote_number
from assistant.router import question_parts
from assistant.sentences import BACK_POINTER, CONTINUES, Candidate, answer_types, select, units
from assistant.table_rows import CELL, rows_view
from ingest.chunker import footnote_markers, marker_ends
from ingest.models import Chunk
from ingest.page_labels import page_label
from ingest.text import nfkc, quotable_spans, sentence_spans


LIST_SLOT = object()  # where the list goes among the passages
SIDES = ("municipality", "startup")
# the asker's side leads when its passage scores at least this share of the best (0.8 → 0.7 with
# answer units, on the eval set asked as each side: own-side leads 0.46 → 0.56 for officials, 0.43 →
# 0.52 for startups; first-250 key phrases 0.608 → 0.607, page hit@3 0.912 → 0.918). 0.7 → 0.6 with
# the sentence question bank, whose questions do not know the side (on the 1,028 asked as each side:
# own-side leads 0.38 / 0.43 → 0.45 / 0.49, officials / startups, against 0.42 / 0.48 before the bank;
# key phrases 0.834 → 0.841, first-250 0.614 → 0.606; 0.5: 0.51 / 0.54 but first-250 0.593)
# With the lead ranker, out of fold on the 1,088 asked as each side (first 250 / own-side leads,
# officials / startups): 0.6 0.642 / 0.44 / 0.48, 0.7 0.647 / 0.38 / 0.42, 0.8 0.652 / 0.33 / 0.38:
# kept at 0.6, since the first 250 gains little for what the asker's side loses (2026-11-30)
# The margin guards against the other side only (AnswerConfig.side_neutral): a passage for both
# sides (第5章) that scores best leads over the asker's chapter, as relevance says.
SIDE_MARGIN = 0.6
# Tried: the asker's side leads only over the other side's passage, not over the chapters for
# everyone (第2章, 第5章): first-250 0.548 → 0.556, key phrases 0.798 → 0.795, own-side leads
# 0.54/0.56 → 0.42/0.47 with other-side leads unchanged. Not kept: too small a gain (2026-11-29).
# Measured again with the lead ranker and one quoted support on the 1,088 (2026-11-30): first 250
# 0.677 → 0.717 (out of fold 0.652 → 0.684), other-side leads 0.17 / 0.08 → 0.13 / 0.07. Kept.
# A fitted lead order was tried in place of the score for choosing the lead (a linear score over 15
# sentence features, fitted listwise on the tuning questions' key phrases; top sentence holding a
# key phrase 0.39 → 0.43 cross-validated). First-250 key phrases rose 0.579 → 0.60 only by letting
# the other side's passage lead more often (own-side leads 0.55 → 0.35–0.39): with the side rule
# kept as strong as here it gained nothing (0.578 at own-side 0.48–0.51), and for askers without
# a side +0.002. Not kept (2026-11-29).
# a quote that points at text the reader cannot see (上記の / 前述の / 以下にまとめ / 下記の)
POINTER = re.compile(r"上記|前述|下記|以下に(まとめ|示|整理)|次のとおり|こちらを参照")
POINTER_MARGIN = 0.8
HEADING_CHARS = 40  # a line without 「。」 up to this long, quoted as a passage, is a heading
_FORWARD = re.compile(r"下記|以下に|次のとおり")
_ITEM_NEXT = re.compile(r"\s*(-\s*)?[①-⑳・●■◆□✓]")


def points_at_unseen(c: Candidate) -> bool:
    """「上記の…」 always; 「下記の要件…」 unless the items it announces follow it in its chunk
    (the quote window or the list brings them)."""
    m = POINTER.search(c.text)
    if m is None:
        return False
    return not (_FORWARD.match(m.group(0)) and _ITEM_NEXT.match(c.chunk.text[c.end:c.end + 40]))


_SENTENCE_END = re.compile(r"(?<=[。．！？!?])\s*|(?<=\.)\s+")
_JOINER = re.compile(r"^(?:(?:and|also|plus)\b[,\s]*|(?:あと|それと|それから|また)[、,]?\s*)", re.I)


def asked_in(part: str) -> str:
    """A part's label: its last sentence, the one that asks (「…11月に提案をもらった。来年度予算で
    いける？」 → 「来年度予算でいける？」), unless that is only a few words ("Why?"); without the word
    that joined it to the part before ("And how much…" → "how much…")."""
    pieces = [p for p in _SENTENCE_END.split(part.strip()) if p.strip()]
    last = pieces[-1].strip() if pieces else part
    label = last if len(pieces) > 1 and len(last) >= 8 else part
    return _JOINER.sub("", label) or label


def other_side(chunk: Chunk, persona: str) -> bool:
    """A passage written for the other side only (an official reading 第4章 スタートアップ編)."""
    return persona in SIDES and bool(chunk.personas) and all(p in SIDES and p != persona for p in chunk.personas)


def touching(a: Candidate, b: Candidate) -> bool:
    """Two passages of one chunk with nothing but whitespace between them."""
    if a.chunk.id != b.chunk.id:
        return False
    lo, hi = (a, b) if a.end <= b.start else (b, a)
    return lo.end <= hi.start and not a.chunk.text[lo.end:hi.start].strip()


def overlapping(a: Candidate, b: Candidate) -> bool:
    """Two passages of one chunk that share text."""
    return a.chunk.id == b.chunk.id and a.start < b.end and b.start < a.end


def joined(a: Candidate, b: Candidate) -> Candidate:
    """One passage spanning two of a chunk that touch or overlap, at the better one's score."""
    start, end = min(a.start, b.start), max(a.end, b.end)
    best = a if a.score >= b.score else b
    return dataclasses.replace(best, start=start, end=end, text=a.chunk.text[start:end],
                               rank=min(a.rank, b.rank))


def _inside(c: Candidate, passages: list[Candidate]) -> Candidate | None:
    """The passage among ``passages`` that overlaps ``c``, if any."""
    return next((o for o in passages if overlapping(o, c)), None)


def one_per_passage(chosen: list[Candidate]) -> list[Candidate]:
    """A window widened to bring its list's items may now hold another chosen passage, before or
    after it: the later of the two is dropped (one citation per passage). The lead stays as it was
    chosen, the answer first; keeping the widened window in its place instead made answers longer.
    (Passages that overlap without one holding the other are joined later, by ``read_on``.)"""
    out = list(chosen)
    k = 0
    while k < len(out):
        c = out[k]
        j = next((j for j, o in enumerate(out) if j != k and o.chunk.id == c.chunk.id
                  and o.start <= c.start and c.end <= o.end), None)
        if j is None:
            k += 1
        else:
            del out[max(j, k)]
            k = min(j, k)
    return out


def apart(chosen: list[Candidate], may_join: Callable[[Candidate, Candidate], bool]
          ) -> list[tuple[Candidate, Candidate]]:
    """Two overlapping passages that may not be one (each under its own part of a two-part
    question) are made to meet instead: the earlier ends where the later begins when it keeps
    most of its text (its window had read on into the later one's list: 「…次の3点の基準…。1. 新商品
    等が…」 before the part quoting the three points); else the later begins where the earlier
    ends; a later one the earlier already holds is dropped. One citation per passage either way.
    Returns (passage as chosen, as quoted) pairs, in order: the caller's keys follow a moved start."""
    out = [(c, c) for c in chosen]
    k = 0
    while k < len(out):
        for j in range(len(out) - 1, k, -1):
            a, b = out[k][1], out[j][1]
            if not overlapping(a, b) or may_join(a, b):
                continue
            head = a.chunk.text[a.start:b.start].rstrip() if b.start > a.start else ""
            tail = b.chunk.text[a.end:b.end].lstrip() if b.end > a.end else ""
            if not tail:  # the earlier already quotes all of it
                del out[j]
            elif 2 * len(head) >= len(a.text):
                out[k] = (out[k][0], dataclasses.replace(a, end=a.start + len(head), text=head))
            else:
                out[j] = (out[j][0], dataclasses.replace(b, start=b.end - len(tail), text=tail))
        k += 1
    return out


def read_on(chosen: list[Candidate], keep: Candidate | None = None,
            may_join: Callable[[Candidate, Candidate], bool] = lambda a, b: True) -> list[Candidate]:
    """One citation per passage, as the answer reads: two passages of a chunk that overlap (a
    window widened over another's sentences) are one, in the place of the first; so is a passage
    followed in the answer by the one that follows it in its chunk (nothing between them: the
    same text read on). The answer first and then the sentences before it stay two (that order
    is the point), and ``keep`` (a list's lead-in, which its items follow) is never widened: a
    passage overlapping it is dropped."""
    out = list(chosen)
    k = 0
    while k < len(out):
        a = out[k]
        j = next((j for j in range(k + 1, len(out)) if may_join(a, out[j]) and (
            overlapping(a, out[j]) or (j == k + 1 and touching(a, out[j]) and a.end <= out[j].start
                                       and keep is not a and keep is not out[j]))), None)
        if j is None:
            k += 1
        elif keep is a or keep is out[j]:
            del out[k if keep is out[j] else j]
        else:
            out[k] = joined(a, out.pop(j))
    return out


def by_chunk(items: list[Item]) -> list[list[Item]]:
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


class QaAnswers(Drafting):
    """Answers a question from the guide's passages (the default route)."""

    def _qa_answer(self, query: str, hits, language: str, persona: str = "any") -> Draft:
        qt = self._query_tokens(query)
        wanted = answer_types(query)  # the kind of fact asked: a date, a count, a sum, a duration
        cands = self.scorer.candidates(qt, self._pool(query, hits), self.answer_cfg, wanted, self._meaning(query))
        details = asked_details(query)
        about = (lambda c: self.scorer.coverage(qt, with_previous(c)) >= STATED_MIN_CONTEXT) if language == "ja" else None
        if details and language == "en":
            # an English question's words reach the guide only through the thesaurus, too few to
            # judge the sentence; a place it names (Tokyo → 東京都) must be the chunk's: one of
            # them, since the asker may say where they are from ("We're based in Osaka. If Tsukuba…");
            # in the chunk or its heading (事例紹介：…×兵庫県新温泉町教育委員会 above its sentences)
            places = self.retriever.tokenizer.place_names(" ".join(self._extra(query)))
            if places:
                about = lambda c: any(p in c.chunk.text or any(p in h for h in c.chunk.section_path) for p in places)
        # a figure's caption is shown with the sentence that cites it: it may state the detail
        detail, stated = next(((d, c) for d in details for c in [stating(d, cands, query, about, self._captions)]
                               if c is not None),
                              (details[0], None) if details else (None, None))
        if detail is not None and stated is None and language == "ja":
            # (an English question's words reach the guide only through the thesaurus: too few to
            # tell the sentence that answers from one that happens to hold a number)
            detail, stated = next(((d, c) for d in details
                                   if (c := self._stated_elsewhere(d, query, qt)) is not None), (detail, None))
        parts = question_parts(query)
        if detail is not None and stated is None and all(asked_details(p) for p in parts):
            # asked for a detail (a fee, a name, a date, a contact) the guide's passages do not
            # state — none of them, when it asks for several: quoting the topical text would read
            # as an answer. A part that asks no detail (「…どのくらいかかる？前金はお願いできる？」)
            # is answered with the passages.
            return self._not_stated(hits, language, detail)
        part_of: dict[tuple[str, int], int] = {}
        answered_by: dict[int, tuple[str, int]] = {}
        if len(parts) == 1:
            self._rank_leads(cands, query, qt, language)
            cfg = self.answer_cfg
            if language == "en" and cfg.extend_chars_en >= 0:
                cfg = dataclasses.replace(cfg, extend_chars=cfg.extend_chars_en)
            chosen = units(cands, cfg, lambda picked: self._pick_lead(picked, cands, persona),
                           lambda text: not POINTER.search(text), wanted)
            if chosen and cfg.pointer_back:
                chosen = self._above_chunk(chosen, cfg.pointer_back)
            if stated is not None:
                # the sentence that holds the asked detail (273件, 4.7%) is what answers: it leads,
                # in the unit that quotes it when one does, whichever side it is written for
                at = next((i for i, c in enumerate(chosen) if c.chunk.id == stated.chunk.id and c.start < stated.end
                           and stated.start < c.end), None)
                chosen = [stated] + chosen[:self.answer_cfg.supports] if at is None else self._typed_first(chosen, at)
                chosen = self._from_typed(chosen, lambda c: c.chunk.id == stated.chunk.id and c.start == stated.start)
            elif chosen and wanted and not any(w.search(chosen[0].text) for w in wanted):
                # "how many / when / how much": a unit holding a filler of the type asked leads
                # over a higher-scored one that holds none, unless that one is the asker's side's
                at = next((i for i, c in enumerate(chosen) if any(w.search(c.text) for w in wanted)), None)
                chosen = chosen if at is None else self._typed_first(chosen, at, persona)
            if stated is None and chosen and wanted:
                chosen = self._from_typed(chosen, lambda c: any(w.search(c.text) for w in wanted))
        else:
            whole_best = None
            if self.answer_cfg.whole_lead and cands:
                self._rank_leads(cands, query, qt, language)
                whole_best = max(cands, key=lambda c: c.score)
                if points_at_unseen(whole_best):  # 「上記の…」 would open a part with text unseen
                    whole_best = None
            chosen, part_of, answered_by = self._per_part(query, parts, hits, persona, whole_best)
        if not chosen:
            return self._abstain(hits, language, None)
        chosen = one_per_passage([self._with_items(c) for c in chosen])
        cut_hosts: list[Candidate] = []  # lead-ins cut out of their windows (they keep their place)
        items, host = self._list_items(query, chosen, cut_hosts)
        if items and all(any(c.chunk.id == i.chunk.id and c.start <= i.start and i.end <= c.end for c in chosen)
                         for i in items):
            items, host = [], None  # a lead-in passage already quotes the whole list
        if items:  # an item line the scorer picked is shown in the list, in the guide's order
            rest = [c for c in chosen if not any(i.chunk.id == c.chunk.id and c.start <= i.start and i.end <= c.end
                                                 for i in items)]
            if any(c.chunk.section_id == items[0].chunk.section_id for c in rest):
                chosen = rest
            else:  # only an item line was from the list's section: the list would stand among strangers
                items, host = [], None
            if host not in chosen:
                host = None
            if host is not None and len(parts) == 1 and self.answer_cfg.list_host_leads and host not in cut_hosts:
                # the list's own lead-in (「…4つの認識のズレについて確認していき…」) with its items
                # is the unit that answers: it leads
                chosen = [host] + [c for c in chosen if c is not host]
        notes = self._footnotes(chosen[0], query, qt) if len(parts) == 1 else []
        if notes:  # the lead's footnote that holds what is asked (「³⁰ 市町村 1,718、…」) follows it
            chosen = [self._until_marker(chosen[0], notes)] + notes + [
                c for c in chosen[1:] if all(c.chunk.id != f.chunk.id for f in notes)]
        # a question for a set of things (どんな進め方がある？) whose list has no lead-in among the
        # passages: the guide's list is the answer, before the passages
        first = (self.answer_cfg.list_first and bool(items) and host is None and len(parts) == 1
                 and bool(LIST_QUESTION.search(nfkc(query))))
        if first and self.answer_cfg.typed_lead_first and wanted \
                and any(w.search(chosen[0].text) for w in wanted):
            first = False  # 「どんな装置を何台…」: the lead holds the count asked; the list follows its passage
        if first and self.answer_cfg.list_first_at >= 0:
            at = next((k for k, c in enumerate(chosen) if c.chunk.section_id == items[0].chunk.section_id), len(chosen))
            if at - sum(f in notes for f in chosen[:at]) > self.answer_cfg.list_first_at:
                first = False  # the list stays, after its own section's passage
        # (a multi-part answer's passages sit under their parts' labels: joined only within a part,
        # and never one that a later part points at)
        if len(parts) > 1:
            chosen = self._apart(chosen, part_of, answered_by)
        pointed = set(answered_by.values())
        chosen = read_on(chosen, keep=host, may_join=lambda a, b: part_of.get((a.chunk.id, a.start))
                         == part_of.get((b.chunk.id, b.start)) and (b.chunk.id, b.start) not in pointed)
        return self._compose(chosen, language, items, persona=persona, host=host,
                             labels=(parts, part_of, answered_by) if len(parts) > 1 else None, list_first=first,
                             notes=notes)

    def _footnotes(self, lead: Candidate, query: str, qt: frozenset[str]) -> list[Candidate]:
        """The footnotes the lead's markers point at (「全国に 1,788 ある自治体³⁰」 → 「³⁰ 市町村 1,718、
        特別区 23、都道府県 47 の合計。…」) that hold the kind of fact the question asks for, or
        share enough of its words (AnswerConfig.footnote_cov; negative: never): each whole, as
        its own passage."""
        cov = self.answer_cfg.footnote_cov
        if cov < 0:
            return []
        wanted = answer_types(query) + [d.fill for d in asked_details(query)]
        out = []
        for n in footnote_markers(lead.text):
            f = self.neighbours.footnote_chunk.get(n)
            if f is None or f.id == lead.chunk.id or any(f is c.chunk for c in out):
                continue
            # (a note naming only a source counts too: skipping those lost key phrases, 0.890 → 0.888)
            if any(w.search(f.text) for w in wanted) or (cov and self.scorer.coverage(qt, f.text) >= cov):
                text = f.text.rstrip()
                out.append(Candidate(f, lead.rank, 0, len(text), text, lead.score))
        return out

    def _until_marker(self, lead: Candidate, notes: list[Candidate]) -> Candidate:
        """The lead up to the end of the sentence whose marker a brought footnote answers
        (AnswerConfig.note_cut): the footnote reads on from there, not after the window's rest."""
        if not self.answer_cfg.note_cut:
            return lead
        wanted = {footnote_number(f.text) for f in notes}
        ends = [end for n, end in marker_ends(lead.text) if n in wanted]
        if not ends:
            return lead
        at = lead.start + max(ends)
        end = next((b for a, b in sentence_spans(lead.chunk.text) if b >= at), lead.end)
        if end >= lead.end:
            return lead
        return dataclasses.replace(lead, end=end, text=lead.chunk.text[lead.start:end])

    def _rank_leads(self, cands: list[Candidate], query: str, qt: frozenset[str], language: str,
                    vector: np.ndarray | None = None) -> None:
        """The best-scored candidates in the lead ranker's order (AnswerConfig.lead_top), in place;
        after the asked-detail checks, which read the hand-weighted scores."""
        top = self.answer_cfg.lead_top
        if self.lead_ranker is None or not top or len(cands) < 2:
            return
        rows = top_rows(cands, top)
        reorder(cands, rows, self.lead_ranker.rank(cands, self._lead_question(query, qt, language, vector), rows))

    def _lead_question(self, query: str, qt: frozenset[str], language: str,
                       vector: np.ndarray | None = None) -> Question:
        """What the lead ranker's features read of the question (assistant/lead_ranker.py); its
        meaning from ``vector`` when given (a part of a question: the whole one's, no second embedding)."""
        vectors = getattr(self.retriever, "sentences", None)
        if vectors is not None:
            qv = self.retriever.query_vector(query, self._extra(query)) if vector is None else vector
            similarities = lambda keys: vectors.similarities(qv, keys)  # noqa: E731
        else:
            similarities = lambda keys: (np.full(len(keys), np.nan), np.full(len(keys), np.nan))  # noqa: E731
        return Question(query, language == "en", answer_types(query), lambda text: self.scorer.coverage(qt, text),
                        similarities, lambda c: self._with_items(c).end > c.end)

    @staticmethod
    def _apart(chosen: list[Candidate], part_of: dict[tuple[str, int], int],
               answered_by: dict[int, tuple[str, int]]) -> list[Candidate]:
        """``apart`` for a multi-part answer's passages; a passage that now begins later keeps its
        part (and the part that points at it keeps pointing)."""
        pairs = apart(chosen, lambda a, b: part_of.get((a.chunk.id, a.start)) == part_of.get((b.chunk.id, b.start)))
        for was, now in pairs:
            old, new = (was.chunk.id, was.start), (now.chunk.id, now.start)
            if old != new:
                if old in part_of:
                    part_of[new] = part_of[old]
                for k, v in answered_by.items():
                    if v == old:
                        answered_by[k] = new
        return [now for _, now in pairs]

    def _stated_elsewhere(self, detail: DetailKind, query: str, qt: frozenset[str]) -> Candidate | None:
        """A sentence anywhere in the guide that states the asked ``detail`` (its filler, agreeing
        with the question as ``stating`` requires) and, read with the sentence before it, shares
        at least STATED_ELSEWHERE of the question's words: the retrieved passages can miss the one
        sentence with the figure (「…活用していると回答した自治体はわずか4.7%に留まっています」 sits
        in a chunk ranked below the pool), and "the guide does not state it" would then be false."""
        # the question's own words, and with its expansions (the only Japanese an English question
        # has; for a Japanese one, a glossary term's expansion 「地方自治法施行令第167条…」 dilutes them)
        own = frozenset(self.retriever.tokenizer.tokenize(nfkc(query)))
        # a detail of one place (福岡市の認定期間) is not stated by another's (つくば市の有効期間)
        places = self.retriever.tokenizer.place_names(query)
        best, best_cov = None, STATED_ELSEWHERE
        for chunk, a, b in self._filled(detail):
            text = chunk.text[a:b]
            if not all(p in chunk.text for p in places):
                continue
            c = Candidate(chunk, float(self.answer_cfg.max_hits), a, b, text, 1.0)
            context = with_previous(c)
            cov = max(self.scorer.coverage(own, context), self.scorer.coverage(qt, context))
            if cov >= best_cov and stating(detail, [c], query, None, self._captions) is not None:
                best, best_cov = c, cov
        if best is not None:
            best.coverage = best_cov
        return best

    def _filled(self, detail: DetailKind) -> list[tuple[Chunk, int, int]]:
        """The guide's quotable sentences that hold a filler of ``detail`` as (chunk, start, end),
        computed once per kind."""
        spans = self._filled_spans.get(detail.name)
        if spans is None:
            spans = self._filled_spans[detail.name] = [
                (c, a, b) for c in self.chunks.values() for a, b in quotable_spans(c.text, c.kind)
                if detail.fill.search(c.text[a:b])]
        return spans

    def _typed_first(self, chosen: list[Candidate], at: int, side: str | None = None) -> list[Candidate]:
        """``chosen`` with its unit ``at`` moved to the front (AnswerConfig.stated_leads); with the
        asker's ``side``, not over a lead written for that side by a passage that is not."""
        if not self.answer_cfg.stated_leads or (
                side in SIDES and self._for_side(chosen[0], side) and not self._for_side(chosen[at], side)):
            return chosen
        return [chosen[at]] + chosen[:at] + chosen[at + 1:]

    def _from_typed(self, chosen: list[Candidate], typed: Callable[[Candidate], bool]) -> list[Candidate]:
        """The lead opening from its first sentence that is ``typed`` (holds the detail or the kind
        of fact asked) when that starts ``typed_from`` characters or more into it and reads alone;
        the lead's text before it follows as its own passage (AnswerConfig.typed_from)."""
        cut = self.answer_cfg.typed_from
        lead = chosen[0] if chosen else None
        if cut < 0 or lead is None:
            return chosen
        text = lead.chunk.text
        span = next(((a, b) for a, b in sentence_spans(text) if lead.start <= a and b <= lead.end
                     and typed(dataclasses.replace(lead, start=a, end=b, text=text[a:b]))), None)
        if span is None or span[0] - lead.start < cut or POINTER.search(text[span[0]:span[1]]) \
                or CONTINUES.match(text[span[0]:span[1]]):
            return chosen  # (one that points back, 「その結果…」, needs the text before it)
        at = span[0]
        before = text[lead.start:at].rstrip()
        return [dataclasses.replace(lead, start=at, text=text[at:lead.end]),
                dataclasses.replace(lead, end=lead.start + len(before), text=before)] + chosen[1:]

    def _per_part(self, query: str, parts: list[str], hits, persona: str, whole_best: Candidate | None = None
                  ) -> tuple[list[Candidate], dict[tuple[str, int], int], dict[int, tuple[str, int]]]:
        """Sentences for each part of a two-part question, in the order asked: one ranking
        for the whole would spend every sentence on the part with more matching words.

        Each part adds its own search to the whole question's hits, and its own words weigh its
        sentences. A Japanese part searches by BM25 only; an English part also searches by
        meaning, with the whole question's vector (no second embedding). Returns the passages;
        for each (chunk id, start), the part it answers; and for each later part whose best
        sentence an earlier part's passage already quotes, that passage (the part then points at
        it instead of quoting weaker sentences). ``whole_best``, the whole question's best
        candidate, is quoted under the part whose words it covers most: each part searched alone
        can miss the one sentence that answers both (「最大委託料6,100万円に対して4,949万円」)."""
        cfg = self.answer_cfg
        total = cfg.part_passages  # shared among the parts
        reach = cfg.extend_chars if cfg.part_extend_chars < 0 else cfg.part_extend_chars  # each window
        share = max(1, total // len(parts))
        meaning = self._meaning(query)
        whole = self.retriever.query_vector(query, self._extra(query))
        chosen: list[Candidate] = []
        part_of: dict[tuple[str, int], int] = {}
        answered_by: dict[int, tuple[str, int]] = {}
        seed_part = None
        if whole_best is not None:
            # not a part asking for a type (a count, a date, a period) it does not hold: 「…何自治体が
            # 入ってるの？あと、いつできた組織？」 → 「…2013年に設立しました。」 (no count) answers the second
            lacks = [bool(wants := answer_types(p)) and not any(w.search(whole_best.text) for w in wants) for p in parts]
            covered = [self.scorer.coverage(self._query_tokens(p), whole_best.text) for p in parts]
            seed_part = max(range(len(parts)), key=lambda k: (not lacks[k], covered[k]))
        for k, part in enumerate(parts):
            n = share + (total - share * len(parts) if k == 0 else 0)
            stated = self._definition_unit(part, chosen) or self._exclusion_unit(part)
            if stated is not None:
                # 「原課とは何ですか。また、どう連携すれば…？」: the part that asks what a term means
                # is answered by the term's meaning where the guide states it, as the card would;
                # a part about a topic the guide leaves out (PPP) by the sentence that says so
                part_of[(stated.chunk.id, stated.start)] = k
                chosen.append(stated)
                n -= 1
            if k == seed_part and n > 0 and _inside(whole_best, chosen) is None:
                part_of[(whole_best.chunk.id, whole_best.start)] = k
                chosen.append(whole_best)
                n -= 1
            if n <= 0:
                continue
            # a later part may lean on the first for its subject (「…認定は？ 申請はいつでもできる？」)
            search = f"{part} {parts[0]}" if k else part
            # Japanese words find their passages by BM25 alone; English ones need the meaning
            # (and the question bank): the whole question's vector, so an answer costs one embedding
            mode = "hybrid" if detect_language(part) == "en" else "bm25"
            own = self.retriever.retrieve(search, persona=None if persona == "any" else persona, k=cfg.max_hits,
                                          mode=mode, extra=self._extra(search), vector=whole)
            merged = list({h.chunk.id: h for pair in zip(own, hits) for h in pair}.values()) or list(hits)
            pool = self._pool(query, merged, extras=False)
            scored = self.scorer.candidates(self._query_tokens(part), pool, cfg, answer_types(part), meaning)
            if cfg.rank_parts:
                self._rank_leads(scored, part, self._query_tokens(part), detect_language(part), vector=whole)
            cands = [c for c in scored if _inside(c, chosen) is None]
            best = max(scored, key=lambda c: c.score, default=None)
            quoted = _inside(best, chosen) if best is not None and k else None
            key = (quoted.chunk.id, quoted.start) if quoted is not None else None
            owner = part_of.get(key) if key is not None else None
            if owner is not None and next(c for c in chosen if part_of.get((c.chunk.id, c.start)) == owner) is not quoted:
                # an earlier part's further passage (「参加者数 | 現地参加 218名…」 under "when was
                # it held?"), this part's best: quoted under this part, the one it answers, not above it
                chosen.remove(quoted)
                chosen.append(quoted)
                part_of[key] = k
                n -= 1
                if n <= 0:
                    continue
            elif quoted is not None and max((c.score for c in cands), default=0.0) < cfg.part_ref_ratio * best.score:
                # 「…いつ？それでどれくらい事例が生まれたの？」: the first part's passage already says
                # 「これまで500件を超える官民連携事例」; this part points at it, not at weaker text
                answered_by[k] = key
                continue
            # each part: its best passage first (one that stands on its own, if one scores nearly as
            # well as a 「上記の…」 one), then the rest by score
            picked = sorted(select(cands, dataclasses.replace(cfg, max_sentences=n, extend_chars=reach)),
                            key=lambda c: -c.score)
            if picked and points_at_unseen(picked[0]):
                plain = [c for c in picked if not points_at_unseen(c) and c.score >= POINTER_MARGIN * picked[0].score]
                if plain:
                    picked = [plain[0]] + [c for c in picked if c is not plain[0]]
            part_of.update({(c.chunk.id, c.start): k for c in picked})
            chosen += picked
        return chosen, part_of, answered_by

    def _above_chunk(self, chosen: list[Candidate], limit: int) -> list[Candidate]:
        """A lead that opens its chunk by pointing back (「上記のような民間提案窓口を通じて…」): the
        text it points at is the paragraph that ends the previous prose chunk of its section, quoted
        as its own passage before it: the paragraph when the two fit in ``limit`` characters, else its
        last sentence (as ``_back_over`` measures inside a chunk). units() brings what a lead points at
        from its own chunk only."""
        lead = chosen[0]
        first = lead.chunk.text[lead.start:].split("。", 1)[0]
        if lead.chunk.text[:lead.start].strip() or not BACK_POINTER.search(first):
            return chosen
        before = [c for c in self.neighbours.siblings(lead.chunk)
                  if self.neighbours.position[c.id] < self.neighbours.position[lead.chunk.id]]
        if not before or before[0].kind not in ("body", "case", "column"):
            return chosen
        prev = before[0]
        text = prev.text.rstrip()
        start = text.rfind("\n") + 1
        if len(text) - start + len(lead.text) > limit:
            spans = sentences_of(text)
            if not spans:
                return chosen
            start = spans[-1][0]
        above = Candidate(prev, lead.rank, start, len(text), text[start:], lead.score, lead.coverage)
        return [above] + [c for c in chosen if not (c.chunk.id == prev.id and c.start < above.end and above.start < c.end)]

    def _exclusion_unit(self, part: str) -> Candidate | None:
        """The guide's sentence that leaves the topic ``part`` asks about out of its scope (PPP/PFI)."""
        found = self._excluded_term(part)
        if found is None:
            return None
        ex = found[0]
        chunk = self.chunks[ex.chunk_id]
        return Candidate(chunk, 0, ex.start, ex.end, chunk.text[ex.start:ex.end], 1.0, 1.0)

    def _definition_unit(self, part: str, chosen: list[Candidate]) -> Candidate | None:
        """The guide's own statement of the term's meaning when ``part`` asks what a glossary term
        means (the router's glossary decision for the part on its own), else None."""
        d = self.router.route(part)
        if d.route != "glossary" or d.term is None:
            return None
        meaning = d.term.meaning
        host = self._chunk_containing(meaning, prefer=("glossary", "footnote", "body", "table"))
        if host is None:
            return None
        i = host.text.find(meaning)
        j = i + len(meaning)
        a, b = host.text.rfind("\n", 0, i) + 1, host.text.find("\n", j)
        b = len(host.text) if b < 0 else b
        if CELL in host.text[a:b]:
            # a row of 図表8 (用語 | 意味 | 言い換え例): the whole row, shown with its columns' names, also
            # answers "what should I say instead?"
            i, j = a, b
        if any(c.chunk.id == host.id and c.start < j and i < c.end for c in chosen):
            return None
        best = max((c.score for c in chosen), default=1.0)
        return Candidate(chunk=host, rank=0.0, start=i, end=j, text=host.text[i:j], score=best)

    def _list_items(self, query: str, chosen: list[Candidate], cut_hosts: list[Candidate] | None = None
                    ) -> tuple[list[Item], Candidate | None]:
        """The guide's enumeration the answer lists, and the passage that introduces it (a
        passage whose window read into the list is replaced in ``chosen`` by its cut-back copy).

        A passage that ends by introducing a list (「…以下の 3 種類に分類されると考えられます。」,
        「…4 つの項目について説明いたします。」) brings the list that follows it in its own section,
        whatever the question. Else, when the question asks for a set of things (観点, パターン,
        how to…), the list one of the leading passages belongs to; of several, the one whose
        passage and items share most words with the question; its host is the passage of its
        section that introduces items, if one was chosen."""
        for i, c in enumerate(chosen):
            text = c.text.rstrip()
            cut = None
            if self.answer_cfg.window_lead_in:
                if not text.endswith("。") and "。" in text:
                    cut = self._cut_at_lead_in(c)
                cut = cut or self._cut_inside(c)
            if cut is not None:
                chosen[i] = cut[1]  # the passage, cut back, in its place among the answer's
                if cut_hosts is not None:
                    cut_hosts.append(cut[1])
                return cut
            last = text.rsplit("。", 2)[-2] if text.endswith("。") else text.rsplit("。", 1)[-1]
            if LEAD_IN.search(last):
                # 「以下の…」 points forward past a figure or a table; 「N つの…」 only at what follows
                items = self.enumerations.following(c.chunk, c.end, None if FORWARD.search(last) else 2)
                if items:
                    return items, c
            elif "。" not in text and len(text) <= HEADING_CHARS:
                # a heading line over a list (「予算化に向け他都市から収集すると良い事項」, the items
                # on the lines right below it) introduces the list as a lead-in sentence does
                items = self.enumerations.following(c.chunk, c.end, 0)
                if items:
                    return items, c
        if not LIST_QUESTION.search(nfkc(query)):
            return [], None
        if self.answer_cfg.headed_list:
            # a list under its own heading right after a passage's paragraph (「…他都市での前例がある
            # のであればその自治体へ問い合わせを…」, then 「予算化に向け他都市から収集すると良い事項」 and
            # its items): the passage's list, whatever its chunk's rank
            for c in chosen:
                items = self.enumerations.following(c.chunk, c.end, 1)
                if items and items[0].chunk.id == c.chunk.id and self._headed(c.chunk.text[c.end:items[0].start]):
                    return items, None
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
        host = next((c for c in chosen if best and c.chunk.section_id == best[0].chunk.section_id
                     and LEAD_IN.search(c.text)), None)
        return best, host

    def _cut_at_lead_in(self, c: Candidate) -> tuple[list[Item], Candidate] | None:
        """A window that read on past its lead-in into the list's first item but not the
        rest (「…次の4パターンで紹介します。\nパターン① 首長の意思決定により方針決裁を得る」, each
        パターン a heading with its own paragraphs): the list, and the passage cut back to end with
        its lead-in (a copy: the items then follow it as the list); else None."""
        text = c.text.rstrip()
        cut = text.rindex("。") + 1
        last = text[:cut].rsplit("。", 2)[-2]
        if not LEAD_IN.search(last):
            return None
        items = self.enumerations.following(c.chunk, c.start + cut, None if FORWARD.search(last) else 2)
        if (not items or items[0].chunk.id != c.chunk.id or items[0].start >= c.end
                or (items[-1].chunk.id == c.chunk.id and items[-1].end <= c.end)):
            return None  # no list read into, or the whole list quoted: the passage stands
        return items, dataclasses.replace(c, end=c.start + cut, text=c.chunk.text[c.start:c.start + cut])

    def _cut_inside(self, c: Candidate) -> tuple[list[Item], Candidate] | None:
        """A passage whose lead-in stands before its end, with only the first items after it
        (「…理由が2つあります。\n1つ目は、…「幅」が広がる点です。」, 2つ目 in the next chunk): the
        list, and the passage cut back to end with its lead-in; else None."""
        for a, b in sentence_spans(c.text):
            end = c.start + b
            if b >= len(c.text.rstrip()) or not LEAD_IN.search(c.text[a:b]):
                continue
            items = self.enumerations.following(c.chunk, end, None if FORWARD.search(c.text[a:b]) else 2)
            if (items and items[0].chunk.id == c.chunk.id and end <= items[0].start < c.end
                    and not (items[-1].chunk.id == c.chunk.id and items[-1].end <= c.end)):
                return items, dataclasses.replace(c, end=end, text=c.chunk.text[c.start:end])
        return None

    @staticmethod
    def _headed(between: str) -> bool:
        """The text between a passage and a list is one heading line (no 「。」, short)."""
        lines = text_lines(between)
        return len(lines) == 1 and "。" not in lines[0] and len(lines[0]) <= HEADING_CHARS

    def _compose(self, chosen: list[Candidate], language: str, items: list[Item] = (), persona: str = "any",
                 host: Candidate | None = None,
                 labels: tuple[list[str], dict[tuple[str, int], int], dict[int, tuple[str, int]]] | None = None,
                 list_first: bool = False, notes: Sequence[Candidate] = ()) -> Draft:
        """The passages in the order given (the answer first; the parts of a multi-part question in
        the order asked), the list after the passage that introduces it, or before them all
        (``list_first``) for a question for a set of things when none of them introduces it. The
        text quotes the lead, its ``notes`` (footnotes) and ``quoted_supports`` passages (a
        multi-part answer: ``part_quoted`` per part); the others are cited by number and page."""
        if labels is not None and self.answer_cfg.part_leads_first:
            # every part's first passage before any part's further ones: the second part's answer
            # does not wait behind the first part's supports
            seen: set[int] = set()
            firsts, rest = [], []
            for c in chosen:
                k = labels[1].get((c.chunk.id, c.start))
                if k is not None and k not in seen:
                    seen.add(k)
                    firsts.append(c)
                else:
                    rest.append(c)
            chosen = firsts + rest
        # the list right after its lead-in, else after the first passage of its section
        own = next((k for k, c in enumerate(chosen) if c is host), None)
        if own is None:
            own = next((k for k, c in enumerate(chosen)
                        if items and c.chunk.section_id == items[0].chunk.section_id), 0)
        at = 0 if list_first else own + 1 if self.answer_cfg.list_after_lead else len(chosen)
        citations, lines = [], []
        figures_named: set[int] = set()
        current = None
        cited_only: list[str] = []
        numbered: dict[tuple[str, int], int] = {}  # a passage → its citation number
        pointers = dict(labels[2]) if labels is not None else {}

        def part_label(k: int, more: bool = False) -> str:
            """Part ``k``'s label: the sentence that asks, 【…】 / On “…”: (cut like a heading); a
            part labelled before (``more``: its further passages after every part's first) reads
            【…】（続き） / More on “…”:."""
            asked = asked_in(labels[0][k])
            cut = self.answer_cfg.part_label_chars
            if language == "ja" and cut and len(asked) > cut:  # the label names the part; the quotes answer it
                asked = asked[:cut - 1] + "…"
            if language == "ja":
                return f"【{asked}】" + ("（続き）" if more else "")
            return ("More on" if more else "On") + f" “{clip_title(asked, cut or self.answer_cfg.title_chars)}”:"

        def point(before: int | None) -> None:
            """The parts (before part ``before``; all when None) answered by an earlier passage."""
            for k in sorted(pointers):
                if (before is None or k < before) and (n := numbered.get(pointers[k])) is not None:
                    del pointers[k]
                    lines.append(part_label(k) + (f"\n→ 上の[{n}]に記載があります。" if language == "ja"
                                                  else f" see [{n}] above."))

        per_part: dict[int, int] = {}  # a multi-part answer: the passages quoted so far under each part
        labelled: set[int] = set()  # the parts whose label the answer has shown
        for i, c in enumerate(chosen):
            if i == at:
                lines.append(LIST_SLOT)
            # (a passage widened or joined since its part was set reads on under the current part)
            part = labels[1].get((c.chunk.id, c.start), current) if labels is not None else None
            # (a footnote brought by the lead takes no support's place)
            further = (i - sum(f in notes for f in chosen[:i]) > self.answer_cfg.quoted_supports if labels is None
                       else part is not None and per_part.get(part, 0) >= self.answer_cfg.part_quoted > 0
                       and (c.chunk.id, c.start) not in pointers.values())
            if further and c is not host and c not in notes:
                # a further passage: cited by number and page, its quote in the citation
                citations.append(self._cite(len(citations) + 1, c.chunk, c.start, c.end, c.score))
                cited_only.append(f"[{citations[-1].n}] {page_label(citations[-1].pages)}")
                continue
            label = ""
            if labels is not None:  # a multi-part question: each part's passages under its own words
                k = labels[1].get((c.chunk.id, c.start))
                if k is not None and k != current:
                    current = k
                    point(k)
                    label = part_label(k, k in labelled) + "\n"
                    labelled.add(k)
            # the passages are numbered first, the list's items after them (also when the list is
            # shown first): the first citations are the answer's own passages, not one list's items
            # (items cited first cost R@3 0.906 → 0.900 and page hit@3 0.885 → 0.880 on the 548)
            n = len(citations) + 1
            citations.append(self._cite(n, c.chunk, c.start, c.end, c.score))
            numbered[(c.chunk.id, c.start)] = n
            if part is not None:
                per_part[part] = per_part.get(part, 0) + 1
            # the lead too: with no passage for the asker's side near the best, an official reads
            # 第4章's 「スタートアップの皆様のご参考に」 knowing whom it addresses
            other = other_side(c.chunk, persona)
            shown = rows_view(c.chunk, c.text)  # table rows as 「column: value」; the citation stays verbatim
            if c.start not in {a for a, _ in sentence_spans(c.chunk.text)}:
                shown = "…" + shown  # a clause of a sentence: the omission is marked, outside the quote
            refs = self._figure_refs(c.text, figures_named, language)  # ours, after the marker: not the quote
            if language == "ja":
                lines.append(label + ("（相手側の視点から）" if other else "") + f"{shown}[{n}]{refs}")
            else:
                # the label above the bullet, not inside it
                lines.append(label + "- " + ("From the other side: " if other else "") + f"「{shown}」[{n}]{refs}")
                lines += self._items_en(self.enumerations.within(c.chunk, c.start, c.end))
        point(None)
        if at >= len(chosen):
            lines.append(LIST_SLOT)
        if cited_only:
            lines.append(("関連箇所: " if language == "ja" else "See also: ") + ("、" if language == "ja" else ", ").join(cited_only))
        block = self._list_block(items, citations, language)
        # one passage per line: the reader sees where one quote ends and the next begins
        body = "\n".join(block if line is LIST_SLOT else line for line in lines if line is not LIST_SLOT or block)
        if language == "en":
            head = self._where_en(citations[0].section_path, citations[0].pages) if citations else ""
            # "In “title” (pages):" — the where, without a boilerplate phrase before the quotes
            # (tuning set, English: first-250 key phrases 0.406 → 0.450 against "The guide answers this in")
            return Draft(f"In {head}:\n{body}", citations)
        return Draft(body, citations)

    def _list_block(self, items: list[Item], citations: list, language: str) -> str:
        """The list's items as the guide prints them, under a heading; one citation per passage:
        the items on adjacent lines of one chunk are quoted as one block, the marker after its
        last item (English items are indented under the heading, apart from the quotes)."""
        listed = []
        for group in by_chunk(items):
            first, last = group[0], group[-1]
            cite = self._cite(len(citations) + 1, first.chunk, first.start, last.end)
            citations.append(cite)
            for k, item in enumerate(group):
                mark = f"[{cite.n}]" if k == len(group) - 1 else ""
                en = self.toc_en.item(item.text) if language == "en" else None
                listed.append(f"・{item.text}{mark}" if language == "ja" else f"  - 「{item.text}」{mark}" + (f" — {en}" if en else ""))
        if not listed:
            return ""
        if language == "en" and citations and citations[0].section_path != items[0].chunk.section_path:
            # a list from another passage's section than the one the answer's first line names says where it is
            where = self._where_en(items[0].chunk.section_path, sorted({p for i in items for p in i.chunk.pages}))
            return f"The guide lists, in {where}:\n" + "\n".join(listed)
        return ("ガイドが挙げている項目:\n" if language == "ja" else "The guide lists:\n") + "\n".join(listed)

    def _items_en(self, items: list[Item]) -> list[str]:
        """The reviewed English of the list items a quoted passage holds (data/list_items_en.yaml),
        one indented line each, after the quote: the quote itself stays verbatim."""
        return [f"    ({en})" for item in items if (en := self.toc_en.item(item.text))]

    def _pick_lead(self, picked: list[Candidate], cands: list[Candidate], persona: str) -> Candidate:
        """The lead among the picked sentences (see ``_lead``); an official's answer draws on
        第3章 自治体編, a startup's on 第4章: the best sentence written for the asker's side
        competes for the lead even when it was not picked, if it scores nearly as well as the best."""
        if persona in SIDES:
            best = max(c.score for c in picked)
            own = [c for c in cands if self._for_side(c, persona) and c.score >= SIDE_MARGIN * best]
            if own and max(own, key=lambda c: c.score) not in picked:
                picked = picked + [max(own, key=lambda c: c.score)]
        return self._lead(picked, persona)

    def _for_side(self, c: Candidate, persona: str) -> bool:
        """A passage that may lead for the asker's side: written for it, or with AnswerConfig.
        side_neutral, for anyone but the other side only (第5章 官民連携編 speaks to both)."""
        if self.answer_cfg.side_neutral:
            return not other_side(c.chunk, persona)
        return persona in c.chunk.personas

    def _lead(self, chosen: list[Candidate], persona: str) -> Candidate:
        """The best-scoring passage; for an official or a startup, the best one written for
        their side when it scores nearly as well (第3章 自治体編 and 第4章 スタートアップ編
        often mirror each other)."""
        best = max(chosen, key=lambda c: c.score)
        if points_at_unseen(best):
            # 「上記の…」 / 「以下にまとめました」 point at text the reader cannot see: a passage that
            # stands on its own leads if it scores nearly as well
            plain = [c for c in chosen if not points_at_unseen(c) and c.score >= POINTER_MARGIN * best.score]
            if plain:
                best = max(plain, key=lambda c: c.score)
        if persona not in SIDES:
            return best
        # a passage for both sides that points at unseen text does not take the lead this way (more
        # such leads than the pointer rule allows); one of the asker's chapter still may, as before
        # (keeping those out too lost key phrases on the 1,088: 0.880 → 0.877)
        own = [c for c in chosen if self._for_side(c, persona) and c.score >= SIDE_MARGIN * best.score
               and (persona in c.chunk.personas or points_at_unseen(best) or not points_at_unseen(c))]
        return max(own, key=lambda c: c.score) if own else best
