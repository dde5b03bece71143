"""Glossary terms spelt in romaji ("kan no ketteiken mondai", "yon-go zuikei"), found by the
reading each glossary entry carries, in any spacing, hyphenation or long-vowel spelling."""
from __future__ import annotations

import pytest

from index.romaji import fold, romaji_of


def test_spellings_of_one_reading_fold_together():
    assert romaji_of("かんのけっていけんもんだい") == "kannoketteikenmondai"
    assert fold("kan no ketteiken mondai") == fold("Kan-no-Ketteiken-Mondai") == fold(romaji_of("かんのけっていけんもんだい"))
    assert fold("kyōsō") == fold("kyousou") == fold("kyoso")
    assert fold("sampo yoshi") == fold(romaji_of("さんぽうよし"))


@pytest.mark.parametrize("question, term", [
    ("The guide mentions a 'kan no ketteiken mondai'. What problem is that?", "官の決定権問題"),
    ("People keep telling me about 'yon-go zuikei'. What is it?", "4号随契"),
    ("What does sanpo-yoshi mean in a partnership?", "三方よし"),
    ("Is the 'gaikaku dantai' of a city part of the city?", "外郭団体"),
])
def test_a_term_spelt_in_romaji_is_the_glossary_term(session_assistant, question, term):
    found = [(question[a:b], e.term) for a, b, e in session_assistant.matcher.romaji.find(question)]
    assert [t for _, t in found] == [term], found


def test_english_words_are_not_read_as_romaji(session_assistant):
    for q in ("How do we pitch a pilot to the mayor's office before the budget is set?",
              "Can a city buy from a startup without a tender, and what does the guide say about fairness?",
              "Where can I find a case about a bike-share service and a regional bank?"):
        assert session_assistant.matcher.romaji.find(q) == [], q


def test_a_question_naming_a_term_in_romaji_finds_its_passage(session_assistant):
    """Without the reading, "kan no ketteiken mondai" matched nothing of the guide and the answer
    quoted p.27's advice on setting problems; the term's passage is on p.121."""
    a = session_assistant.ask("The guide mentions a 'kan no ketteiken mondai'. What problem is that?")
    assert not a.abstained
    assert 121 in a.citations[0].pages, [c.pages for c in a.citations]
    assert "市場原理を熟知していない" in a.answer


def test_a_ubiquitous_term_in_romaji_adds_nothing_to_the_search(session_assistant):
    """「官民連携」 is in most chunks: the expander skips it, spelt as "kanmin renkei" too."""
    assert session_assistant.retriever.expander.spelt("What does 'kanmin renkei' mean here?") == []
    assert session_assistant.retriever.expander.spelt("What is the 'kan no ketteiken mondai'?") == ["官の決定権問題"]
