"""`kanmin build | info | search` through the real entry point (subprocesses)."""
from __future__ import annotations

import json

import pytest
from test_index_support import copy_index, corpus, guide, run_kanmin, shared_index_dir


def test_info_json():
    p = run_kanmin("info", "--json", index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert {"index_dir", "embedder", "chunks", "corpus_sha256", "built_at"} <= set(info)
    assert info["chunks"] == len(guide().chunks) and info["embedder"] == "e5-small-int4"
    assert info["corpus_sha256"] == corpus() and info["ok"] is True


def test_info_reports_a_damaged_index(tmp_path):
    d = copy_index(tmp_path)
    (d / "dense.faiss").write_bytes(b"junk")
    p = run_kanmin("info", "--json", index_dir=d)
    assert p.returncode == 2  # the JSON still says what is wrong; the exit code tells scripts
    info = json.loads(p.stdout)
    assert info["ok"] is False and "dense.faiss" in info["problem"]
    assert p.stderr.strip().count("\n") == 0 and "kanmin build --force" in p.stderr


def test_search_json():
    p = run_kanmin("search", "成果連動型の委託契約", "--k", "3", "--json", index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["hits"]) == 3
    h = out["hits"][0]
    assert {"chunk_id", "section_path", "pages", "text", "score", "components"} <= set(h)
    assert "成果連動" in p.stdout  # ensure_ascii=False: Japanese as is
    assert any("PFS" in " ".join(x["section_path"]) for x in out["hits"])


def test_search_modes_and_persona_text_output():
    p = run_kanmin("search", "連携先の探し方", "--persona", "startup", "--mode", "bm25", "--k", "2",
                   index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n 1. ") + p.stdout.startswith(" 1. ") == 1 and " 2. " in p.stdout


@pytest.mark.parametrize("args,needle", [
    (["search", "   "], "empty"),
    (["search", "予算", "--k", "0"], "k must be"),
    (["search", "予算", "--persona", "mayor"], "persona"),
    (["search"], "QUERY"),
])
def test_search_bad_input_is_one_line_exit_2(args, needle):
    p = run_kanmin(*args, index_dir=shared_index_dir())
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr
    assert p.stdout == ""


def test_search_batch(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text(
        '{"id": "a", "question": "4号随契とは"}\n'
        "\n"
        '{"id": 2, "question": "What is joint procurement?", "persona": "municipality"}\n',
        encoding="utf-8",
    )
    p = run_kanmin("search", "--batch", str(f), "--k", "4", "--json", index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", 2]
    for r in rows:
        assert len(r["hits"]) == 4
        assert set(r["hits"][0]) == {"chunk_id", "section_path", "pages", "text", "score"}


@pytest.mark.parametrize("line,needle", [
    ("not json", "not valid JSON"),
    ('{"question": "予算"}', '"id"'),
    ('{"id": "x"}', '"question"'),
    ('{"id": "x", "question": ""}', "empty"),
    ('{"id": "x", "question": "予算", "persona": "ceo"}', "persona"),
    ('["id", "question"]', "object"),
])
def test_search_batch_bad_line_names_the_line(tmp_path, line, needle):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": 1, "question": "予算"}\n' + line + "\n", encoding="utf-8")
    p = run_kanmin("search", "--batch", str(f), "--json", index_dir=shared_index_dir())
    assert p.returncode == 2
    assert "line 2" in p.stderr and needle in p.stderr and "Traceback" not in p.stderr
    assert p.stdout == ""  # validated before any output


def test_search_on_missing_index_says_how_to_rebuild(tmp_path):
    p = run_kanmin("search", "予算", index_dir=tmp_path / "none")
    assert p.returncode == 2
    assert "kanmin build --force" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_build_if_stale_then_noop(tmp_path):
    d = tmp_path / "idx"
    p = run_kanmin("build", "--if-stale", index_dir=d)
    assert p.returncode == 0, p.stderr
    assert "built" in p.stderr and (d / "manifest.json").is_file()
    p = run_kanmin("build", "--if-stale", index_dir=d)
    assert p.returncode == 0 and "up to date" in p.stderr
    (d / "chunks.json").write_text("[]", encoding="utf-8")  # corrupt → stale → rebuilt
    p = run_kanmin("build", "--if-stale", index_dir=d)
    assert p.returncode == 0 and "rebuilding" in p.stderr and "built" in p.stderr
    p = run_kanmin("info", "--json", index_dir=d)
    assert json.loads(p.stdout)["ok"] is True


def test_build_unknown_embedder(tmp_path):
    p = run_kanmin("build", "--embedder", "bert-huge", index_dir=tmp_path / "idx")
    assert p.returncode == 2 and "unknown embedder" in p.stderr


def test_build_split_mode_and_staleness(tmp_path):
    d = tmp_path / "idx"
    p = run_kanmin("build", "--split-mode", "A", index_dir=d)
    assert p.returncode == 0, p.stderr
    info = json.loads(run_kanmin("info", "--json", index_dir=d).stdout)
    assert info["split_mode"] == "A"
    # The default mode differs, so --if-stale rebuilds with it.
    p = run_kanmin("build", "--if-stale", index_dir=d)
    assert "split mode" in p.stderr and "built" in p.stderr
    assert json.loads(run_kanmin("info", "--json", index_dir=d).stdout)["split_mode"] == "CA"
