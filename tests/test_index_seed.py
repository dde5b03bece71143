"""The shipped embedding seed (index/seed.py): a fresh clone builds without embedding,
and a seed that does not belong to this guide or this model is never trusted."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from index.build import build_index, embed_texts
from index.cache import EmbeddingCache, text_sha256
from index.embedders import make_embedder
from index.progress import Progress
from index.seed import EmbeddingSeed, seed_paths, write_seed
from test_index_support import corpus, guide, make_settings


@pytest.fixture(scope="module")
def embedder():
    return make_embedder("e5-small-int4")


def test_the_shipped_seed_holds_every_text_of_the_vendored_guide():
    """Fails when the chunker, the sentence splitter or the question bank changed without `kanmin seed`."""
    from eval.seed_command import missing_from_seed
    from ingest.settings import get_settings

    s = get_settings()
    assert missing_from_seed(guide(), s, "e5-small-int4", 384) == 0


def test_an_empty_cache_builds_the_guide_from_the_seed_without_embedding(tmp_path, embedder):
    g = guide()
    s = make_settings(tmp_path / "idx", cache_dir=tmp_path / "cache")
    before = embedder.passages_embedded + embedder.queries_embedded
    m = build_index(g.chunks, corpus(), s, glossary=g.glossary, questions=g.questions,
                    sentence_questions=g.sentence_questions, progress=False, embedder=embedder)
    assert m.embedded_chunks == 0
    # the model ran only for the seed's spot check, not for ~2,000 texts
    assert embedder.passages_embedded + embedder.queries_embedded - before <= 2
    with EmbeddingCache(s.cache_dir) as cache:
        assert cache.count("e5-small-int4") >= len(g.chunks) + len(g.questions)


def test_without_the_seed_a_cold_build_embeds(tmp_path, embedder):
    chunks = guide().chunks[:6]
    s = make_settings(tmp_path / "idx", cache_dir=tmp_path / "cache", use_seed=False)
    assert build_index(chunks, "a" * 64, s, progress=False, embedder=embedder).embedded_chunks == 6


def _seed_dir_for(tmp_path, texts, vectors):
    d = tmp_path / "seed"
    write_seed(d, "e5-small-int4", {text_sha256(t): v for t, v in zip(texts, vectors)})
    return d


def test_a_seed_that_disagrees_with_the_model_is_ignored(tmp_path, embedder):
    texts = [c.search_text for c in guide().chunks[:5]]
    rng = np.random.default_rng(0)
    wrong = rng.normal(size=(5, 384)).astype(np.float32)
    seed = EmbeddingSeed.open(_seed_dir_for(tmp_path, texts, wrong), "e5-small-int4", 384)
    assert seed is not None and len(seed) == 5
    with EmbeddingCache(tmp_path / "cache") as cache:
        vecs, embedded = embed_texts(texts, embedder, cache, progress=False, seed=seed)
    assert embedded == 5 and seed.checked is False
    real = embedder.embed_passages_np(texts)
    assert np.allclose(vecs, real, atol=1e-5)


def test_a_seed_that_agrees_is_used_after_its_spot_check(tmp_path, embedder):
    texts = [c.search_text for c in guide().chunks[:5]]
    seed = EmbeddingSeed.open(_seed_dir_for(tmp_path, texts, embedder.embed_passages_np(texts)), "e5-small-int4", 384)
    before = embedder.passages_embedded
    with EmbeddingCache(tmp_path / "cache") as cache:
        _, embedded = embed_texts(texts, embedder, cache, progress=False, seed=seed)
    assert embedded == 0 and seed.checked is True
    assert embedder.passages_embedded - before == 2  # the spot check


def test_a_tampered_or_foreign_seed_is_not_opened(tmp_path, embedder):
    texts = [c.search_text for c in guide().chunks[:3]]
    d = _seed_dir_for(tmp_path, texts, embedder.embed_passages_np(texts))
    npz, meta = seed_paths(d, "e5-small-int4")
    assert EmbeddingSeed.open(d, "e5-small-int4", 384) is not None
    assert EmbeddingSeed.open(d, "e5-small-int4", 768) is None  # another dimension
    raw = json.loads(meta.read_text())
    meta.write_text(json.dumps({**raw, "embedder": "st:other"}))
    assert EmbeddingSeed.open(d, "e5-small-int4", 384) is None  # written for another embedder
    meta.write_text(json.dumps(raw))
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    assert EmbeddingSeed.open(d, "e5-small-int4", 384) is None  # checksum
    assert EmbeddingSeed.open(tmp_path / "nowhere", "e5-small-int4", 384) is None


def test_progress_in_a_log_is_a_few_lines():
    out = io.StringIO()
    with Progress(1000, "embedding passages (x)", stream=out) as bar:
        for _ in range(100):
            bar.update(10)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0] == "embedding passages (x): 1000 texts to go"
    assert lines[-1].startswith("embedding passages (x): done, 1000 texts")
    assert 5 <= len(lines) <= 12, lines
    assert "50% (500/1000)" in out.getvalue()

