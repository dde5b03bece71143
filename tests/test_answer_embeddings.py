"""One query embedding per answer, whatever the route (the model call is most of an answer's time).

Counted on the real embedder: every route and the question shapes that used to embed again —
a glossary question whose passages never use the term, two-part questions with English parts,
locate and figure questions."""
from __future__ import annotations

import pytest


QUESTIONS = [
    ("原課とは？", "glossary"),
    ("What does PFS mean?", "glossary"),
    ("4号随契を使うにはどんな手続きが必要ですか？", "qa"),
    ("What is the trial ordering system, and how does a startup get certified?", "qa"),
    ("原課って何？あと、共同調達のメリットは？", "qa"),
    ("公平性の考え方って、ガイドのどこに書いてある？", "locate"),
    ("図表28は何を示していますか？", "figure"),
    ("今日の天気は？", "out_of_scope"),
]


@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


@pytest.mark.parametrize("question, route", QUESTIONS)
def test_an_answer_embeds_the_question_once(assistant, question, route):
    retriever = assistant.retriever
    retriever.forget_query_vectors()  # as a new question
    before = retriever.embedder.queries_embedded
    answer = assistant.ask(question)
    assert answer.route == route
    assert answer.citations or answer.abstained
    assert retriever.embedder.queries_embedded - before == 1


def test_a_reading_path_answer_embeds_nothing(assistant):
    retriever = assistant.retriever
    retriever.forget_query_vectors()
    before = retriever.embedder.queries_embedded
    answer = assistant.ask("自治体の財政課職員はどの章から読めばいい？")
    assert answer.route == "reading_path"
    assert retriever.embedder.queries_embedded == before
