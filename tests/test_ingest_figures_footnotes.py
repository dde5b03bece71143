"""Figure captions placed on their listed pages; footnotes (71 numbered in the guide, 56–57 lost
with page 115) complete, verbatim, and linked to the chunk that carries their marker."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.settings import get_settings
from ingest.text import SUPERSCRIPT_DIGITS, canonical

SUP = str.maketrans("0123456789", SUPERSCRIPT_DIGITS)
LOST_FOOTNOTES = {56, 57}  # printed on page 115, which the text extraction lost

# The page each footnote is printed on. In this extraction the footnotes of a page sit right
# after the page's last line (often cutting a sentence), so the text right before a footnote
# run is the end of that page: e.g. ¹–⁴ follow 「…メゾンを傘下に持つ」 (end of p.1, はじめに),
# ⁷⁸⁹ follow (2) 本ガイドで推進する「官民連携」とは (p.9), ²⁶ follows 図表17 (p.40).
FOOTNOTE_PAGES = {
    1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 3, 7: 9, 8: 9, 9: 9, 10: 10, 11: 10, 12: 12, 13: 14,
    14: 23, 15: 24, 16: 29, 17: 30, 18: 30, 19: 33, 20: 33, 21: 34, 22: 34, 23: 36, 24: 37,
    25: 38, 26: 40, 27: 41, 28: 50, 29: 61, 30: 72, 31: 82, 32: 82, 33: 85, 34: 87, 35: 87,
    36: 89, 37: 91, 38: 93, 39: 97, 40: 98, 41: 99, 42: 100, 43: 101, 44: 103, 45: 104,
    46: 105, 47: 107, 48: 107, 49: 108, 50: 108, 51: 111, 52: 111, 53: 111, 54: 113, 55: 114,
    58: 116, 59: 117, 60: 119, 61: 120, 62: 122, 63: 123, 64: 124, 65: 125, 66: 127, 67: 128,
    68: 129, 69: 131, 70: 131, 71: 133,
}


@pytest.fixture(scope="module")
def raw() -> str:
    return Path(get_settings().guide_path).read_text(encoding="utf-8")


def marker_re(n: int) -> re.Pattern[str]:
    """Footnote marker n inside running text (not glued to other superscript digits)."""
    sup = str(n).translate(SUP)
    return re.compile(rf"(?<![{SUPERSCRIPT_DIGITS}\n]){sup}(?![{SUPERSCRIPT_DIGITS}])")


# ---------------------------------------------------------------- figures

def test_at_least_55_captions_placed(guide):
    placed = {f.number for f in guide.figures if f.placed}
    assert guide.stats.figures_placed == len(placed) >= 55
    fig_chunks = [c for c in guide.chunks if c.kind == "figure"]
    assert sorted(c.figure for c in fig_chunks) == sorted(placed), "one caption chunk per placed figure"


def test_caption_chunks_carry_their_caption_on_the_listed_page(guide):
    listed = {f.number: f.page for f in guide.figures}
    for c in guide.chunks:
        if c.kind != "figure":
            continue
        assert re.match(rf"^図表\s*{c.figure}\s*[：:]", c.text), c.text
        assert c.pages == [listed[c.figure]], (c.figure, c.pages, listed[c.figure])


def test_figure_tables_sit_on_their_figure_page(guide):
    listed = {f.number: f.page for f in guide.figures}
    tables = [c for c in guide.chunks if c.kind in ("table", "glossary") and c.figure is not None]
    assert {c.figure for c in tables} >= {2, 3, 8, 9, 10, 12, 13, 19, 20, 23, 30, 42, 51, 58}
    for c in tables:
        assert min(abs(p - listed[c.figure]) for p in c.pages) <= 1, (c.id, c.figure, c.pages)


def test_every_table_belongs_to_its_figure(guide):
    """A table printed above its caption belongs to that figure also when a credit, a logo's text
    or a sample's page label sits between them (図表41's 「Copyright © … Hiroshima Prefecture」,
    図表27's 「Life is Tech!」, 図表22's 「p.2」)."""
    tables = [c for c in guide.chunks if c.kind in ("table", "glossary")]
    assert tables and all(c.figure is not None for c in tables), [c.id for c in tables if c.figure is None]
    rows_of = {n: "\n".join(c.text for c in tables if c.figure == n) for n in (22, 27, 41)}
    assert "福山市" in rows_of[41] and "Liberaware" in rows_of[41]
    assert "ライフイズテック" in rows_of[27] and "必要となる予算" in rows_of[22]


def test_body_right_after_a_caption_is_on_that_page_or_the_next(guide):
    listed = {f.number: f.page for f in guide.figures}
    chunks = guide.chunks
    checked = 0
    for i, c in enumerate(chunks):
        if c.kind != "figure":
            continue
        nxt = next((x for x in chunks[i + 1:] if x.kind not in ("figure", "table", "footnote", "reference")), None)
        if nxt is None or nxt.kind not in ("body", "case", "column"):
            continue
        p = listed[c.figure]
        assert set(nxt.pages) & {p, p + 1}, (c.figure, p, nxt.id, nxt.pages)
        checked += 1
    assert checked >= 40


# ---------------------------------------------------------------- footnotes

def test_all_footnotes_but_the_lost_page_are_present(guide, raw):
    body = raw[raw.index("\nはじめに\n", raw.index("附録")):]
    printed = {int(m.group(1).translate(str.maketrans(SUPERSCRIPT_DIGITS, "0123456789")))
               for m in re.finditer(rf"^([{SUPERSCRIPT_DIGITS}]+)", body, flags=re.M)}
    assert printed == set(range(1, 72)) - LOST_FOOTNOTES  # the guide numbers 71 footnotes
    assert [f.number for f in guide.footnotes] == sorted(printed)
    assert guide.stats.footnotes == 69


def test_every_footnote_is_linked_to_the_chunk_carrying_its_marker(guide):
    assert guide.stats.footnotes_linked == 69
    order = {c.id: i for i, c in enumerate(guide.chunks)}
    heading_markers = []
    for fn in guide.footnotes:
        assert fn.chunk_id, f"footnote {fn.number} is not linked"
        host = guide.chunk(fn.chunk_id)
        assert host is not None and host.kind != "footnote"
        if marker_re(fn.number).search(host.text):
            assert fn.number in host.footnotes
            # linked to the first citation in reading order
            first = next(c for c in guide.chunks if c.kind != "footnote" and marker_re(fn.number).search(c.text))
            assert order[first.id] == order[host.id], (fn.number, first.id, host.id)
        else:
            # the marker is on a heading (事例紹介：さいたま市×…「…を導入」³⁸): the section's first chunk
            assert marker_re(fn.number).search(host.section_path[-1]), (fn.number, host.id)
            assert host is next(c for c in guide.chunks if c.section_id == host.section_id), (fn.number, host.id)
            heading_markers.append(fn.number)
    assert heading_markers == [38]


def test_footnote_9_is_linked_to_the_externality_sentence(guide):
    fn9 = next(f for f in guide.footnotes if f.number == 9)
    host = guide.chunk(fn9.chunk_id)
    assert "外部不経済⁹" in host.text
    assert host.section_path[-1] == "(1) 「スタートアップ」とは"
    assert fn9.text.startswith("経済活動の費用や便益が取引当事者以外に及ぶことを「外部性」と呼ぶ。")


def test_footnote_texts_are_verbatim(guide, raw):
    for fn in guide.footnotes:
        assert not fn.text[:1] in SUPERSCRIPT_DIGITS, fn.number
        for line in fn.text.split("\n"):
            assert line.strip() and line.strip() in raw, (fn.number, line)


def test_footnote_url_lines_stay_with_their_footnote(guide):
    """A footnote's second line "(<https://…>)" / "（<https://…>）より" belongs to the footnote,
    not to the body paragraph the page break cut (regression: 17, 31, 32, 60)."""
    texts = {f.number: f.text for f in guide.footnotes}
    assert "https://www.city.yokohama.lg.jp/business/kyoso/kyosofront/front/front.html" in texts[17]
    assert "https://www.mof.go.jp/policy/budget/reference/statistics/term.htm" in texts[31]
    assert "https://www.mof.go.jp/policy/budget/reference/statistics/term.htm" in texts[32]
    assert "https://www.meti.go.jp/press/2023/04/20230426001/20230426001.html" in texts[60]
    # …and footnote 42 does not swallow the 【参考 URL】 link printed after it
    assert "0603ivt.html" not in texts[42]
    body = [c for c in guide.chunks if c.kind in ("body", "case", "column")]
    # the sentence cut by footnotes 17/18 reads on, without the URL in the middle
    assert any("次に、連携を円滑に進めるためのルールづくりを行います。" in c.text for c in body)
    assert not any("www.mof.go.jp" in c.text or "kyosofront" in c.text for c in body)
    assert any(c.text.startswith("経済産業省を中心に、スタートアップ向けの規制対応") for c in body)


def test_footnote_chunks(guide):
    notes = [c for c in guide.chunks if c.kind == "footnote"]
    assert len(notes) == 69
    by_number = {f.number: f for f in guide.footnotes}
    for c in notes:
        m = re.match(rf"^([{SUPERSCRIPT_DIGITS}]+)", c.text)
        assert m, c.text
        n = int(m.group(1).translate(str.maketrans(SUPERSCRIPT_DIGITS, "0123456789")))
        fn = by_number[n]
        assert canonical(c.text[m.end():]) == canonical(fn.text)
        assert c.pages == [fn.page]
        host = guide.chunk(fn.chunk_id)
        assert c.section_id == host.section_id  # in the section of the chunk that cites it


def test_footnote_pages(guide):
    wrong = {f.number: (f.page, FOOTNOTE_PAGES[f.number]) for f in guide.footnotes
             if abs(f.page - FOOTNOTE_PAGES[f.number]) > 1}
    assert not wrong, f"footnote: (page, printed page) {wrong}"


def test_every_marker_is_linked_to_its_footnote(guide):
    """70 markers in the body point at the 69 footnotes the text kept (²⁶ is cited by
    both 図表16 and 図表17; ³⁸ sits in a case-study heading)."""
    assert guide.stats.footnote_markers_linked >= 70
    by_number = {f.number: f for f in guide.footnotes}
    assert len(by_number[26].cited_by) == 2
    chunks = {c.id: c for c in guide.chunks}
    assert {chunks[cid].figure for cid in by_number[26].cited_by} == {16, 17}
    for f in guide.footnotes:
        assert f.cited_by and f.chunk_id == f.cited_by[0]
