"""Table rows shown as rows (column: value) in the answer text, the citation still verbatim."""
from __future__ import annotations

import pytest

from assistant.table_rows import header_of, rows_view


@pytest.fixture(scope="module")
def chunks(guide):
    return {c.id: c for c in guide.chunks}


def _glossary_row(guide, term):
    return next(c for c in guide.chunks if c.kind == "glossary" and f" | {term} | " in c.text)


def test_a_glossary_row_is_labelled_with_its_columns(guide):
    row = _glossary_row(guide, "原課")
    shown = rows_view(row, row.text)
    assert " | " not in shown
    assert "意味: 特定の案件や政策領域を担当している課のこと" in shown
    assert shown.split(" ／ ")[1].endswith(": 原課")  # the 用語 column, whatever its printed name


def test_a_table_with_a_header_row_labels_its_full_rows_only(chunks):
    table = chunks["c05.s02.u02.p01-t01"]  # 利害関係者 | 概要 | 関連する政策領域例
    header = header_of(table)
    assert header == ["利害関係者", "概要", "関連する政策領域例"]
    lines = table.text.split("\n")
    shown = rows_view(table, table.text).split("\n")
    assert shown[0] == lines[0]  # the header row itself stays as printed
    assert shown[1].startswith("利害関係者: ") and "概要: " in shown[1]


def test_rows_of_another_shape_and_tables_without_a_header_stay_as_printed(chunks):
    merged = chunks["c01.s02-t01"]  # its 実務者 row lost a merged セクター cell
    row = next(line for line in merged.text.split("\n") if line.startswith("実務者"))
    assert rows_view(merged, row) == row
    plain = chunks["c03.s03.p01-t01"]  # opens with a data row (国 | ・…), not a header
    assert header_of(plain) is None
    assert rows_view(plain, plain.text) == plain.text


def test_the_answer_shows_rows_and_cites_the_verbatim_row(session_assistant):
    a = session_assistant.ask("図表8で、ショート・ノーティスはどう言い換えられている？")
    cited = [c for c in a.citations if c.quote.count(" | ") >= 2]
    assert cited, a.answer
    for c in cited:
        assert c.quote in session_assistant.chunk(c.chunk_id).text  # verbatim
        assert c.quote not in a.answer  # shown as labelled cells instead
