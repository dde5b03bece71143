"""A hit's neighbourhood on the real guide: its footnotes and the chunks beside it in its section."""
from __future__ import annotations

from assistant.neighbours import Neighbours


def test_every_footnote_has_its_chunk(guide):
    n = Neighbours(guide)
    assert len(n.footnote_chunk) == len(guide.footnotes) == 69
    for f in guide.footnotes:
        assert n.footnote_chunk[f.number].kind == "footnote"
        assert f.text.strip()[:20] in n.footnote_chunk[f.number].text


def test_a_chunk_brings_its_footnotes_and_same_section_siblings(guide):
    n = Neighbours(guide)
    body = guide.chunk("c05.s02.u03-b01")  # 全国の自治体数 is in its footnote ³⁰
    assert [c.id for c in n.footnotes(body)] == ["c05.s02.u03-n01"]
    assert "特別区 23" in n.footnotes(body)[0].text
    middle = guide.chunk("c04.s02.u03-b02")
    assert [c.id for c in n.siblings(middle)] == ["c04.s02.u03-b01", "c04.s02.u03-b03"]
    for c in guide.chunks:
        for s in n.siblings(c, span=2):
            assert s.section_id == c.section_id and s.id != c.id
            assert s.kind in ("body", "case", "column", "table")


def test_every_footnote_number_finds_its_own_chunk(guide):
    """Footnotes ² and ⁸ cite the same source and share their first words: each number maps to the
    chunk that opens with its own marker (⁸ had mapped to ²'s chunk)."""
    from assistant.neighbours import Neighbours, footnote_number

    n = Neighbours(guide)
    assert len(n.footnote_chunk) == len(guide.footnotes) >= 60
    assert {k for k, c in n.footnote_chunk.items() if footnote_number(c.text) != k} == set()
    assert n.footnote_chunk[8].text.lstrip().startswith("⁸") and n.footnote_chunk[2].text.lstrip().startswith("²")
