"""Tokenizer, embedders, cache and storage on their own (real libraries, no index needed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from test_index_support import ROOT

from index.cache import EmbeddingCache, text_sha256
from index.embedders import DEFAULT_EMBEDDER_ID, EmbedderUnavailable, make_embedder, validate_embedder_id
from index.storage import old_dir, publish, recover
from index.tokenizer import SPLIT_MODES, get_tokenizer
from ingest.errors import KanminError

# -- tokenizer ------------------------------------------------------------------------


def test_tokenizer_is_created_once_per_mode():
    assert get_tokenizer("A") is get_tokenizer("A")
    assert get_tokenizer("A")._dict is get_tokenizer("C")._dict  # one dictionary load per process


def test_drops_particles_auxiliaries_symbols_and_spaces():
    toks = get_tokenizer("A").tokenize("原課との調整は、どうすれば良いですか？　【重要】")
    assert "調整" in toks and "原" in toks and "課" in toks
    for junk in ("と", "の", "は", "です", "か", "、", "？", "【", "　", " "):
        assert junk not in toks


def test_nfkc_and_normalized_form_and_latin_lowercase():
    toks = get_tokenizer("A").tokenize("ＰｏＣとＫＰＩを２０２６年度に設定した")
    assert {"poc", "kpi", "2026", "年度", "設定"} <= set(toks)
    assert "為る" in get_tokenizer("A").tokenize("設定する")  # normalized_form of する


def test_english_words_stay_english_and_stopwords_go():
    toks = get_tokenizer("A").tokenize("How should the city use data?")
    assert toks == ["city", "use", "data"]  # not シティー / データ, no "how/should/the"


@pytest.mark.parametrize("mode,expected", [
    ("A", ["官民", "連携", "促進", "分科", "会"]),
    ("C", ["官民連携", "促進", "分科会"]),
    ("CA", ["官民連携", "官民", "連携", "促進", "分科会", "分科", "会"]),
])
def test_split_modes(mode, expected):
    assert get_tokenizer(mode).tokenize("官民連携促進分科会") == expected


def test_unknown_split_mode():
    assert set(SPLIT_MODES) == {"A", "C", "CA"}
    with pytest.raises(ValueError):
        get_tokenizer("B")


def test_long_text_does_not_crash():
    assert len(get_tokenizer("A").tokenize("連携。" * 20000)) >= 20000


# -- embedders --------------------------------------------------------------------------


def test_default_embedder_works_with_llamaindex():
    e = make_embedder()
    assert isinstance(e.as_llama_index(), BaseEmbedding)
    assert e.as_llama_index() is e.as_llama_index()
    assert e.embedder_id == DEFAULT_EMBEDDER_ID and e.dim == 384
    assert make_embedder(DEFAULT_EMBEDDER_ID) is e  # loaded once per process
    q = e.embed_query_np("官民連携とは")
    p = e.embed_passages_np(["官民連携の定義", "予算編成のスケジュール"])
    assert q.shape == (384,) and p.shape == (2, 384)
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-3)
    assert p[0] @ q > p[1] @ q  # the relevant passage is closer
    before = e.queries_embedded
    v = e.as_llama_index().get_query_embedding("官民連携とは")  # llama-index API: a list of floats
    assert isinstance(v, list) and len(v) == 384 and abs(v[0] - float(q[0])) < 1e-5
    assert e.queries_embedded == before + 1  # the same model, counted once


def test_the_serving_path_does_not_import_llama_index():
    """~65 MB of the server's memory: the embedder, index and assistant never need it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from assistant.container import get_container\n"
            "from ui.http.api import create_app\n"
            "create_app(); get_container().assistant.ask('原課とは？')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('llama_index')}))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines()[-1] == "[]", p.stdout


@pytest.mark.parametrize("bad", ["e5", "openai:text-embedding-3", "st:", "st:   ", ""])
def test_unknown_embedder_id_is_a_clear_kanmin_error(bad):
    with pytest.raises(EmbedderUnavailable) as e:
        make_embedder(bad) if bad else validate_embedder_id(bad)
    assert isinstance(e.value, KanminError) and "\n" not in e.value.message
    assert "e5-small-int4" in e.value.message


def test_default_path_never_imports_torch():
    code = (
        "import sys\n"
        "from index.embedders import make_embedder\n"
        "from index.tokenizer import get_tokenizer\n"
        "import index.build, index.loader, index.commands\n"
        "make_embedder().embed_query_np('x'); get_tokenizer().tokenize('予算')\n"
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_st_model_that_is_not_available_offline_is_a_clear_error():
    with pytest.raises(EmbedderUnavailable) as e:
        make_embedder("st:some-org/not-a-cached-model")
    assert "offline" in e.value.message and "\n" not in e.value.message


# -- embedding cache -------------------------------------------------------------------


def test_cache_roundtrip_and_torn_rows(tmp_path):
    v = np.arange(4, dtype=np.float32)
    with EmbeddingCache(tmp_path) as c:
        c.put_many("emb-a", {text_sha256("x"): v})
        assert np.array_equal(c.get_many("emb-a", 4, [text_sha256("x")])[text_sha256("x")], v)
        assert c.get_many("emb-b", 4, [text_sha256("x")]) == {}  # keyed by embedder id too
        assert c.get_many("emb-a", 8, [text_sha256("x")]) == {}  # wrong dim → miss, not garbage
        c._conn.execute("UPDATE embedding SET vec = ? ", (b"\x00\x01",))
        c._conn.commit()
        assert c.get_many("emb-a", 4, [text_sha256("x")]) == {}  # torn row → miss
        assert c.count() == 1


# -- storage ---------------------------------------------------------------------------


def test_publish_swaps_and_recover_restores(tmp_path):
    idx = tmp_path / "index"
    idx.mkdir()
    (idx / "v").write_text("old")
    new = tmp_path / ".index.tmp-1"
    new.mkdir()
    (new / "v").write_text("new")
    publish(new, idx)
    assert (idx / "v").read_text() == "new" and not new.exists()

    # A fallback swap interrupted between its renames: only `.index.old` is left.
    idx.rename(old_dir(idx))
    assert not idx.exists()
    recover(idx)
    assert (idx / "v").read_text() == "new" and not old_dir(idx).exists()
    recover(idx)  # idempotent
    assert Path(idx / "v").exists()
