"""The guide's own enumerations (ズレ①〜④, 観点①〜⑥, パターン①〜④, and bullet lists such as
福岡市's 実験の内容 / 役割及び責任分担等 / …): when the answer's passage belongs to one, list its items.

A question such as 「どんな点を確かめればいい？」 is answered by the whole list, while the
sentence scorer picks only the best-matching sentences; the item headings are short,
verbatim and carry the structure the guide chose, so they are quoted as they stand.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.models import Chunk, Guide
from ingest.text import sentence_spans

# an item line: a label (an optional word + a circled number: 観点①, パターン②, ①) and a short title
_ITEM = re.compile(r"^(?:-\s*)?(?P<label>(?P<word>[一-龥ぁ-んァ-ヴー]{1,12})?\s?[①-⑳])\s*(?P<title>\S.{1,58})$")
# a bullet line (「- ・経費等の分担」): the item is what follows the bullet
_BULLET = re.compile(r"^(?:-\s*)?[・●■◆□]\s*(?P<title>\S.{1,58})$")
# a ✓ heading (「✓ ディスカッションペーパー」, 「✓ **「Ⅰ. 社会・地域が抱える課題」：…**」) or a STEP heading
# (「STEP1：連携協定締結による関係性づくり」): each item is followed by its own paragraphs, so the
# items of one section form one list however much prose (and however many page breaks) lies between
_HEADING = re.compile(r"^(?:-\s*)?(?:✓\s*(?:\*\*)?(?P<check>\S.{1,58}?)(?:\*\*)?|(?P<step>STEP\s*[0-9０-９]+\s*[：:].{1,50}))$")
# prose items: 「1つ目は、…点です。」「2つ目の理由は、…」 (the sentence is the item)
_ORDINAL = re.compile(r"^[0-9０-９一二三四五六七八九]\s*つ目(は|の|に)")
# questions that ask for a set of things rather than one fact ("what kinds of", but not "what
# kind of contract is that?", which asks for one: the DMP question four helpers wrote opened with
# 評価 viewpoints instead of 「随意契約（特命随契）」; on the 1,208 first 250 0.7202 → 0.7245)
LIST_QUESTION = re.compile(
    r"どんな|どのような|何を|なにを|[0-9０-９]\s*つ(の|って|は)|それぞれ|どう[^。？?]{0,6}(ば|たら)|どうやって|ポイント|方法|打開策|手は|(どんな|どの|何の|なんの)観点|観点(は|を|って|が)|パターン|種類|"
    r"what (kind|sort)s of|which (points|ways)|how (can|do|should)\b|what should|what are the|"
    r"what (information|info|details|things|items|questions)\b|"
    r"\b(two|three|four|five|six)\b(?!-)", re.I)  # a count, not "three-way win"


_TEXT = re.compile(r"[^\s\-・●■◆□✓*]")


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` that hold more than bullets and whitespace, stripped."""
    return [line.strip() for line in text.split("\n") if _TEXT.search(line)]


@dataclass(frozen=True)
class Item:
    chunk: Chunk
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.chunk.text[self.start:self.end]


class Enumerations:
    def __init__(self, guide: Guide):
        # section id → the item lists in it, each keyed by its label word (観点, パターン, …)
        self.lists: dict[str, list[list[Item]]] = {}
        self.position = {c.id: i for i, c in enumerate(guide.chunks)}
        groups: dict[tuple[str, str], list[Item]] = {}
        for c in guide.chunks:
            if c.kind not in ("body", "case", "column"):
                continue
            pos = 0
            bullets: list[Item] = []
            for line in c.text.split("\n") + [""]:
                m = _ITEM.match(line.strip())
                if m and not line.rstrip().endswith("。"):
                    item = line.strip()[m.start("label"):]  # without a leading "- "
                    a = c.text.index(item, pos)
                    groups.setdefault((c.section_id, m.group("word") or ""), []).append(Item(c, a, a + len(item)))
                h = _HEADING.match(line.strip())
                if h:
                    title = h.group("check") or h.group("step")
                    a = c.text.index(title, pos)
                    groups.setdefault((c.section_id, "✓" if h.group("check") else "STEP"), []).append(
                        Item(c, a, a + len(title)))
                if _ORDINAL.match(line.strip()):
                    a = c.text.index(line.strip(), pos)
                    end = next(e for s0, e in sentence_spans(c.text) if s0 <= a < e)
                    groups.setdefault((c.section_id, "つ目"), []).append(Item(c, a, end))
                b = _BULLET.match(line.strip())
                if b and not re.search(r"https?:|- ・", b.group("title")):
                    a = c.text.index(b.group("title"), pos)
                    bullets.append(Item(c, a, a + len(b.group("title"))))
                elif bullets:  # a run of bullet lines ends: one list per run
                    groups[(c.section_id, f"・{c.id}:{bullets[0].start}")] = bullets
                    bullets = []
                pos += len(line) + 1
        for (section, _), items in groups.items():
            if len(items) >= 2:
                self.lists.setdefault(section, []).append(items)

    def following(self, chunk: Chunk, end: int, max_lines: int | None = None) -> list[Item]:
        """The list of ``chunk``'s section whose first item comes next after position ``end`` of
        ``chunk`` (later in the chunk or in a later chunk of the section), else nothing: what a
        lead-in sentence ending there introduces. With ``max_lines``, only a list whose first item
        follows within that many lines of prose (a sentence that says 「…2つの観点が挙げられます」
        three paragraphs before a list introduces something else)."""
        here = (self.position.get(chunk.id, -1), end)
        after = [items for items in self.lists.get(chunk.section_id, [])
                 if (self.position.get(items[0].chunk.id, -1), items[0].start) >= here]
        found = min(after, key=lambda items: (self.position.get(items[0].chunk.id, -1), items[0].start), default=[])
        if not found or max_lines is None:
            return found
        first = found[0]
        if first.chunk.id == chunk.id:
            between = chunk.text[end:first.start]
        elif self.position.get(first.chunk.id, -1) == self.position.get(chunk.id, -1) + 1:
            between = chunk.text[end:] + "\n" + first.chunk.text[:first.start]
        else:
            return []
        return found if len(text_lines(between)) <= max_lines else []

    def for_chunk(self, chunk: Chunk) -> list[Item]:
        """The item list of the chunk's section that the chunk takes part in (or the section's
        only list), else nothing."""
        lists = self.lists.get(chunk.section_id, [])
        own = [items for items in lists if any(i.chunk.id == chunk.id for i in items)]
        if own:
            return own[0]
        return lists[0] if len(lists) == 1 else []

    def within(self, chunk: Chunk, start: int, end: int) -> list[Item]:
        """The list items printed inside ``chunk.text[start:end]`` (a quoted passage), in order."""
        return sorted((i for items in self.lists.get(chunk.section_id, []) for i in items
                       if i.chunk.id == chunk.id and start <= i.start and i.end <= end), key=lambda i: i.start)
