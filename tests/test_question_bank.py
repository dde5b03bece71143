"""The section question bank: data valid against the guide, persisted with the index, and a
retrieval component that lifts the section a paraphrased English question is about."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_index_support import copy_index, make_settings, shared_index_dir, shared_retriever  # noqa: F401

from index.errors import IndexUnavailable
from index.fusion import FusionConfig, Ranked, fuse
from index.manifest import QUESTIONS_NAME
from ingest.errors import IngestError
from ingest.section_questions import load_questions
from ingest.settings import get_settings


def _node_ids(nodes, out=None):
    out = set() if out is None else out
    for n in nodes:
        out.add(n.id)
        _node_ids(n.children, out)
    return out


def test_every_bank_entry_names_a_node_of_the_guide(guide):
    data = yaml.safe_load(get_settings().section_questions_path.read_text(encoding="utf-8"))
    nodes = _node_ids(guide.tree)
    assert set(data) <= nodes, sorted(set(data) - nodes)
    assert len(guide.questions) == sum(len(v.get("ja") or []) + len(v.get("en") or []) for v in data.values())
    assert {q.lang for q in guide.questions} == {"ja", "en"}
    # the bank covers every chapter of the guide's body
    assert {q.node_id.split(".")[0] for q in guide.questions} >= {"c01", "c02", "c03", "c04", "c05", "c06"}


def test_unknown_nodes_are_dropped_and_bad_yaml_is_a_clear_error(tmp_path):
    p = tmp_path / "q.yaml"
    p.write_text("c01:\n  ja:\n    - 何のガイド？\n  en:\n    - What is this guide for?\nc99.s01:\n  ja:\n    - 消えた節\n",
                 encoding="utf-8")
    qs = load_questions(p, {"c01"})
    assert [(q.node_id, q.lang, q.text) for q in qs] == [("c01", "ja", "何のガイド？"), ("c01", "en", "What is this guide for?")]
    assert load_questions(tmp_path / "missing.yaml", {"c01"}) == []
    p.write_text("c01: [unclosed\n", encoding="utf-8")
    with pytest.raises(IngestError) as err:
        load_questions(p, {"c01"})
    assert "cannot parse q.yaml" in err.value.message


def test_the_bank_changes_the_corpus_id(guide):
    from ingest.pipeline import parse_guide

    s = get_settings()
    other = parse_guide(s.guide_path, s.model_copy(update={"section_questions_path": Path("/nonexistent.yaml")}))
    assert other.questions == []
    assert other.corpus_sha256 != guide.corpus_sha256


def test_bank_is_persisted_with_the_index(shared_retriever, guide):
    bank = shared_retriever.questions
    assert len(bank) == len(guide.questions)
    rows = json.loads((shared_index_dir() / QUESTIONS_NAME).read_text(encoding="utf-8"))
    assert [r[2] for r in rows] == [q.text for q in guide.questions]
    assert all(r[3] for r in rows)  # tokens stored: no Sudachi pass over the bank at load
    assert np.allclose(np.linalg.norm(bank.vectors, axis=1), 1.0, atol=1e-3)


def test_english_paraphrase_reaches_its_section_through_the_bank(shared_retriever):
    q = "Is it unfair to other companies if the city teams up with just one startup?"
    on = shared_retriever.retrieve(q, k=3)
    assert any(h.components["questions"].rank is not None for h in on)
    assert any("公平性の考え方" in " ".join(h.chunk.section_path) for h in on)
    cfg = shared_retriever.config
    try:  # without the bank, e5 alone does not bridge the English to the section
        shared_retriever.config = FusionConfig(w_questions_en=0.0)
        off = shared_retriever.retrieve(q, k=3)
        assert not any("公平性の考え方" in " ".join(h.chunk.section_path) for h in off)
    finally:
        shared_retriever.config = cfg
    # chunks of one node share the node's rank
    ranks = {}
    for h in shared_retriever.retrieve(q, k=30):
        r = h.components["questions"].rank
        if r is not None:
            ranks.setdefault(r, []).append(h.components["questions"].score)
    assert min(ranks) == 1 and any(len(v) > 1 for v in ranks.values())
    assert all(len(set(v)) == 1 for v in ranks.values())


def test_japanese_queries_do_not_use_the_bank_by_default(shared_retriever):
    hits = shared_retriever.retrieve("規制が壁で実証実験ができないときはどうする？", k=10)
    assert all(h.components["questions"].rank is None for h in hits)
    cfg = shared_retriever.config
    try:
        shared_retriever.config = FusionConfig(w_questions=1.0)
        hits = shared_retriever.retrieve("規制が壁で実証実験ができないときはどうする？", k=10)
        assert any(h.components["questions"].rank is not None for h in hits)
    finally:
        shared_retriever.config = cfg


def test_fusion_honours_shared_ranks():
    shared = Ranked(np.array([5, 6, 7]), np.array([0.3, 0.3, 0.2]), 1.0, np.array([1, 1, 2]))
    out = {f.doc: f for f in fuse({"questions": shared}, FusionConfig(), k=3)}
    assert out[5].score == out[6].score > out[7].score
    assert out[5].ranks["questions"][0] == out[6].ranks["questions"][0] == 1


def test_damaged_question_vectors_are_refused(tmp_path):
    from index.loader import load_index
    from index.manifest import QUESTION_VECTORS_NAME

    d = copy_index(tmp_path)
    np.save(d / QUESTION_VECTORS_NAME, np.zeros((3, 384), np.float32), allow_pickle=False)
    with pytest.raises(IndexUnavailable):
        load_index(make_settings(d))


def test_question_chunks_come_from_the_best_node(shared_retriever):
    chunks = shared_retriever.question_chunks("規制が壁で実証実験ができないときはどうする？", nodes=1, per_node=3)
    assert 1 <= len(chunks) <= 3
    assert len({c.section_id.split(".")[:3].__str__() for c in chunks}) == 1
    assert all("規制緩和" in " ".join(c.section_path) for c in chunks)
