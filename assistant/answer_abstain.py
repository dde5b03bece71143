"""Declining honestly: out of scope, a topic the guide says it does not cover, a detail
(a fee, a date, a name) the guide does not state, or too little support; always with the
nearest sections so the reader can check."""
from __future__ import annotations

import re

from assistant.abstain import Exclusion, Support
from assistant.asked_detail import DetailKind
from assistant.drafting import NEAREST, NO_ANSWER, Draft, Drafting, toc_id
from assistant.router import clauses, question_parts
from assistant.schema import SectionRef
from ingest.page_labels import page_label
from ingest.text import nfkc

_YEAR_JA = re.compile(r"^(\d{4})年$")


def _en_name(name: str) -> str:
    """A name as an English answer shows it: a year named in Japanese (2027年) as 2027."""
    return _YEAR_JA.sub(r"\1", name)


# "does the guide cover X?": answered (yes or no, and where) rather than declined
ASKS_COVERAGE = re.compile(
    r"(解説|説明|記載|掲載|紹介|扱)(して|され|っ)?て?(い|お)?(ます|る)(か|の|[？?])|載って(ます|る)|取り上げ|"
    r"does (the|this) guide (cover|discuss|explain|include)|is .* (covered|discussed) in the guide|"
    r"\b(leaves?|left) out\b|\b(exclud|omit)\w*", re.I)


# "a PPP policy / a dedicated PPP unit" names the guide's own 官民連携 (指針, 専門部署), not the
# PPP/PFI schemes it leaves out: an acronym used as a modifier of these nouns is not the topic,
# also with one word between ("a PPP consultation desk": 第4章 (4)'s list of 窓口)
_ATTRIBUTIVE = re.compile(r"(\s+[a-z-]+)?\s+(polic(y|ies)|units?|desks?|offices?|teams?|departments?|divisions?|sections?|"
                          r"guidelines?|windows?|contacts?|strateg(y|ies)|promotion)\b", re.I)


class AbstainAnswers(Drafting):
    """The answers that decline, and the one that says a covered topic is excluded."""

    def _excluded_term(self, query: str) -> tuple[Exclusion, str] | None:
        """The topic the guide declares out of its scope that ``query`` asks about, with the
        guide's sentence that says so."""
        q = nfkc(query)
        for ex in self.exclusions:
            term = next((t for t in ex.terms for m in re.finditer(rf"(?<![A-Za-z]){re.escape(t)}(?![A-Za-z])", q)
                         if not (t.isascii() and _ATTRIBUTIVE.match(q, m.end()))), None)
            if term is not None:
                return ex, term
        return None

    def _excluded(self, query: str, language: str, hits) -> Draft | None:
        found = self._excluded_term(query)
        if found is None:
            return None
        parts = question_parts(query)
        if len(parts) > 1 and not all(self._excluded_term(p) for p in parts):
            # 「3つの出口は？あとPPPは扱ってる？」: each part is answered on its own (the PPP part
            # by the sentence that leaves PPP out: QaAnswers._exclusion_unit), not all declined
            return None
        if not all(self._excluded_term(p) for p in clauses(query)):
            return None  # "What are the three exits, and does it cover PFI too?": the exits are answered
        ex, term = found
        chunk = self.chunks[ex.chunk_id]
        draft = self._abstain(hits, language, None, f"ガイドが扱わないと明記している「{term}」についての質問",
                              kind="excluded_topic")
        # the guide's own sentence is the answer's passage: scored as one (list items score 0)
        cite = self._cite(1, chunk, ex.start, ex.end, 1.0)
        note = (f"ガイドは{term}を扱わない方針です: 「{cite.quote}」[1]" if language == "ja"
                # the quote on a line of its own: the first line is English
                else f"The guide states ({page_label(cite.pages)}) that it does not cover {term}:\n「{cite.quote}」[1]")
        draft.citations = [cite]
        if ASKS_COVERAGE.search(nfkc(query)):
            # "does the guide cover PFI?" is answered (no, and here is where it says so): not with
            # "the guide has no passage that answers this" after the passage that does
            draft.abstained, draft.route = False, None
            draft.answer = draft.answer.split("\n", 1)[1] if draft.answer.startswith(NO_ANSWER[language]) else draft.answer
        draft.answer = note + "\n" + draft.answer
        return draft

    def _not_stated(self, hits, language: str, detail: DetailKind) -> Draft:
        """The guide covers the topic but not the detail asked: say so, and where the topic is."""
        draft = self._abstain(hits, language, None, f"{detail.ja}を尋ねているが、該当箇所にその記載がない",
                              kind="not_stated")
        first = (f"ガイドには{detail.ja}についての記載はありません。" if language == "ja"
                 else f"The guide does not state {detail.en}.")
        draft.answer = first + "\n" + draft.answer.split("\n", 1)[1]
        draft.route = None  # the question is in scope; only its detail is missing
        return draft

    def _unmentioned(self, hits, language: str, names: list[str]) -> Draft:
        """The question names something the guide never mentions: say so, and where the rest
        of the question's topic is."""
        shown = "」「".join(names)
        draft = self._abstain(hits, language, None, f"ガイドに一度も出てこない「{shown}」についての質問",
                              kind="not_stated")
        first = (f"ガイドには「{shown}」についての記載はありません。" if language == "ja"
                 else "The guide does not mention " + ", ".join(f"“{_en_name(n)}”" for n in names) + ".")
        draft.answer = first + "\n" + draft.answer.split("\n", 1)[1]
        draft.route = None  # in scope as a topic; the guide just never names it
        return draft

    def _abstain(self, hits, language: str, support: Support | None, why: str | None = None,
                 kind: str = "weak_support") -> Draft:
        seen: dict[str, SectionRef] = {}
        for h in hits:
            tid = toc_id(h.chunk.section_id) or h.chunk.section_id
            node = self.nodes.get(tid)
            if node is None or tid in seen:
                continue
            seen[tid] = SectionRef(section_id=tid, section_path=node.path, pages=list(range(node.pages[0], node.pages[1] + 1)))
            if len(seen) == 3:
                break
        nearest = list(seen.values())
        lines = [NO_ANSWER[language], NEAREST[language]] + [
            f"・{' > '.join(s.section_path)}（{page_label(s.pages)}）" for s in nearest]
        reason = why or "ガイドの記載による裏付けが弱い" + (
            f" (語の一致 {support.coverage:.2f}, 意味の近さ {support.dense:.2f})" if support else "")
        return Draft("\n".join(lines), [], abstained=True, route="out_of_scope", reason=reason, nearest=nearest,
                     abstain_reason=kind)
