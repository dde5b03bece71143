"""In-text page references (p.85参照 / （P32 参照） / 40ページ / 本ガイド 103 ページ / (P50) …)
parsed with the section they point to."""
from __future__ import annotations

from collections import Counter

import pytest

from ingest.pages import find_cross_refs

# Every page reference printed in the guide's body (footnotes excluded), read off the text:
# (page, source section id, target: exact node id, or a prefix ending in "*")
EXPECTED = [
    # 図表2 (はじめに (2)): (P50) ×2, (P85) ×3
    (50, "c01.s02", "c04.s03"), (85, "c01.s02", "c05.s04"), (85, "c01.s02", "c05.s04"),
    (50, "c01.s02", "c04.s03"), (85, "c01.s02", "c05.s04"),
    (86, "c02.s02", "c06*"),                    # 第5章 官民連携編（86ページ～）
    (86, "c03.s02.p04", "c06*"),                # 官民連携編（86 ページ以降）
    (30, "c03.s05.p01", "c04*"),                # 自治体編（30ページ以降）
    (85, "c03.s05.p01", "c05.s04"),             # 附録（85ページ）
    (40, "c03.s05.p02", "c04.s02.u01"),         # 40ページにて紹介している「課題整理シート」
    (103, "c04.s02.u01.p03", "c06.s03.u05"),    # 本ガイド 103 ページ (共同調達)
    (122, "c04.s02.u02.p01", "c06.s07"), (122, "c04.s02.u02.p01", "c06.s07"),
    (126, "c04.s02.u02.p01", "c06.s07"),
    (50, "c04.s02.u02.p01", "c04.s03"),
    (86, "c04.s02.u02.p02", "c06.s02"),         # 86 ページには…非金銭的な資源
    (110, "c04.s02.u04", "c06.s04*"),           # P110以降
    (112, "c04.s02.u04", "c06.s04.u02"), (118, "c04.s02.u04", "c06.s05.u02"),  # P112、P118を参照
    (94, "c04.s02.u05", "c06.s03.u04"),         # 詳細は P94 をご参照ください
    (59, "c05.s01.u01.p05", "c05.s02*"),        # 「官民連携に向けた各プロセスとそのポイント」(p.59)
    (86, "c05.s02.u02.p03", "c06*"),            # 第5章 官民連携編 (p.86～)
    (85, "c05.s02.u03.p01", "c05.s04"),         # （p.85参照）
    (38, "c06.s03.u03", "c04.s02*"),            # （自治体の課題整理については p.38 参照）
    (94, "c06.s03.u03", "c06.s03.u04"),         # P94以降により詳しく
    (32, "c06.s04.u03.q01", "c04.s01.u02"),     # 民間提案窓口（P32 参照）
    (50, "c06.s07.p01.e01", "c04.s03"),         # ロングリスト（P50参照）
]


def _target_ok(actual: str | None, expected: str) -> bool:
    if actual is None:
        return False
    if expected.endswith("*"):
        return actual == expected[:-1] or actual.startswith(expected[:-1] + ".")
    return actual == expected


@pytest.mark.parametrize("text,refs", [
    ("（p.85参照）をご提供", [("p.85参照", 85)]),
    ("民間提案窓口（P32 参照）によって", [("P32 参照", 32)]),
    ("40ページにて紹介している", [("40ページ", 40)]),
    ("本ガイド 103 ページをご参照ください", [("103 ページ", 103)]),
    ("スタートアップ(P50)を参考に", [("P50", 50)]),
    ("PPP/PFI や PFS、SIB の事例", []),
], ids=["p85-sansho", "P32-sansho", "40page", "103page", "P50", "not-PPP-PFS"])
def test_reference_forms_are_parsed(text, refs):
    assert find_cross_refs(text) == refs


def test_every_printed_reference_is_found_with_its_target(guide):
    found = list(guide.cross_refs)
    missing = []
    for page, source, target in EXPECTED:
        hit = next((r for r in found if r.page == page and r.source_section_id == source
                    and _target_ok(r.target_section_id, target)), None)
        if hit is None:
            missing.append((page, source, target))
        else:
            found.remove(hit)
    assert not missing, f"references not found (page, source, target): {missing}"


def test_no_spurious_references(guide):
    """「事業内容などを1ページにまとめたイラスト」 (図表8) is not a reference, nor are the
    page labels "p.1" / "p.2" printed inside 図表22 (the sample discussion paper)."""
    expected = Counter((p, s) for p, s, _ in EXPECTED)
    actual = Counter((r.page, r.source_section_id) for r in guide.cross_refs)
    spurious = [(r.text, r.page, r.source_section_id) for r in guide.cross_refs
                if actual[(r.page, r.source_section_id)] > expected[(r.page, r.source_section_id)]]
    assert not spurious
    assert guide.stats.cross_refs == len(EXPECTED)


def test_named_examples(guide):
    def node(node_id):
        stack = list(guide.tree)
        while stack:
            n = stack.pop()
            if n.id == node_id:
                return n
            stack.extend(n.children)
        raise KeyError(node_id)

    p50 = next(r for r in guide.cross_refs if r.text.startswith("P50"))
    assert node(p50.target_section_id).path == ["第3章 自治体編", "(3) 社会課題解決に意欲的なスタートアップを知るには"]
    p32 = next(r for r in guide.cross_refs if r.page == 32)
    assert node(p32.target_section_id).path == [
        "第3章 自治体編", "(1) 自治体が官民連携を進めるための準備プロセス", "STEP②スタートアップとの連携"]
    p85 = next(r for r in guide.cross_refs if r.text == "p.85参照")
    assert node(p85.target_section_id).heading == "(4) 官民連携やスタートアップ支援を行っている自治体はどこか"
    p103 = next(r for r in guide.cross_refs if r.page == 103)
    assert node(p103.target_section_id).heading == "⑤ 共同調達"
