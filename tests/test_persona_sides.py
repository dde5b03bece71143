"""The asker's side of the guide leads: 第3章 自治体編 for an official, 第4章 スタートアップ編 for a
startup, when both mirror the answer; a passage written only for the other side says so."""
from __future__ import annotations

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
