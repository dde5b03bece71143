"""One glossary matching (ingest.glossary_search) and the everyday words of
data/glossary_general.yaml (一般語): loaded apart from the guide's glossary, never outranking it,
never routing, expanding queries or becoming citations."""
from __future__ import annotations

from pathlib import Path

import pytest

from ingest.glossary import load_general
from ingest.glossary_search import GENERAL, GENERAL_OUTSIDE, GlossarySearch, fold, is_general
from ingest.models import GlossaryEntry
from ingest.settings import get_settings

FIXTURE = Path(__file__).parent / "fixtures" / "glossary" / "general_small.yaml"
# words the issue found missing from the jargon translator (庁議 is in its own example sentence)
MUNICIPAL_WORDS = ["庁議", "債務負担行為", "財政課査定", "相見積もり", "決裁", "起案", "RFI"]


@pytest.fixture(scope="module")
def search(guide) -> GlossarySearch:
    return GlossarySearch.of_guide(guide)


@pytest.fixture(scope="module")
def raw() -> str:
    return Path(get_settings().guide_path).read_text(encoding="utf-8")


# ---------------------------------------------------------------- matching
def test_fold_width_case_kana_and_spaces():
    assert fold("ＰｏＣ") == fold("poc") == fold("P o C")
    assert fold("ズイイ") == fold("ずいい")
    assert fold("自治体“と共に”創る") == fold("自治体と共に創る")


@pytest.mark.parametrize("query, term", [
    ("PoC", "PoC"), ("ＰｏＣ", "PoC"), ("poc", "PoC"), ("proof of concept", "PoC"),
    ("ずいい", "随意契約"), ("ズイイケイヤク", "随意契約"), ("げんか", "原課"), ("genka", "原課"),
    ("ポンチ絵", "ボンチ絵"), ("スケール", "スケール(する)"), ("ちょうぎ", "庁議"), ("executive meeting", "庁議"),
])
def test_search_finds_by_reading_english_alias_and_width(search, query, term):
    assert search.search(query)[0].term == term


def test_procurement_finds_the_procurement_entries(search):
    terms = [e.term for e in search.search("procurement")]
    assert {"一般競争入札", "共同調達", "トライアル発注制度"} <= set(terms)
    # the guide's entries come before any everyday word found as well
    kinds = [is_general(e) for e in search.search("procurement")]
    assert kinds == sorted(kinds)


def test_exact_name_narrows_the_result(search):
    assert [e.term for e in search.search("原課")] == ["原課"]
    assert search.search("存在しない用語xyz") == []
    assert len(search.search("")) == len(search.entries)


def test_lookup_is_exact_or_a_single_prefix(search):
    assert search.lookup("PoC").term == "PoC"
    assert search.lookup("line division").term == "原課"
    assert search.lookup("ずいい").term == "随意契約"  # the one reading that starts so
    assert search.lookup("procurement") is None  # several entries: the list search, not one term
    assert search.lookup("  ") is None


def test_poc_is_not_the_exit_3_entry_any_more(search, guide):
    """「PoC」 used to resolve to 自治体“と共に”創る through an English alias: a misleading gloss."""
    assert guide.en_aliases.get("poc") is None and guide.en_aliases.get("proof of concept") is None
    assert all(e.term != "自治体“と共に”創る" for e in search.search("PoC"))


# ---------------------------------------------------------------- the real data file
def test_general_words_load_apart_from_the_guide_glossary(guide):
    general = guide.general_glossary
    assert len(general) >= 50
    assert all(is_general(e) and e.source == "general" for e in general)
    assert not any(is_general(e) for e in guide.glossary)  # retrieval, routing, citations never see them
    guide_names = {fold(n) for e in guide.glossary for n in (e.term, *e.aliases)}
    assert not [e.term for e in general if {fold(n) for n in (e.term, *e.aliases)} & guide_names]
    assert not set(guide.general_en_aliases) & set(guide.en_aliases)
    by_term = {e.term: e for e in general}
    for word in MUNICIPAL_WORDS + ["PoC"]:
        assert word in by_term, word


def test_general_file_has_no_problems(guide, raw):
    """Every anchor of the reviewed file is one verbatim line part of the guide that shows the word."""
    s = get_settings()
    result = load_general(s.glossary_general_path, raw, lambda pos: 0, guide.glossary, dict(guide.en_aliases))
    assert result.problems == []


def test_anchored_words_carry_the_page_where_the_guide_uses_them(guide, raw):
    anchored = [e for e in guide.general_glossary if e.category == GENERAL]
    assert len(anchored) >= 20 and all(len(e.pages) == 1 for e in anchored)
    kessai = next(e for e in guide.general_glossary if e.term == "決裁")
    assert kessai.category == GENERAL
    # the page is one on which the guide's own text says 決裁 (a chunk on that page holds it)
    assert any(kessai.pages[0] in c.pages and "決裁" in c.text for c in guide.chunks)
    outside = next(e for e in guide.general_glossary if e.term == "庁議")
    assert outside.category == GENERAL_OUTSIDE and outside.pages == [] and "庁議" not in raw


