"""Chunks: section-bounded, 300–700 characters, cut at sentence boundaries, never inside 「」,
stable ids, NFKC search text with the heading path, full coverage, clean tables."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from ingest.pipeline import parse_guide
from ingest.settings import get_settings
from ingest.text import SUPERSCRIPT_DIGITS, canonical

PROSE = ("body", "case", "column")
SENTENCE_END = "。！？」）)" + SUPERSCRIPT_DIGITS


@pytest.fixture(scope="module")
def raw() -> str:
    return Path(get_settings().guide_path).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def nodes(guide):
    out = {}

    def walk(ns):
        for n in ns:
            out[n.id] = n
            walk(n.children)

    walk(guide.tree)
    return out


def prose(guide):
    return [c for c in guide.chunks if c.kind in PROSE]


# ---------------------------------------------------------------- section bounds

def test_chunks_never_cross_a_section(guide, raw, nodes):
    canon_cache: dict[str, str] = {}
    bad = []
    for c in guide.chunks:
        if c.kind == "footnote":
            continue  # footnotes are filed under the section that cites them
        node = nodes[c.section_id]
        assert node.start < node.end, node.id
        canon = canon_cache.setdefault(node.id, canonical(raw[node.start:node.end]))
        for line in c.text.split("\n"):
            key = canonical(line)
            if not key:
                continue
            # a line may join two halves of a sentence cut by a page break: check both ends
            if key[:12] not in canon or key[-12:] not in canon:
                bad.append((c.id, line[:30]))
    assert not bad, f"chunk text outside its section's character range: {bad[:10]}"


def test_chunks_sit_in_their_own_node_not_in_a_child(guide, raw, nodes):
    bad = []
    for c in guide.chunks:
        if c.kind in ("footnote", "glossary", "table"):
            continue
        node = nodes[c.section_id]
        first = c.text.split("\n")[0]
        pos = -1
        for n in (20, 8, 3):  # short prefixes: a glued label line is not verbatim (see the label test)
            pos = raw.find(first[:n], node.start, node.end)
            if pos >= 0:
                break
        assert pos >= 0, (c.id, first[:20])
        for child in node.children:
            if child.start <= pos < child.end:
                bad.append((c.id, child.id))
    assert not bad


def test_node_ranges_nest(nodes):
    for n in nodes.values():
        for child in n.children:
            assert n.start <= child.start < child.end <= n.end, (n.id, child.id)


# ---------------------------------------------------------------- sizes

def test_body_chunk_sizes(guide):
    chunks = guide.chunks
    body = prose(guide)
    sizes = [len(c.text) for c in body]
    assert max(sizes) <= 1000
    assert sum(300 <= s <= 700 for s in sizes) / len(sizes) >= 0.55, "most prose chunks are 300–700 chars"
    for c in guide.chunks:
        if c.kind not in ("table", "glossary"):
            assert len(c.text) <= 1000, (c.id, len(c.text))
    # a chunk under 300 chars is either a whole short run (its neighbours belong elsewhere)
    # or the tail of a long run that could not be merged without passing ~850 chars
    for i, c in enumerate(chunks):
        if c.kind not in PROSE or len(c.text) >= 300:
            continue
        same = [x for x in (chunks[i - 1] if i else None, chunks[i + 1] if i + 1 < len(chunks) else None)
                if x is not None and x.section_id == c.section_id and x.kind == c.kind]
        for x in same:
            assert len(c.text) >= 150 and len(x.text) + len(c.text) > 700, (c.id, len(c.text), x.id, len(x.text))


def test_consecutive_chunks_of_one_run_could_not_be_merged(guide):
    chunks = guide.chunks
    for a, b in zip(chunks, chunks[1:]):
        if a.kind in PROSE and a.kind == b.kind and a.section_id == b.section_id:
            assert len(a.text) + len(b.text) > 700, (a.id, b.id)


# ---------------------------------------------------------------- boundaries

def test_chunks_end_at_a_sentence_or_line_end(guide, raw, nodes):
    bad = []
    for c in prose(guide):
        t = c.text.rstrip()
        if t[-1] in SENTENCE_END:
            continue
        node = nodes[c.section_id]
        tail = t.split("\n")[-1][-6:]
        ok = False
        pos = raw.find(tail, node.start, node.end)
        while pos >= 0:
            if raw[pos + len(tail):pos + len(tail) + 1] in ("\n", ""):
                ok = True  # a newline-terminated line (list item, label, URL) ends the chunk
                break
            pos = raw.find(tail, pos + 1, node.end)
        if not ok:
            bad.append((c.id, t[-20:]))
    assert not bad


def test_chunks_start_at_a_sentence_or_line_start(guide, raw, nodes):
    bad = []
    for c in prose(guide):
        node = nodes[c.section_id]
        first = c.text.split("\n")[0]
        head = first[:12] if raw.find(first[:12], node.start, node.end) >= 0 else first[:3]
        ok = False
        pos = raw.find(head, node.start, node.end)
        while pos >= 0:
            if raw[pos - 1] in "\n " + SENTENCE_END:
                ok = True
                break
            pos = raw.find(head, pos + 1, node.end)
        if not ok:
            bad.append((c.id, c.text[:20]))
    assert not bad


def test_chunks_are_not_cut_inside_brackets(guide):
    body = prose(guide)
    balanced = [c for c in body if c.text.count("「") == c.text.count("」")]
    assert len(balanced) / len(body) >= 0.95
    # the only imbalance is the guide's own typo (「「福岡 100 ラボ」テーマ型公募 募集要項」 lacks its opener)
    unbalanced = [c for c in body if c not in balanced]
    assert all("募集要項」" in c.text for c in unbalanced), [c.id for c in unbalanced]


def test_page_break_halves_are_joined(guide):
    """A sentence cut by a page break (and the footnotes printed there) reads on in one chunk."""
    text = "\n".join(c.text for c in prose(guide))
    for joined in ("2.新しい技術やビジネスモデル（イノベーション）を有し",
                   "形作っていくことで官民連携が実現します",
                   "一助となることを目指しています",
                   "ルイ・ヴィトンなどのメゾンを傘下に持つLVMH のアワード",
                   "次に、連携を円滑に進めるためのルールづくり"):
        assert joined in text, joined


LABELS = [
    "ズレ① 課題解決の手段への認識",
    "マッチングの機会②官民連携のマッチングサービスを利用する",
    "観点⑤ 非金銭的なメリットとして自治体に求めるもの",
    "パターン① 首長の意思決定により方針決裁を得る",
    "✓ 当初予算",
    "【随意契約について】",
    "スタートアップとの随意契約を推進する支援制度を設けるのも一案",
    "トライアル発注制度の活用拡大にむけて",
    "札幌市：伊藤諒",
]


def test_label_lines_are_not_glued_to_the_next_paragraph(guide, raw):
    """Quotable text is the guide's own words: a heading-like line (no 。) printed on its own
    must not run into the following paragraph (「…首長の意思決定により方針決裁を得る縦軸での…」).
    Only a sentence cut by a page break is joined (test_page_break_halves_are_joined)."""
    glued = []
    for label in LABELS:
        assert f"\n{label}\n" in raw, label
        hits = [c for c in prose(guide) if label in c.text]
        assert hits, label
        for c in hits:
            i = c.text.index(label) + len(label)
            if c.text[i:i + 1] not in ("", "\n"):
                glued.append((c.id, c.text[i - len(label):i + 12]))
    assert not glued, f"{len(glued)}/{len(LABELS)} label lines run into the next paragraph: {glued}"


# ---------------------------------------------------------------- ids, search text

def test_ids_unique_and_stable(guide):
    ids = [c.id for c in guide.chunks]
    assert len(ids) == len(set(ids))
    settings = get_settings()
    again = parse_guide(Path(settings.guide_path), settings)
    assert [c.id for c in again.chunks] == ids
    assert [c.text for c in again.chunks] == [c.text for c in guide.chunks]


def test_ids_stable_for_a_copy_with_crlf_line_ends(guide, tmp_path):
    settings = get_settings()
    copy = tmp_path / "guide-crlf.txt"
    copy.write_bytes(Path(settings.guide_path).read_bytes().replace(b"\n", b"\r\n"))
    other = parse_guide(copy, settings)
    assert other.sha256 != guide.sha256
    assert [(c.id, c.text) for c in other.chunks] == [(c.id, c.text) for c in guide.chunks]


def test_ids_encode_the_section(guide):
    for c in guide.chunks:
        assert c.id.startswith(c.section_id + "-"), c.id
        assert re.fullmatch(r"[a-z0-9.]+-[btfnkerg]\d{2}", c.id), c.id


def test_search_text_is_nfkc_with_heading_path(guide):
    for c in guide.chunks:
        assert c.search_text == unicodedata.normalize("NFKC", c.search_text), c.id
        assert unicodedata.normalize("NFKC", " > ".join(c.section_path)) in c.search_text, c.id
        assert canonical(c.text) in canonical(c.search_text), c.id
        if c.kind != "footnote":
            assert not c.text.startswith(c.section_path[-1]), c.id
            assert not c.text.startswith(" > ".join(c.section_path)), c.id


def test_section_paths_match_the_tree(guide, nodes):
    for c in guide.chunks:
        assert c.section_path == nodes[c.section_id].path, c.id


# ---------------------------------------------------------------- coverage, tables

def test_coverage_stat(guide):
    assert guide.stats.coverage >= 0.99


def test_coverage_of_the_body_text(guide, raw, nodes):
    """Independently of the stat: the body's lines (each table cell, each paragraph line)
    reappear in chunk texts or headings, ≥ 99 % of their characters."""
    corpus = canonical("".join(c.text for c in guide.chunks)) + canonical("".join(n.heading for n in nodes.values()))
    body = raw[nodes["c01"].start:]
    total = covered = 0
    for line in body.split("\n"):
        for cell in line.split("\t"):
            key = canonical(cell)
            total += len(key)
            covered += len(key) if key in corpus else 0
    assert covered / total >= 0.99


def test_tables_are_cleaned(guide):
    for c in guide.chunks:
        for tag in ("<ul", "<p>", "</p>", "<li", "</ul>", "list-style-type"):
            assert tag not in c.text, (c.id, tag)
            assert tag not in c.search_text, (c.id, tag)
    tables = [c for c in guide.chunks if c.kind in ("table", "glossary")]
    assert len(tables) >= 40
    # cells are joined with " | ", rows with newlines
    assert all(" | " in c.text for c in tables if c.kind == "glossary")
    assert sum(" | " in c.text for c in tables) >= 35


def test_a_hard_wrapped_paragraph_splits_into_its_sentences_not_its_lines(guide):
    """p.120's paragraph is broken into lines mid-word by the PDF extraction (「…スタ\\n ートアップ…」):
    its sentences run across the breaks, so each is quotable whole, and a quote of it reads joined.
    A line that starts an item (「\\n ※補正予算は…」, 「\\n - 各分科会」) still starts a sentence."""
    from assistant.table_rows import rows_view
    from ingest.text import quotable_spans, sentence_spans

    chunk = next(c for c in guide.chunks if "規制のサンドボックス\n 制度」を必要に応じて活用し" in c.text)
    sentences = [chunk.text[a:b] for a, b in quotable_spans(chunk.text, chunk.kind)]
    assert len(sentences) == 4, sentences
    assert sentences[0].startswith("経済産業省を中心に") and sentences[0].endswith("発出しています。")
    assert sentences[3].endswith("（図表\n 49）。")
    assert "スタートアップの可能性を最大限" in rows_view(chunk, sentences[3])
    note = "によって多少前後します\n ※補正予算は"
    other = next(c for c in guide.chunks if note in c.text)
    at = other.text.index(note) + len(note) - len("※補正予算は")
    assert any(a == at for a, _ in sentence_spans(other.text))
