"""「ガイドには…の記載はありません」: a question whose topic the guide covers but whose detail
(an amount, a date, a contact) it does not state is declined with the nearest sections; the
amounts, names and dates the guide does state are still answered (from the guide's own text)."""
from __future__ import annotations

import pytest

from assistant.asked_detail import asked_detail


@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


@pytest.mark.parametrize("question, first", [
    ("トライアル発注制度の認定に申請するときの手数料はいくら？", "ガイドには具体的な金額についての記載はありません。"),
    ("Urban Innovation JAPANの参加費はいくら？", "ガイドには具体的な金額についての記載はありません。"),
    ("インパクトスタートアップ協会の連絡先の電話番号は？", "ガイドには連絡先・URLについての記載はありません。"),
    ("How much does it cost to join the Impact Consortium?", "The guide does not state the amount."),
    ("What is the deadline for applying to the trial ordering program?", "The guide does not state the date or deadline."),
])
def test_an_unstated_detail_is_declined_with_the_nearest_sections(assistant, question, first):
    a = assistant.ask(question)
    assert a.abstained and a.abstain_reason == "not_stated"
    assert a.route == "qa"  # in scope: only the detail is missing
    assert a.answer.split("\n", 1)[0] == first
    assert a.citations == [] and a.nearest_sections


@pytest.mark.parametrize("question, stated", [
    ("成果連動型の事例で、最大委託料はいくらだった？", "6,100万円"),  # the PFS case's figures
    ("インパクトコンソーシアムは何年何月に立ち上がった？", "2023年11月"),
    ("禁煙の事例で、医療費削減額の推計は一人あたりいくら？", "73.4万円"),
])
def test_a_stated_amount_or_date_is_answered(assistant, question, stated):
    a = assistant.ask(question)
    assert not a.abstained, a.answer
    assert stated in a.answer + "".join(c.quote for c in a.citations)


@pytest.mark.parametrize("question, kind", [
    ("参加費はかかりますか？", "amount"),
    ("How much is the fee?", "amount"),
    ("協力した銀行の名前は？", "name"),
    ("応募の締め切りはいつ？", "date"),
    ("問い合わせ先のURLを教えて", "contact"),
    ("予算化はいつ頃までに相談すべき？", None),  # timing in the guide's own terms, not a date
    ("4号随契とは？", None),
])
def test_what_detail_a_question_asks_for(question, kind):
    d = asked_detail(question)
    assert (d.name if d else None) == kind


@pytest.mark.parametrize("question", [
    "What does the guide say about proof-of-concept trials?",  # the misfire named in issue 13
    "Any advice on running PoCs with a city?",
    "How should a startup run a pilot with a municipality?",
    "PoCを自治体とやるときの注意点は？",
])
def test_a_paraphrase_of_a_covered_topic_is_not_declined(assistant, question):
    """PoC / pilot / proof-of-concept are the guide's 実証実験 (出口③ and the 実証 passages):
    declining them as "not in the guide" would be as wrong as answering an unstated fee."""
    a = assistant.ask(question)
    assert not a.abstained, a.answer
    assert any("実証" in c.quote or any("実証" in p for p in c.section_path) for c in a.citations), a.answer
