"""One glossary behaviour everywhere: the web UI's search (Assistant.glossary), the HTTP API
(a real `kanmin serve`) and the CLI (`kanmin glossary`, in process) give the same entries."""
from __future__ import annotations

import json

import httpx
import pytest

from helpers_reliability import cli_main
from ingest.glossary_search import NOT_FROM_GUIDE

QUERIES = ["PoC", "procurement", "ずいい", "ＰｏＣ", "庁議"]


def _api(live_server, path: str, **params) -> httpx.Response:
    return httpx.get(live_server.url + path, params=params or None, timeout=30)


@pytest.mark.parametrize("q", QUERIES)
def test_same_entries_in_ui_api_and_cli(live_server, session_assistant, capsys, q):
    ui = [n.model_dump() for n in session_assistant.glossary(q)]
    r = _api(live_server, "/v1/glossary", q=q)
    assert r.status_code == 200
    api = r.json()
    cli = cli_main(capsys, "glossary", q, "--json")
    assert cli.returncode == 0, cli.stderr
    assert ui, f"{q!r} finds nothing"
    assert api == ui == json.loads(cli.stdout)


def test_the_entries_are_the_right_ones(session_assistant):
    assert [n.term for n in session_assistant.glossary("PoC")] == ["PoC"]
    assert [n.term for n in session_assistant.glossary("ずいい")] == ["随意契約"]
    assert "一般競争入札" in [n.term for n in session_assistant.glossary("procurement")]


@pytest.mark.parametrize("term, expected", [("PoC", "PoC"), ("ＰｏＣ", "PoC"), ("ずいい", "随意契約"),
                                            ("genka", "原課"), ("庁議", "庁議")])
def test_one_term_in_api_and_assistant(live_server, session_assistant, term, expected):
    r = _api(live_server, f"/v1/glossary/{term}")
    assert r.status_code == 200, r.text
    assert r.json() == session_assistant.glossary_term(term).model_dump()
    assert r.json()["term"] == expected


def test_unknown_term_is_a_clear_404_and_a_cli_error(live_server, capsys):
    r = _api(live_server, "/v1/glossary/存在しない用語xyz")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_term"
    cli = cli_main(capsys, "glossary", "存在しない用語xyz")
    assert cli.returncode == 2 and cli.stdout == ""
    assert cli.stderr.strip() == "kanmin: error: no glossary entry for '存在しない用語xyz'"


def test_cli_text_says_which_words_are_not_from_the_guide(capsys):
    out = cli_main(capsys, "glossary", "庁議").stdout
    assert out.startswith("庁議（ちょうぎ） [一般語（ガイド外）]") and f"[{NOT_FROM_GUIDE}]" in out
    out = cli_main(capsys, "glossary", "決裁").stdout.splitlines()[0]
    assert "[一般語]" in out and "general meaning; the word appears on p." in out
    out = cli_main(capsys, "glossary", "原課").stdout
    assert out.startswith("原課（げんか） [自治体語]") and out.rstrip().endswith("p.20") and "general" not in out


def test_api_marks_general_words_in_their_category(live_server):
    notes = {n["term"]: n for n in _api(live_server, "/v1/glossary").json()}
    assert notes["庁議"]["category"] == "一般語（ガイド外）" and notes["庁議"]["pages"] == []
    assert notes["決裁"]["category"] == "一般語" and len(notes["決裁"]["pages"]) == 1
    terms = list(notes)
    # the guide's own entries first, then the everyday words
    assert terms.index("原課") < terms.index("庁議")


def test_api_annotate_finds_the_general_words(live_server):
    text = "PoCの結果を踏まえ、庁議に諮る予定です。"
    r = httpx.post(live_server.url + "/v1/glossary/annotate", json={"text": text}, timeout=30)
    assert r.status_code == 200
    assert [a["term"] for a in r.json()["annotations"]] == ["PoC", "庁議"]


@pytest.mark.parametrize("lang, label", [("ja", "一般語（ガイド外）"), ("en", NOT_FROM_GUIDE)])
def test_web_ui_cards_say_which_words_are_not_from_the_guide(session_assistant, lang, label):
    from ui.web.render import render_notes

    html = render_notes(session_assistant.glossary("庁議"), lang)
    assert f'<span class="kc-cat">{label}</span>' in html
    html = render_notes(session_assistant.glossary("原課"), lang)
    assert '<span class="kc-cat">自治体語</span>' in html and NOT_FROM_GUIDE not in html
