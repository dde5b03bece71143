"""Page labels are written one way everywhere (p.94 / pp.94–95), and `kanmin show` reads like the
guide: no internal chunk ids unless --json, each section heading once."""
from __future__ import annotations

import json
import re

import pytest

from helpers_reliability import cli_main
from ingest.page_labels import page_label

CASES = [([94], "p.94"), ([94, 95], "pp.94–95"), ([95, 94, 96], "pp.94–96"), ((8, 9), "pp.8–9"), ((7, 7), "p.7")]
CHUNK_ID = re.compile(r"\bc\d\d(?:\.[a-z]\d\d)*[-.][a-z]\d")


@pytest.mark.parametrize("pages, label", CASES)
def test_page_label(pages, label):
    assert page_label(pages) == label


def test_empty_pages():
    assert page_label([]) == "" and page_label([], empty="p.?") == "p.?"


@pytest.mark.parametrize("pages, label", CASES)
def test_every_front_door_uses_the_one_label(pages, label):
    from ui.web.render import pages_label
    from ui.slack.blocks import pages_str

    assert pages_label(pages) == pages_str(list(pages)) == label


def test_answer_text_uses_the_one_page_label(session_assistant):
    """The answer text (assistant/*) writes its labels with ingest.page_labels too."""
    a = session_assistant.ask("公平性はどこに書いてある？")
    labels = re.findall(r"pp?\.[0-9][0-9–\-,]*", a.answer)
    assert labels, a.answer
    assert all(re.fullmatch(r"p\.\d+|pp\.\d+–\d+", x) for x in labels), labels


def test_show_page_hides_ids_and_prints_each_heading_once(capsys, guide):
    r = cli_main(capsys, "show", "p.94")
    assert r.returncode == 0, r.stderr
    chunks = [c for c in guide.chunks if 94 in c.pages and c.kind != "footnote"]
    assert len(chunks) >= 3
    assert not any(c.id in r.stdout for c in chunks) and not CHUNK_ID.search(r.stdout)
    assert "p.[" not in r.stdout and r.stdout.count("(p.94)") + r.stdout.count("(pp.") == len(chunks)
    full = " > ".join(chunks[0].section_path)
    assert r.stdout.count(full) == 1  # the long heading once, later sections by what differs
    assert sum(line.startswith("■ ") for line in r.stdout.splitlines()) < len(chunks)
    for c in chunks:
        assert c.text in r.stdout


def test_show_json_keeps_the_ids(capsys, guide):
    r = cli_main(capsys, "show", "p.94", "--json")
    rows = json.loads(r.stdout)
    assert [row["id"] for row in rows] == [c.id for c in guide.chunks if 94 in c.pages and c.kind != "footnote"]


def test_toc_and_find_print_page_labels(capsys):
    toc = cli_main(capsys, "toc").stdout
    assert "はじめに …… p.1" in toc and "p.[" not in toc
    find = cli_main(capsys, "find", "4号随契").stdout
    assert "p.[" not in find and re.search(r"  pp?\.\d+", find)


def test_ask_prints_page_labels_not_lists(capsys):
    r = cli_main(capsys, "ask", "4号随契の事例は？")
    assert r.returncode == 0, r.stderr
    cites = [line for line in r.stdout.splitlines() if re.match(r"\[\d+\] ", line)]
    assert cites
    for line in cites:
        assert re.search(r" \((p\.\d+|pp\.\d+–\d+)\)$", line), line


# questions whose answers cite more passages than their text quotes (which ones do depends on the
# answer's composition: the first of them that has a 関連箇所 line is checked)
MANY_PASSAGES = ["予算要求の時期に間に合わせるには、いつ頃までに自治体に提案すればいいですか？",
                 "スタートアップとの連携で、公平性をどう確保すればいい？",
                 "自治体の予算はいつ決まりますか？",
                 "実証実験の前に何を決めておくべき？"]


def test_ask_shows_the_text_of_a_passage_cited_by_page_only(capsys):
    for question in MANY_PASSAGES:
        r = cli_main(capsys, "ask", question, "--persona", "startup")
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        if any(line.startswith("関連箇所: ") for line in out):
            break
    else:
        pytest.fail("none of the questions' answers cites a passage by page only")
    see = next(line for line in out if line.startswith("関連箇所: "))
    n = int(re.match(r"関連箇所: \[(\d+)\]", see).group(1))
    at = next(i for i, line in enumerate(out) if line.startswith(f"[{n}] "))
    # under its source line: the start of its quote, which the answer's text does not show
    assert out[at + 1].startswith("    「") and out[at + 1].strip("「」… ") not in "\n".join(out[:at])
    # a passage the answer quotes has no second copy under its source
    first = next(i for i, line in enumerate(out) if line.startswith("[1] "))
    assert not out[first + 1].startswith("    「")
