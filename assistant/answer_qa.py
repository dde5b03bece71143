"""The qa route: the best answer unit first (a sentence with its window, a lead-in with its
items, a table row), then the supporting passages; lists from the hit's own section only."""
from __future__ import annotations

import dataclasses
import re

from assistant.asked_detail import asked_detail, stated_among
from assistant.drafting import Draft, Drafting
from assistant.enumerations import LIST_QUESTION, Item
from assistant.language import detect_language
from assistant.router import question_parts
from assistant.sentences import Candidate, answer_types, select
from assistant.table_rows import rows_view
from ingest.models import Chunk
from ingest.text import nfkc


# a sentence that introduces the items after it
LEAD_IN = re.compile(r"(以下|次|下記)の|以下を|以下に|次のとおり|[0-9０-９一二三四五六七八九]+\s*(つ|点|種類|項目)|ポイント(として|は)")
SIDES = ("municipality", "startup")
SIDE_MARGIN = 0.8  # the asker's side leads when its passage scores at least this share of the best
# a quote that points at text the reader cannot see (上記の / 前述の / 以下にまとめ / 下記の)
POINTER = re.compile(r"上記|前述|下記|以下に(まとめ|示|整理)|次のとおり|こちらを参照")
POINTER_MARGIN = 0.8


def other_side(chunk: Chunk, persona: str) -> bool:
    """A passage written for the other side only (an official reading 第4章 スタートアップ編)."""
    return persona in SIDES and bool(chunk.personas) and all(p in SIDES and p != persona for p in chunk.personas)


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
        cands = self.scorer.candidates(qt, self._pool(query, hits), self.answer_cfg,
                                       answer_types(query), self._meaning(query))
        detail = asked_detail(query)
        if detail is not None and not stated_among(detail, cands):
            # asked for a detail (a fee, a name, a date, a contact) the guide's passages do not
            # state: quoting the topical text would read as an answer
            return self._not_stated(hits, language, detail)
        parts = question_parts(query)
        part_of: dict[tuple[str, int], int] = {}
        if len(parts) == 1:
            chosen = select(cands, self.answer_cfg)
        else:
            chosen, part_of = self._per_part(query, parts, hits, persona)
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
        return self._compose(chosen, language, items, lead_first=len(parts) == 1, persona=persona,
                             labels=(parts, part_of) if len(parts) > 1 else None)

    def _per_part(self, query: str, parts: list[str], hits,
                  persona: str) -> tuple[list[Candidate], dict[tuple[str, int], int]]:
        """Sentences for each part of a two-part question, in the order asked: one ranking
        for the whole would spend every sentence on the part with more matching words.

        Each part adds its own search to the whole question's hits, and its own words weigh its
        sentences. A Japanese part searches by BM25 only; an English part also searches by
        meaning, with the whole question's vector (no second embedding). Returns the passages
        and, for each (chunk id, start), the part it answers."""
        cfg = self.answer_cfg
        share = max(1, cfg.max_sentences // len(parts))
        meaning = self._meaning(query)
        whole = self.retriever.query_vector(query, self._extra(query))
        chosen: list[Candidate] = []
        part_of: dict[tuple[str, int], int] = {}
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
            picked = select(cands, dataclasses.replace(cfg, max_sentences=n))
            part_of.update({(c.chunk.id, c.start): k for c in picked})
            chosen += picked
        return chosen, part_of

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
                 lead_first: bool = True, persona: str = "any",
                 labels: tuple[list[str], dict[tuple[str, int], int]] | None = None) -> Draft:
        # the answer first: the best-scoring passage leads, the others follow in reading order
        # (the parts of a two-part question keep the order asked)
        if lead_first and len(chosen) > 1:
            lead = self._lead(chosen, persona)
            chosen = [lead] + [c for c in chosen if c is not lead]
        citations, parts = [], []
        figures_named: set[int] = set()
        current = None
        for i, c in enumerate(chosen, 1):
            label = ""
            if labels is not None:  # a multi-part question: each part's passages under its own words
                k = labels[1].get((c.chunk.id, c.start))
                if k is not None and k != current:
                    current = k
                    label = f"【{labels[0][k]}】\n" if language == "ja" else f"On “{labels[0][k]}”:\n"

            citations.append(self._cite(i, c.chunk, c.start, c.end, c.score))
            other = i > 1 and other_side(c.chunk, persona)
            shown = rows_view(c.chunk, c.text)  # table rows as 「column: value」; the citation stays verbatim
            refs = self._figure_refs(c.text, figures_named, language)  # ours, after the marker: not the quote
            if language == "ja":
                parts.append(label + ("（相手側の視点から）" if other else "") + f"{shown}[{i}]{refs}")
            else:
                # the label above the bullet, not inside it
                parts.append(label + "- " + ("From the other side: " if other else "") + f"「{shown}」[{i}]{refs}")
        listed = []
        # one citation per passage: the items of one chunk are quoted as one block (their lines
        # as the guide prints them), the marker after the block's last item
        for group in by_chunk(items):
            first, last = group[0], group[-1]
            cite = self._cite(len(citations) + 1, first.chunk, first.start, last.end)
            citations.append(cite)
            for k, item in enumerate(group):
                mark = f"[{cite.n}]" if k == len(group) - 1 else ""
                listed.append(f"・{item.text}{mark}" if language == "ja" else f"- 「{item.text}」{mark}")
        at = 1 if self.answer_cfg.list_after_lead else len(parts)
        if language == "en":
            block = ["The guide lists:\n" + "\n".join(listed)] if listed else []
            body = "\n".join(parts[:at] + block + parts[at:])
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
        if POINTER.search(best.text):
            # 「上記の…」 / 「以下にまとめました」 point at text the reader cannot see: a passage that
            # stands on its own leads if it scores nearly as well
            plain = [c for c in chosen if not POINTER.search(c.text) and c.score >= POINTER_MARGIN * best.score]
            if plain:
                best = max(plain, key=lambda c: c.score)
        if persona not in SIDES:
            return best
        own = [c for c in chosen if persona in c.chunk.personas and c.score >= SIDE_MARGIN * best.score]
        return max(own, key=lambda c: c.score) if own else best
