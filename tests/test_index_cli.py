"""`kanmin build | info | search`.

A few smoke tests run the real `kanmin` executable (a subprocess loads the guide, the models and
the index: seconds apiece); everything else runs in-process through ``ui.cli.main`` — the same
parser, commands and error handling behind the executable — with stdout/stderr captured.
"""
from __future__ import annotations

import json

import pytest
from helpers_reliability import Cli, cli_main
from test_index_support import copy_index, corpus, guide, run_kanmin, shared_index_dir

from ingest.settings import get_settings


@pytest.fixture
def cli(capsys, monkeypatch):
    """``cli(*argv, index_dir=None)`` → returncode, stdout, stderr of ``kanmin *argv`` in-process."""

    def run(*argv: str, index_dir=None) -> Cli:
        capsys.readouterr()  # start clean
        if index_dir is not None:
            monkeypatch.setenv("KANMIN_INDEX_DIR", str(index_dir))
        get_settings.cache_clear()  # settings are read from the environment per command, as a new process would
        return cli_main(capsys, *argv)

    yield run
    monkeypatch.undo()
    get_settings.cache_clear()


def assert_one_line_exit_2(p) -> str:
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kanmin: error: "), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


# -- the real executable (smoke) ------------------------------------------------------------
def test_search_json_through_the_executable():
    p = run_kanmin("search", "成果連動型の委託契約", "--k", "3", "--json", index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert len(out["hits"]) == 3
    h = out["hits"][0]
    assert {"chunk_id", "section_path", "pages", "text", "score", "components"} <= set(h)
    assert "成果連動" in p.stdout  # ensure_ascii=False: Japanese as is
    assert any("PFS" in " ".join(x["section_path"]) for x in out["hits"])


def test_search_on_missing_index_says_how_to_rebuild(tmp_path):
    p = run_kanmin("search", "予算", index_dir=tmp_path / "none")
    assert_one_line_exit_2(p)
    assert "kanmin build --force" in p.stderr and p.stdout == ""


def test_build_if_stale_then_noop(tmp_path, cli):
    d = tmp_path / "idx"
    p = run_kanmin("build", "--if-stale", index_dir=d)
    assert p.returncode == 0, p.stderr
    assert "built" in p.stderr and (d / "manifest.json").is_file()
    p = cli("build", "--if-stale", index_dir=d)
    assert p.returncode == 0 and "up to date" in p.stderr
    (d / "chunks.json").write_text("[]", encoding="utf-8")  # corrupt → stale → rebuilt
    p = cli("build", "--if-stale", index_dir=d)
    assert p.returncode == 0 and "rebuilding" in p.stderr and "built" in p.stderr
    p = cli("info", "--json", index_dir=d)
    assert p.returncode == 0 and json.loads(p.stdout)["ok"] is True


# -- in-process ------------------------------------------------------------------------------
def test_info_json(cli):
    p = cli("info", "--json", index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert {"index_dir", "embedder", "chunks", "corpus_sha256", "built_at"} <= set(info)
    assert info["chunks"] == len(guide().chunks) and info["embedder"] == "e5-small-int4"
    assert info["corpus_sha256"] == corpus() and info["ok"] is True


def test_info_reports_a_damaged_index(tmp_path, cli):
    d = copy_index(tmp_path)
    (d / "dense.faiss").write_bytes(b"junk")
    p = cli("info", "--json", index_dir=d)
    assert p.returncode == 2  # the JSON still says what is wrong; the exit code tells scripts
    info = json.loads(p.stdout)
    assert info["ok"] is False and "dense.faiss" in info["problem"]
    assert p.stderr.strip().count("\n") == 0 and "kanmin build --force" in p.stderr


def test_search_modes_and_persona_text_output(cli):
    p = cli("search", "連携先の探し方", "--persona", "startup", "--mode", "bm25", "--k", "2",
            index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n 1. ") + p.stdout.startswith(" 1. ") == 1 and " 2. " in p.stdout
    assert " 3. " not in p.stdout


@pytest.mark.parametrize("args,needle", [
    (["search", "   "], "empty"),
    (["search", "予算", "--k", "0"], "k must be"),
    (["search", "予算", "--persona", "mayor"], "persona"),
    (["search"], "QUERY"),
])
def test_search_bad_input_is_one_line_exit_2(cli, args, needle):
    p = cli(*args, index_dir=shared_index_dir())
    assert needle in assert_one_line_exit_2(p)
    assert p.stdout == ""


def test_search_batch(tmp_path, cli):
    f = tmp_path / "q.jsonl"
    f.write_text(
        '{"id": "a", "question": "4号随契とは"}\n'
        "\n"
        '{"id": 2, "question": "What is joint procurement?", "persona": "municipality"}\n',
        encoding="utf-8",
    )
    p = cli("search", "--batch", str(f), "--k", "4", "--json", index_dir=shared_index_dir())
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", 2]
    for r in rows:
        assert len(r["hits"]) == 4
        assert set(r["hits"][0]) == {"chunk_id", "section_path", "pages", "text", "score"}
    assert any("4号随契" in " ".join(h["section_path"]) for h in rows[0]["hits"])


@pytest.mark.parametrize("line,needle", [
    ("not json", "not valid JSON"),
    ('{"question": "予算"}', '"id"'),
    ('{"id": "x"}', '"question"'),
    ('{"id": "x", "question": ""}', "empty"),
    ('{"id": "x", "question": "予算", "persona": "ceo"}', "persona"),
    ('["id", "question"]', "object"),
])
def test_search_batch_bad_line_names_the_line(tmp_path, cli, line, needle):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": 1, "question": "予算"}\n' + line + "\n", encoding="utf-8")
    p = cli("search", "--batch", str(f), "--json", index_dir=shared_index_dir())
    err = assert_one_line_exit_2(p)
    assert "line 2" in err and needle in err
    assert p.stdout == ""  # validated before any output


def test_build_unknown_embedder(tmp_path, cli):
    p = cli("build", "--embedder", "bert-huge", index_dir=tmp_path / "idx")
    assert "unknown embedder" in assert_one_line_exit_2(p)
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_build_split_mode_and_staleness(tmp_path, cli):
    d = tmp_path / "idx"
    p = cli("build", "--split-mode", "A", index_dir=d)
    assert p.returncode == 0, p.stderr
    info = json.loads(cli("info", "--json", index_dir=d).stdout)
    assert info["split_mode"] == "A"
    # The default mode differs, so --if-stale rebuilds with it.
    p = cli("build", "--if-stale", index_dir=d)
    assert p.returncode == 0 and "split mode" in p.stderr and "built" in p.stderr
    assert json.loads(cli("info", "--json", index_dir=d).stdout)["split_mode"] == "CA"
    assert cli("build", "--split-mode", "Z", index_dir=d).returncode == 2  # argparse: not a split mode
