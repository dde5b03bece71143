"""The naive baseline's page/section estimates and the eval CLI (in-process)."""
from __future__ import annotations

import json
from pathlib import Path

from eval.naive import FRONT_MATTER, GuideLocator
from ingest.settings import get_settings
from ingest.source import read_guide


def test_locator_reproduces_chunk_pages(guide):
    text, _ = read_guide(get_settings().guide_path)
    loc = GuideLocator(guide, text)
    checked = wrong = 0
    for c in guide.chunks:
        i = text.find(c.text)
        if c.kind == "footnote" or i < 0 or text.find(c.text, i + 1) >= 0:
            continue
        checked += 1
        wrong += loc.pages(i, i + len(c.text)) != c.pages
        assert loc.section_path(i) == c.section_path, c.id
    assert checked >= 50
    assert wrong <= checked * 0.02
    assert loc.section_path(0) == [FRONT_MATTER] and loc.page_at(0) is None


def test_cli_eval_json(tmp_path, capsys):
    """`kanmin eval` in-process (ui.cli.main: the executable's parser, command and error handling)."""
    from ui.cli import main

    src = Path(__file__).resolve().parent.parent / "eval" / "datasets" / "qa_part1.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()[:4]
    ds = tmp_path / "mini.jsonl"
    ds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    code = main(["eval", "--dataset", str(ds), "--config", "bm25", "--json", "--out", str(tmp_path / "r"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    report = json.loads(out)  # the whole of stdout is the report
    assert list(report["configs"]) == ["bm25"] and report["dataset"]["items"] == 4
    assert report["gate"] is None  # eval/thresholds.yaml gates kanmin, which did not run
    assert (tmp_path / "r" / "latest.md").is_file() and (tmp_path / "r" / "latest.png").is_file()
    assert json.loads((tmp_path / "r" / "latest.json").read_text(encoding="utf-8"))["configs"]["bm25"] == \
        report["configs"]["bm25"]
    code = main(["eval", "--config", "nope"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and err.startswith("kanmin: error: unknown eval configuration")