# ---------------------------------------------------------------- the loader, on a fixture
@pytest.fixture(scope="module")
def fixture_load(raw):
    guide_entries = [GlossaryEntry(term="原課", category="自治体語", meaning="m", reading="げんか")]
    en = {"line division": "原課", "poc": "原課"}
    return load_general(FIXTURE, raw, lambda pos: 1000 + pos, guide_entries, en), en


def test_loader_keeps_guide_entries_and_reports_what_it_dropped(fixture_load):
    (entries, en_aliases, problems), en = fixture_load
    terms = [e.term for e in entries]
    assert "原課" not in terms  # a guide term is never replaced
    assert any("原課" in p and "already in the guide" in p for p in problems)
    assert any(p.startswith("item 6") for p in problems)  # an empty term: dropped, reported
    assert en == {"line division": "原課", "poc": "原課"}  # the guide's aliases untouched
    assert "poc" not in en_aliases and en_aliases["proof of concept"] == "実証実験"


def test_loader_pages_from_anchor_or_marks_general(fixture_load, raw):
    (entries, _, problems), _ = fixture_load
    by = {e.term: e for e in entries}
    assert by["庁議"].category == GENERAL_OUTSIDE and by["庁議"].pages == []
    # an anchor found in the guide: the page map at the word's offset (page_at is offset + 1000 here)
    assert by["決裁"].category == GENERAL and by["決裁"].pages == [1000 + raw.find("決裁")]
    # an anchor that is not in the guide is dropped (reported), the word stays as general
    assert by["相見積もり"].category == GENERAL_OUTSIDE and by["相見積もり"].pages == []
    assert any("相見積もり" in p and "anchor dropped" in p for p in problems)


def test_loader_without_a_file_adds_nothing(raw, tmp_path):
    assert load_general(tmp_path / "absent.yaml", raw, lambda p: 0, [], {}) == ([], {}, [])


def test_loader_rejects_a_file_that_is_not_a_list(raw, tmp_path):
    from ingest.errors import IngestError

    bad = tmp_path / "bad.yaml"
    bad.write_text("just: text\nand: more\n", encoding="utf-8")
    with pytest.raises(IngestError, match="expected a list"):
        load_general(bad, raw, lambda p: 0, [], {})
    bad.write_text("- term: [unclosed\n", encoding="utf-8")
    with pytest.raises(IngestError, match="cannot parse"):
        load_general(bad, raw, lambda p: 0, [], {})


# ---------------------------------------------------------------- the jargon translator and answers
def test_translator_finds_the_common_municipal_words(session_assistant):
    memo = ("原課と調整のうえ、来年度の予算要求に向けて4号随契での対応を検討します。PoCの結果を踏まえ、庁議に諮る予定です。"
            "債務負担行為の設定、財政課査定、相見積もり、決裁、起案、RFIの準備。")
    found = {a.term: a for a in session_assistant.annotate(memo)}
    for word in ["原課", "4号随契", "PoC"] + MUNICIPAL_WORDS:
        assert word in found, word
        a = found[word]
        assert memo[a.start:a.end] == a.surface
    assert found["原課"].category == "自治体語" and found["庁議"].category == GENERAL_OUTSIDE


def test_half_and_full_width_find_the_same_entry(session_assistant):
    assert [a.term for a in session_assistant.annotate("ＰｏＣとＲＦＩ")] == ["PoC", "RFI"]


def test_general_words_are_notes_never_routes_or_citations(session_assistant):
    """庁議 is not in the guide: no glossary route, no citation of its (general) meaning; its note
    says it is general."""
    ans = session_assistant.ask("庁議とは何ですか？")
    assert ans.route != "glossary"
    chotei = next(e for e in session_assistant.guide.general_glossary if e.term == "庁議")
    assert chotei.meaning not in ans.answer
    assert all(chotei.meaning not in c.quote for c in ans.citations)
    note = next(n for n in ans.glossary if n.term == "庁議")
    assert note.category == GENERAL_OUTSIDE


def test_guide_terms_come_before_general_words_in_answer_notes(session_assistant):
    ans = session_assistant.ask("PoCの結果を踏まえて、原課と予算化を進めるには？")
    cats = [n.category in (GENERAL, GENERAL_OUTSIDE) for n in ans.glossary]
    assert cats == sorted(cats) and False in cats and True in cats
    assert all(c.chunk_id in session_assistant.chunks for c in ans.citations)
