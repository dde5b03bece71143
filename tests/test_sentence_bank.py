"""The sentence question bank: data valid against the guide, persisted with the index, and a
sentence ranking that finds the sentence which answers among those that share the topic."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_index_support import copy_index, make_settings, shared_index_dir, shared_retriever  # noqa: F401

from index.asked_sentences import AskedSentences
from index.build import asked_rows
from index.errors import IndexUnavailable
from index.manifest import ASKED_NAME, ASKED_VECTORS_NAME, SENTENCES_NAME
from ingest.errors import IngestError
from ingest.models import SentenceQuestion
from ingest.sentence_questions import load_sentence_questions, quotable_sentences
from ingest.settings import get_settings


def test_every_entry_is_a_quotable_sentence_of_the_guide(guide):
    data = yaml.safe_load(get_settings().sentence_questions_path.read_text(encoding="utf-8"))
    known = quotable_sentences(guide.chunks)
    assert [e["sentence"] for e in data if e["sentence"] not in known] == []
    assert len(guide.sentence_questions) == sum(len(e.get("ja") or []) + len(e.get("en") or []) for e in data)
    assert {q.lang for q in guide.sentence_questions} == {"ja", "en"}
    # most of the guide's sentences have questions (the rest are headings, transitions, fragments)
    assert len({e["sentence"] for e in data}) >= 0.75 * len(known)


def test_unknown_sentences_are_dropped_and_bad_yaml_is_a_clear_error(tmp_path, guide):
    sentence = next(iter(sorted(quotable_sentences(guide.chunks))))
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump([{"sentence": sentence, "ja": ["何て書いてある？"], "en": ["What does it say?"]},
                                 {"sentence": "ガイドにない文です。", "ja": ["消えた文"]}], allow_unicode=True),
                 encoding="utf-8")
    qs = load_sentence_questions(p, guide.chunks)
    assert [(q.lang, q.text) for q in qs] == [("ja", "何て書いてある？"), ("en", "What does it say?")]
    assert all(q.sentence == sentence for q in qs)
    assert load_sentence_questions(tmp_path / "missing.yaml", guide.chunks) == []
    for bad, says in (("- sentence: [unclosed\n", "cannot parse s.yaml"),
                      ("sentence: 本ガイドは\n", "must be a list"),
                      ("- ja: [質問]\n", "entry 1 must have a sentence")):
        p.write_text(bad, encoding="utf-8")
        with pytest.raises(IngestError) as err:
            load_sentence_questions(p, guide.chunks)
        assert says in err.value.message


def test_the_bank_changes_the_corpus_id(guide):
    from ingest.pipeline import parse_guide

    s = get_settings()
    other = parse_guide(s.guide_path, s.model_copy(update={"sentence_questions_path": Path("/nonexistent.yaml")}))
    assert other.sentence_questions == []
    assert other.corpus_sha256 != guide.corpus_sha256


def test_a_question_points_at_every_row_of_its_sentence():
    q = [SentenceQuestion(sentence="同じ文。", lang="ja", text="何？"), SentenceQuestion(sentence="ない文。", lang="en", text="X?")]
    assert asked_rows(["別の文。", "同じ文。", "同じ文。"], q) == [[1, "ja", "何？"], [2, "ja", "何？"]]


def test_bank_is_persisted_with_the_index(shared_retriever, guide):
    vectors = shared_retriever.sentences
    bank = vectors.asked
    rows = json.loads((shared_index_dir() / ASKED_NAME).read_text(encoding="utf-8"))
    spans = json.loads((shared_index_dir() / SENTENCES_NAME).read_text(encoding="utf-8"))
    chunks = {c.id: c for c in guide.chunks}
    by_text = {}
    for q in guide.sentence_questions:
        by_text.setdefault(q.text, set()).add(q.sentence)
    # each row's sentence is the one its question was written for
    for row, lang, text in rows:
        cid, a, b = spans[row]
        assert chunks[cid].text[a:b] in by_text[text]
    assert len(bank) == len(rows) >= len(guide.sentence_questions)
    assert np.allclose(np.linalg.norm(bank.vectors, axis=1), 1.0, atol=1e-3)


def test_a_bank_question_finds_its_own_sentence_first(shared_retriever, guide):
    vectors = shared_retriever.sentences
    q = next(q for q in guide.sentence_questions if q.lang == "ja" and "インパクトスタートアップ協会" in q.sentence)
    qv = shared_retriever.query_vector(q.text)
    cid, a, b = vectors.asked_top(qv, 1)[0]
    assert shared_retriever._by_id[cid].text[a:b] == q.sentence
    assert vectors.asked_similarity(qv, cid, a, b) == pytest.approx(1.0, abs=1e-3)
    # the nearest question per sentence: a sentence without questions is -1
    nearest = vectors.asked.nearest(qv)
    assert nearest.shape == (len(vectors.spans),) and nearest.max() == pytest.approx(1.0, abs=1e-3)
    assert (nearest == -1.0).sum() == len(vectors.spans) - len(set(vectors.asked.sentence_of.tolist()))
    assert vectors.asked_similarity(qv, cid, a, b + 1) is None  # not a sentence of the index


def test_damaged_sentence_bank_is_refused(tmp_path):
    from index.loader import load_index

    d = copy_index(tmp_path)
    np.save(d / ASKED_VECTORS_NAME, np.zeros((3, 384), np.float32), allow_pickle=False)
    with pytest.raises(IndexUnavailable):
        load_index(make_settings(d))
    with pytest.raises(IndexUnavailable) as err:  # a row past the sentences
        _load_rows(tmp_path, [[5, "ja", "範囲外？"]])
    assert "inconsistent" in str(err.value)
    assert len(_load_rows(tmp_path, [[4, "ja", "範囲内？"]], "ok")) == 1


def _load_rows(tmp_path, rows, name="asked"):
    d = tmp_path / name
    d.mkdir()
    (d / ASKED_NAME).write_text(json.dumps(rows), encoding="utf-8")
    np.save(d / ASKED_VECTORS_NAME, np.zeros((len(rows), 384), np.float32), allow_pickle=False)
    return AskedSentences.load(d, 384, 5)


def test_the_sentence_that_answers_is_found_through_its_questions(session_assistant):
    """「契約のやり方は法律でいくつ？」 shares its words with every sentence about contracts; the one
    that answers (第234条: 一般競争入札、指名競争入札、随意契約又はせり売り) is the one whose
    questions are nearest. Without the bank the answer neither quotes nor cites it."""
    assistant = session_assistant
    q = "自治体の契約のやり方って、法律ではいくつ決まってるの？"
    retriever = assistant.retriever
    qv = retriever.query_vector(q, assistant._extra(q))
    cid, a, b = retriever.sentences.asked_top(qv, 1)[0]
    assert retriever._by_id[cid].text[a:b].startswith("第234条")

    def quoted(ans) -> str:  # the answer and its citations' passages (a support may be cited by page only)
        return ans.answer + "".join(c.quote for c in ans.citations)

    assert "随意契約又はせり売り" in quoted(assistant.ask(q))
    cfg = assistant.answer_cfg
    try:
        # (the lead ranker reads the bank's nearness too)
        assistant.answer_cfg = dataclasses.replace(cfg, asked_weight=0.0, asked_hits=0, lead_top=0)
        assert "随意契約又はせり売り" not in quoted(assistant.ask(q))
    finally:
        assistant.answer_cfg = cfg
