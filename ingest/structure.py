"""Recover the structure tree: TOC headings located in the body (or recovered when the
extraction lost them), with points, columns, case studies and reference blocks below."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.blocks import Block
from ingest.models import TocEntry
from ingest.personas import personas_for
from ingest.text import squash

# A paragraph that starts with a particle or punctuation resumes a sentence from a lost page.
_CONTINUATION_START = re.compile(r"^[をにはがのとでやもへ、。）」]")

_MARKER_RANK = {"point": 1, "case": 2, "column": 2, "circled": 3, "reference": 4}
_MARKER_KIND = {"point": "point", "case": "case", "column": "column", "circled": "point", "reference": "reference"}
_MARKER_PREFIX = {"point": "p", "case": "e", "column": "k", "circled": "q", "reference": "r"}


@dataclass
class RawNode:
    id: str
    kind: str
    heading: str
    level: int
    path: list[str]
    personas: list[str]
    recovered: bool = False
    toc_page: int | None = None
    start: int = 0
    end: int = 0
    children: list["RawNode"] = field(default_factory=list)
    parent: "RawNode | None" = None


@dataclass
class Structure:
    roots: list[RawNode]
    nodes: dict[str, RawNode]
    owner: list[str]  # per block: id of the node that owns it
    heading_blocks: dict[int, str]  # block index -> node id (TOC or marker headings)
    recovered_at: dict[str, int]  # node id -> block index where recovered content starts
    toc_found: list[bool]


def _match_headings(toc: list[TocEntry], blocks: list[Block]) -> list[int | None]:
    keys: dict[str, list[int]] = {}
    for i, b in enumerate(blocks):
        if "\n" not in b.text.strip() and b.kind in ("text", "marker", "bullet"):
            keys.setdefault(squash(b.text), []).append(i)
    found: list[int | None] = [None] * len(toc)
    last = -1
    for t, entry in enumerate(toc):
        cands = [i for i in keys.get(squash(entry.heading), []) if i > last]
        if not cands:
            continue
        # never jump past the next chapter heading: a same-named heading there is not ours
        nxt_chapter = next((u for u in range(t + 1, len(toc)) if toc[u].level == 1), None)
        if nxt_chapter is not None:
            bound = [i for i in keys.get(squash(toc[nxt_chapter].heading), []) if i > last]
            if bound and cands[0] > bound[0]:
                continue
        found[t] = cands[0]
        last = cands[0]
    return found


def _recover_positions(toc: list[TocEntry], found: list[int | None], blocks: list[Block]) -> dict[int, int]:
    """For each TOC entry lost from the body, the block index where its content resumes."""
    out: dict[int, int] = {}
    t = 0
    while t < len(toc):
        if found[t] is not None:
            t += 1
            continue
        run = [t]
        while run[-1] + 1 < len(toc) and found[run[-1] + 1] is None:
            run.append(run[-1] + 1)
        prev = max((found[u] for u in range(t) if found[u] is not None), default=0)
        nxt = next((found[u] for u in range(run[-1] + 1, len(toc)) if found[u] is not None), len(blocks))
        pos = None
        for i in range(prev + 1, nxt):
            b = blocks[i]
            if b.kind == "text" and _CONTINUATION_START.match(b.text):
                pos = i
                break
        if pos is None:
            # no visible seam: put the lost headings just before the next found heading
            pos = nxt
        for u in run:
            out[u] = pos
        t = run[-1] + 1
    return out


def _toc_ids(toc: list[TocEntry]) -> list[str]:
    ids: list[str] = []
    c = s = u = 0
    for entry in toc:
        if entry.level == 1:
            c += 1
            s = u = 0
            ids.append(f"c{c:02d}")
        elif entry.level == 2:
            m = re.match(r"^\((\d+)\)", entry.heading)
            s = int(m.group(1)) if m else s + 1
            u = 0
            ids.append(f"{ids_chapter(ids)}.s{s:02d}")
        else:
            u += 1
            parent = ids_section(ids)
            ids.append(f"{parent}.u{u:02d}")
    return ids


def ids_chapter(ids: list[str]) -> str:
    return next(i for i in reversed(ids) if "." not in i)


def ids_section(ids: list[str]) -> str:
    for i in reversed(ids):
        if ".s" in i and ".u" not in i:
            return i
        if "." not in i:
            return i
    return ids[-1]


def build_structure(toc: list[TocEntry], blocks: list[Block]) -> Structure:
    found = _match_headings(toc, blocks)
    recovered = _recover_positions(toc, found, blocks)
    ids = _toc_ids(toc)
    # block index -> TOC entries starting there (several when lost headings share a seam)
    starts: dict[int, list[int]] = {}
    for t, bi in enumerate(found):
        if bi is not None:
            starts.setdefault(bi, []).append(t)
    for t, bi in recovered.items():
        starts.setdefault(bi, []).append(t)

    nodes: dict[str, RawNode] = {}
    roots: list[RawNode] = []
    toc_stack: list[RawNode] = []
    marker_stack: list[tuple[int, RawNode]] = []
    counters: dict[str, int] = {}
    owner: list[str] = []
    heading_blocks: dict[int, str] = {}
    recovered_at: dict[str, int] = {}
    front = RawNode("c00", "front", "表紙", 1, ["表紙"], ["all"])
    nodes[front.id] = front
    roots.append(front)

    def current() -> RawNode:
        if marker_stack:
            return marker_stack[-1][1]
        return toc_stack[-1] if toc_stack else front

    for i, b in enumerate(blocks):
        for t in sorted(starts.get(i, [])):
            entry = toc[t]
            while toc_stack and toc_stack[-1].level >= entry.level:
                toc_stack.pop()
            marker_stack.clear()
            parent = toc_stack[-1] if toc_stack else None
            kind = {1: "chapter", 2: "section"}.get(entry.level, "subsection")
            inherited = parent.personas if parent else ["all"]
            node = RawNode(
                ids[t], kind, entry.heading, entry.level,
                (parent.path if parent else []) + [entry.heading],
                personas_for(entry.heading, inherited),
                recovered=t in recovered, toc_page=entry.page, start=b.start,
            )
            node.parent = parent
            (parent.children if parent else roots).append(node)
            nodes[node.id] = node
            toc_stack.append(node)
            if t in recovered:
                recovered_at[node.id] = i
            else:
                heading_blocks[i] = node.id
        if i in heading_blocks:
            owner.append(heading_blocks[i])
            continue
        if b.kind == "marker":
            rank = _MARKER_RANK[b.marker]
            while marker_stack and marker_stack[-1][0] >= rank:
                marker_stack.pop()
            parent = current()
            key = f"{parent.id}.{_MARKER_PREFIX[b.marker]}"
            counters[key] = counters.get(key, 0) + 1
            heading = b.text.strip()
            node = RawNode(
                f"{key}{counters[key]:02d}", _MARKER_KIND[b.marker], heading, parent.level + 1,
                parent.path + [heading], personas_for(heading, parent.personas), start=b.start,
            )
            node.parent = parent
            parent.children.append(node)
            nodes[node.id] = node
            marker_stack.append((rank, node))
            heading_blocks[i] = node.id
            owner.append(node.id)
            continue
        if b.kind == "text" and marker_stack and marker_stack[-1][1].kind == "reference":
            # a reference block is a list of links; body text after it returns to the parent
            marker_stack.pop()
        owner.append(current().id)

    # node extents: from its first block to the end of its last owned block
    for i, b in enumerate(blocks):
        node = nodes[owner[i]]
        while node is not None:
            node.end = max(node.end, b.end)
            node = node.parent
    toc_found = [f is not None for f in found]
    return Structure(roots, nodes, owner, heading_blocks, recovered_at, toc_found)
