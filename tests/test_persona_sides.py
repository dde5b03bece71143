"""The asker's side of the guide leads: 第3章 自治体編 for an official, 第4章 スタートアップ編 for a
startup, when both mirror the answer; a passage written only for the other side says so."""
from __future__ import annotations

import re

import pytest



@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


@pytest.mark.parametrize("question", ["予算化に向けて何をすべき？", "連携先を探すにはどうすればいい？", "庁内の合意形成はどう進める？"])
@pytest.mark.parametrize("persona, chapter", [("municipality", "第3章"), ("startup", "第4章")])
def test_the_askers_chapter_leads(assistant, question, persona, chapter):
    a = assistant.ask(question, persona=persona)
    assert not a.abstained
    lead = a.citations[0]
    assert lead.section_path[0].startswith(chapter), (persona, lead.section_path)
    assert persona in assistant.chunk(lead.chunk_id).personas


def test_a_quote_from_the_other_side_is_labelled(assistant):
    a = assistant.ask("予算化に向けて何をすべき？", persona="municipality")
    others = [c for c in a.citations if assistant.chunk(c.chunk_id).personas == ["startup"]]
    assert others, "expected a 第4章 passage beside the 第3章 lead"
    assert "（相手側の視点から）" in a.answer


def test_the_asker_is_inferred_from_who_acts_and_an_other_side_lead_is_labelled(assistant):
    """"What should a city prepare…" asks as a city; the guide's budget timing is written for
    startups (第4章 ⑤ 予算化), so the lead itself is labelled as the other side's."""
    a = assistant.ask("What should a city prepare before asking for next year's budget for a startup service?")
    assert a.persona == "municipality"
    lead = a.citations[0]
    assert assistant.chunk(lead.chunk_id).personas == ["startup"], lead.section_path
    assert a.answer.split("\n")[1].startswith("- From the other side: 「"), a.answer[:300]
    # every passage written only for startups says so, in either language
    ja = assistant.ask("自治体は次年度の予算化に向けて何をすべき？")
    assert ja.persona == "municipality"
    parts = re.split(r"\[(\d+)\]", ja.answer)  # text, n, text, n, …: each passage ends at its marker
    shown = {int(parts[k]): parts[k - 1] if k == 1 else parts[k - 1].split("\n", 1)[1] for k in range(1, len(parts), 2)
             if k == 1 or "\n" in parts[k - 1]}
    startup_only = [c.n for c in ja.citations if assistant.chunk(c.chunk_id).personas == ["startup"]
                    and c.quote[:20] in ja.answer]  # quoted in the text, not only cited on the 関連箇所 line
    assert startup_only, ja.answer[:200]  # (the lead is 第5章's, written for both sides)
    for n in startup_only:
        assert shown[n].startswith("（相手側の視点から）"), shown[n][:80]


def test_a_passage_for_both_sides_leads_when_it_answers_best(assistant):
    """The margin for the asker's side guards against the other side's chapter only: a startup
    asking whether a 連携協定 binds both sides reads 第5章's answer (written for both) first, not
    a 第4章 sentence that scores 0.6 of it (AnswerConfig.side_neutral)."""
    q = "ある自治体と連携協定を結ぶ話が進んでいます。協定って、契約みたいにお互いを縛るものなんでしょうか？"
    a = assistant.ask(q, persona="startup")
    lead = a.citations[0]
    assert "紳士協定的な位置づけ" in lead.quote, a.answer[:300]
    assert assistant.chunk(lead.chunk_id).personas == ["all"], lead.section_path
    assert a.answer.index("紳士協定") < 250
