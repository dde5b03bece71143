"""The locate route: the sections that cover a topic, with printed pages, the figures that
match and the best sections' sub-headings, then the passages that matched (the best section
opening with its first sentence)."""
from __future__ import annotations

import re

from assistant.abstain import EN_STOP
from assistant.answer_qa import read_on
from assistant.drafting import Draft, Drafting, Pooled, sentences_of, toc_id
from assistant.sentences import Candidate
from ingest.models import Chunk, Node
from ingest.page_labels import page_label


# the asker names a figure-like thing: a sheet, a form, a table, a chart (not 「図る」)
FIGURE_ASKED = re.compile(r"図表|図解|(?<![意企])図(?![るらりれろっ])|(?<![発代公辞])表(?=[はがをのにってで]|$)|一覧表|シート|様式|記入例|書式|"
                          r"フォーマット|テンプレート|ひな形|雛形|\b(figures?|charts?|tables?|diagrams?|templates?|"
                          r"sheets?|worksheets?)\b|\bforms\b|\b(application|entry) form\b", re.I)


# an entry of a link list: its bullets, and where its address begins
_BULLET = re.compile(r"^[\s\-・•]+")
_LINK = re.compile(r"\s*\(<?https?://|\s*<?https?://")

# words that ask where the guide says something, not what about
_WHERE_WORDS = frozenset("""guide part parts section sections chapter chapters page pages explain explains explained
cover covers covered discuss discusses discussed talk talks mention mentions find look read say says said tell
tells describe describes topic""".split())
_EN_WORD = re.compile(r"[a-z][a-z'’-]+")


def _content_words(text: str) -> frozenset[str]:
    """An English text's topic words, lowercased, a plural as its singular."""
    out = set()
    for w in _EN_WORD.findall(text.lower()):
        w = w.strip("'’-")
        if len(w) < 3 or w in EN_STOP or w in _WHERE_WORDS:
            continue
        out.add(_singular(w))
    return frozenset(out)


def _singular(w: str) -> str:
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith(("xes", "ches", "shes", "sses")):
        return w[:-2]
    return w[:-1] if w.endswith("s") and not w.endswith("ss") else w


