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


def test_rows_labelled_by_their_first_cell_and_a_finer_header(chunks):
    """図表13: its stages (課題特定・企画 | … | 実行) sit under its phases, and each row opens with the
    whose-困りごと label the header leaves unnamed; the row whose label the extraction lost still
    gets its stages. 「連携 | 共創」: every row opens with its label (知識・経験 | …)."""
    fig13 = chunks["c03.s06-t01"]
    shown = rows_view(fig13, fig13.text).split("\n")
    assert shown[:2] == fig13.text.split("\n")[:2]  # both header rows as printed
    assert shown[2].startswith("自治体の困りごと — 課題特定・企画: 解決すべき課題が何か明確になっていない")
    assert " ／ 予算化: ISUとの連携に向けた予算確保が困難" in shown[2]
    assert shown[3].startswith("課題特定・企画: 課題解決を担う人材が不足している")
    assert " ／ 予算化: 最初の事例をつくるまでのハードルが高い" in shown[3]
    co = chunks["c06.s07.p02.e04-t01"]
    assert "知識・経験 — 連携: 行政の範囲内 ／ 共創: 行政の枠外も" in rows_view(co, co.text).split("\n")


def test_a_header_further_down_starts_its_own_rows(chunks):
    """The 課題整理シート: a title row over one row, then 「課題の詳細 | 希望する事業者の役割・提案例 |
    自治体の役割・支援内容」 over the sheet's rows."""
    sheet = chunks["c04.s02.u01.p02-t03"]
    shown = rows_view(sheet, sheet.text).split("\n")
    assert shown[2] == sheet.text.split("\n")[2]
    assert shown[3].startswith("課題の詳細: a.誰がどのように困っているのか") and " ／ 希望する事業者の役割・提案例: " in shown[3]


def test_a_table_whose_rows_fit_no_header_stays_as_printed(chunks):
    """「自治体・ISUの違い | 連携に向けた工夫」 heads four-cell rows (the extraction split its header over
    two lines): pairing the cells with two names would mislabel them."""
    table = chunks["c03.s05.p04-t01"]
    assert rows_view(table, table.text) == table.text


def test_a_figure_answer_shows_its_table_as_rows(session_assistant):
    a = session_assistant.ask("図表13で、予算化の段階でスタートアップ側が困っていることとして何が挙がってる？")
    assert "自治体の困りごと — 課題特定・企画: " in a.answer, a.answer[:400]
    assert any("自治体の困りごと | 解決すべき課題" in c.quote for c in a.citations)  # the citation stays verbatim


def test_a_part_asking_what_a_table_term_means_quotes_its_whole_row(session_assistant):
    """「ボンチ絵ってどういう意味？代わりに何て言えばいい？」: the meaning stands in 図表8's row with
    its 言い換え例, which answers the second part too; the row is quoted whole, with its columns'
    names, not its meaning cell alone (「…事業内容などを…」)."""
    a = session_assistant.ask("ボンチ絵ってどういう意味？代わりに何て言えばいい？")
    first = a.answer.split("\n")[1]
    assert "ボンチ絵" in first and "意味: 事業内容などを1ページにまとめたイラスト・図" in first, a.answer
    assert "言い換え例: 概要図、スキーム図" in first, a.answer
    row = a.citations[0]
    assert row.quote == "ボンチ絵 | 事業内容などを1ページにまとめたイラスト・図 | 概要図、スキーム図"
    assert row.quote in session_assistant.chunk(row.chunk_id).text
