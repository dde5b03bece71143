"""`kanmin chat`: several questions in one process, one session (follow-ups resolve against the
previous turn), :history, :new, and exit on EOF or :q. In process through ui.cli.main with stdin
fed, plus one real subprocess."""
from __future__ import annotations

import io
import json

import pytest

from helpers_reliability import assert_cli_error, cli_main, kanmin_env, run_cli


def chat(capsys, monkeypatch, stdin: str, *args: str):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli_main(capsys, "chat", *args)


def answers(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_follow_up_in_the_same_session(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "4号随契とは？\nそれの上限額は？\n", "--json")
    assert r.returncode == 0, r.stderr
    first, second = answers(r.stdout)
    assert first["session_id"] and first["session_id"] == second["session_id"]
    assert first["route"] == "glossary" and first["resolved_question"] is None
    # the follow-up was read against the first turn
    assert second["resolved_question"] and "4号随契" in second["resolved_question"]


def test_quit_ends_the_chat_and_later_lines_are_not_asked(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "原課とは？\n:q\nローンチとは？\n", "--json")
    assert r.returncode == 0
    assert [a["question"] for a in answers(r.stdout)] == ["原課とは？"]


def test_bad_question_is_an_error_line_and_the_chat_goes_on(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "x" * 2001 + "\n\n原課とは？\n", "--json")
    assert r.returncode == 0
    assert "kanmin: error: the question is 2,001 characters; the limit is 2,000" in r.stderr
    assert "Traceback" not in r.stderr
    assert [a["question"] for a in answers(r.stdout)] == ["原課とは？"]


def test_new_starts_another_session_and_history_lists_its_turns(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "原課とは？\n:history\n:new\nローンチとは？\n:history\n")
    assert r.returncode == 0, r.stderr
    assert "new conversation (session cli-" in r.stderr
    # text mode: each answer with its citations; :history shows only the current conversation
    assert r.stdout.count("1. 原課とは？") == 1 and r.stdout.count("1. ローンチとは？") == 1
    assert "2. " not in r.stdout.split("1. ローンチとは？")[1]


def test_text_answers_use_the_one_page_label(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "4号随契とは？\n")
    assert r.returncode == 0
    cites = [line for line in r.stdout.splitlines() if line.startswith("[")]
    assert cites and all(line.endswith(")") and ("(p." in line or "(pp." in line) for line in cites)
    assert "p.[" not in r.stdout and not any("," in line.rsplit("(", 1)[1] for line in cites)


def test_given_session_is_continued_and_a_bad_one_refused(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "原課とは？\n", "--session", "cli-test-continue", "--json")
    assert answers(r.stdout)[0]["session_id"] == "cli-test-continue"
    r = chat(capsys, monkeypatch, "原課とは？\n", "--session", "bad id!", "--json")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("kanmin: error: session_id")


def test_missing_index_is_one_error_line(capsys, monkeypatch, tmp_path):
    """Nothing can be answered without the index: one line and exit 2, not a traceback per question."""
    with kanmin_env({"KANMIN_INDEX_DIR": tmp_path / "no-index"}):
        r = chat(capsys, monkeypatch, "原課とは？\nローンチとは？\n")
    assert_cli_error(r, "index")


def test_empty_input_exits_at_once(capsys, monkeypatch):
    r = chat(capsys, monkeypatch, "")
    assert r.returncode == 0 and r.stdout == ""


@pytest.mark.timeout(300)
def test_chat_in_a_real_process():
    r = run_cli("chat", "--json", stdin="原課とは？\nそれはどの章で説明されていますか？\n:q\n".encode())
    assert r.returncode == 0, r.stderr
    first, second = answers(r.stdout)
    assert first["session_id"] == second["session_id"] and second["resolved_question"]
    assert "Traceback" not in r.stderr