class LocateAnswers(Drafting):
    """Answers "where does the guide cover X"."""

    def _locate_answer(self, query: str, hits, language: str) -> Draft:
        """The top sections with their printed pages, each with the passage that matched; the
        best one opens with its first sentence, and the best two list their sub-headings."""
        groups: dict[str, list] = {}
        # the hits and what joins them (section questions, nearest sentences), in rank order
        for chunk, _ in self._pool(query, hits):
            if chunk.kind in ("footnote", "reference", "figure"):
                continue
            groups.setdefault(toc_id(chunk.section_id) or chunk.section_id, []).append(Pooled(chunk))
        citations, lines = [], []
        qt = self._query_tokens(query)
        asks_figure = bool(FIGURE_ASKED.search(query))
        ordered = list(groups.items())
        if self.answer_cfg.locate_titles:
            ordered = self._by_title(ordered, query, qt, language)
        for rank, (tid, hs) in enumerate(ordered[:3]):
            node = self.nodes.get(tid)
            if node is None:
                continue
            # the best-matching section gets its opening and a passage, the others one passage
            # each passage as the sentence that matched: a reader looking for the place needs the
            # pointer, not the surrounding text (windows off: 958 → 865 characters, nothing lost)
            best = self._best_sentences(query, "any", set(), 2 if rank == 0 else 1, hits=hs, extras=False,
                                        window=False) or self._listed(qt, hs)
            if not best:
                continue
            best = read_on(best)  # the sentence after another in its chunk is that passage read on
            if rank == 0 and self.answer_cfg.locate_lead:
                # where the section starts, in its own opening sentence (what it is about)
                lead = self._opening(tid)
                if lead is not None and not any(c.chunk.id == lead.chunk.id and c.start == lead.start for c in best):
                    best = [lead] + best[:self.answer_cfg.locate_lead_keep]
            label = page_label(list(range(node.pages[0], node.pages[1] + 1)))
            # the figures that match; asked for one (「課題整理シートの様式と記入例はどこ？」), they
            # are the answer: cited first, with their own pages (図表 16–18, pp.40–41)
            shown_figures = []
            for f in self._figures_in(tid, qt):
                mark = ""
                if asks_figure:
                    cit = self._cite(len(citations) + 1, f, 0, len(f.text), 0.0)
                    citations.append(cit)
                    mark = f"[{cit.n}]"
                shown_figures.append(f"{f.text}（{page_label(f.pages)}）{mark}")
            quotes = []
            said_where = None
            for c in best:
                cit = self._cite(len(citations) + 1, c.chunk, c.start, c.end, c.score)
                citations.append(cit)
                # the deepest heading (a point, a column, a case) says more than the section; said
                # once for the passages under it
                inner = c.chunk.section_path[len(node.path):]
                where = f"{' > '.join(inner)}（{page_label(cit.pages)}）: " if inner and inner != said_where else ""
                said_where = inner
                quotes.append(f"{where}「{self._shown(cit)}」[{cit.n}]")
            outline = self._outline(node, language) if rank < self.answer_cfg.locate_outlines else ""
            # where first: the section and its figures; its sub-headings (often what the asker names)
            # before the passages (measured against passages first: first 250 0.56 → 0.63), or after
            # them once the passages are those that matched (AnswerConfig.locate_outline_after)
            head = f"・{' > '.join(node.path)}（{label}）" + "".join(f"\n   {f}" for f in shown_figures)
            passages = "\n   " + " ".join(quotes)
            lines.append(head + (passages + outline if self.answer_cfg.locate_outline_after else outline + passages))
        if not citations:
            return self._abstain(hits, language, None)
        if language == "ja":
            head = "ガイドの該当箇所:"
        else:
            best = self.nodes.get(ordered[0][0])
            pages = list(range(best.pages[0], best.pages[1] + 1)) if best else citations[0].pages
            head = f"The guide covers this mainly in {self._where_en(best.path if best else citations[0].section_path, pages)}:"
        return Draft("\n".join([head] + lines), citations)

    def _by_title(self, groups: list, query: str, qt, language: str) -> list:
        """The sections in the pool's order, except that one among the first few whose own title says
        what the question asks about ("Which part explains the common pitfalls?" → 「(2) 相互理解が無い
        ことで起こる「よくある落とし穴」」) comes first: a reader looking for the place goes by the titles."""
        cfg = self.answer_cfg
        words = _content_words(query) if language == "en" else frozenset()

        def said(tid: str, hs) -> float:
            node = self.nodes.get(tid)
            if node is None:
                return 0.0
            if language == "en":
                title = _content_words(self.toc_en.heading(node.path) or "")
                shared = len(words & title)
                return shared / len(title) if title and shared >= 2 else 0.0
            # the section's title, or a heading under it that a found passage stands under
            # (「2. 官民連携の窓口設置や…を行っている自治体の一覧【附録】」 under 第4章 (4))
            inner = {h.chunk.section_path[-1] for h in hs if len(h.chunk.section_path) > len(node.path)}
            return max([self.scorer.coverage(qt, node.path[-1])] + [self.scorer.coverage(qt, t) for t in inner])

        head = groups[:cfg.locate_titles]
        scores = [said(tid, hs) for tid, hs in head]
        best = max(range(len(head)), key=lambda k: scores[k], default=0)
        if not head or best == 0 or scores[best] < cfg.locate_title_min or scores[best] <= scores[0]:
            return groups
        return [head[best]] + [g for g in groups if g is not head[best]]

    @staticmethod
    def _outline(node: Node, language: str, limit: int = 8) -> str:
        """The section's own sub-headings (its points and sub-sections) with their pages: what
        a reader looking for the place will scan first."""
        subs = [c for c in node.children if re.match(r"[pu]\d+$", c.id.rsplit(".", 1)[-1])][:limit]
        if len(subs) < 2:
            return ""
        label = "この節の見出し" if language == "ja" else "Its headings"
        return f"\n   {label}: " + " / ".join(
            f"{c.heading}（{page_label(list(range(c.pages[0], c.pages[1] + 1)))}）" for c in subs)

    def _listed(self, query_tokens: set[str], hits) -> list[Candidate]:
        """A section that is a list of links (参考情報一覧) has no sentence to quote: the entry that
        shares most of the question's words is, as far as its title goes (「経済産業省「…調査報告書」」)."""
        best: Candidate | None = None
        for h in hits:
            chunk = h.chunk
            at = 0
            for line in chunk.text.split("\n"):
                start, at = at, at + len(line) + 1
                title = _LINK.split(_BULLET.sub("", line), 1)[0].rstrip()
                if len(title) < 6:
                    continue
                a = start + line.index(title)
                cov = self.scorer.coverage(query_tokens, title)
                if cov > 0 and (best is None or cov > best.coverage):
                    best = Candidate(chunk, 0, a, a + len(title), title, cov, cov)
        return [best] if best else []

    def _opening(self, tid: str) -> Candidate | None:
        """The first sentence of a section's first prose chunk."""
        for c in self.guide.chunks:
            if (c.section_id == tid or c.section_id.startswith(tid + ".")) and c.kind in ("body", "case", "column"):
                spans = sentences_of(c.text)
                if spans:
                    a, b = spans[0]
                    return Candidate(c, 0, a, b, c.text[a:b])
        return None

    def _figures_in(self, tid: str, query_tokens: set[str]) -> list[Chunk]:
        """The caption chunks of the section's figures that share words with the question."""
        return [c for c in self.guide.chunks
                if c.kind == "figure" and toc_id(c.section_id) == tid
                and self.scorer.coverage(query_tokens, c.text) > 0.2][:3]
