"""Answer units: a passage that introduces a list is quoted with its items (one citation), and a
list is only ever attached from the section of the answer's own passages."""
from __future__ import annotations

import re

import pytest

from eval.dataset import load_dataset


@pytest.fixture(scope="module")
def assistant(session_assistant):
    return session_assistant


def test_a_lead_in_brings_its_items_in_one_quote(assistant):
    a = assistant.ask("福岡市は実証実験の前に何を協議している？")
    unit = next(c for c in a.citations if "以下を含む各内容について協議し" in c.quote)
    for item in ("実験の内容", "役割及び責任分担等", "経費等の分担", "成果及び権利の帰属・譲渡等", "成果等の公表"):
        assert item in unit.quote
    assert unit.quote in assistant.chunk(unit.chunk_id).text  # still verbatim


def test_list_items_on_adjacent_lines_share_one_citation(assistant):
    a = assistant.ask("本ガイドが扱う官民連携の3つの出口は何？")
    items = ["自治体“へ”導入する", "自治体“を介して”広める", "自治体“と共に”創る"]
    assert all(i in a.answer for i in items), a.answer
    # the items are quoted, whether as the lead passage's own lines or as the list block
    cited = [c for c in a.citations if any(i in c.quote for i in items)]
    assert all(any(i in c.quote for c in cited) for i in items)
    assert len({c.chunk_id for c in cited}) == len(cited)  # one citation per chunk, not one per item


def test_a_list_is_only_attached_from_the_section_of_the_answers_passages(assistant):
    """Over the whole eval set: every item list shown sits in the section of one of the quoted passages."""
    checked = 0
    for item in load_dataset():
        a = assistant.ask(item.question, persona=item.persona_arg)
        for marker in ("ガイドが挙げている項目:", "The guide lists:"):
            if marker not in a.answer:
                continue
            before, after = a.answer.split(marker, 1)
            lines = after.lstrip("\n").split("\n")
            n_items = next((i for i, line in enumerate(lines) if not line.startswith(("・", "- 「"))), len(lines))
            listed, rest = "\n".join(lines[:n_items]), "\n".join(lines[n_items:])
            # the quoted passages: the lead before the list and the passages after it
            own = {a.citations[int(n) - 1].chunk_id for n in re.findall(r"\[(\d+)\]", before + rest)}
            own_sections = {assistant.chunk(cid).section_id for cid in own}
            for n in re.findall(r"\[(\d+)\]", listed):
                section = assistant.chunk(a.citations[int(n) - 1].chunk_id).section_id
                assert section in own_sections, (item.id, section, own_sections)
                checked += 1
    assert checked >= 5


def test_a_quote_naming_a_figure_says_what_and_where_the_figure_is(assistant):
    """「…（図表1）。」 points at a figure the reader cannot see: the answer names it and its page,
    after the citation marker (ours, not the guide's words), once per figure."""
    a = assistant.ask("札幌市の官民連携指針では、官民連携がうまく進まない原因をどんな切り口で整理している？")
    assert re.search(r"\]（図表1「札幌市における官民連携の現状」p\.3）", a.answer), a.answer
    assert a.answer.count("図表1「") == 1
    assert all("図表1「" not in c.quote for c in a.citations)
    en = assistant.ask("How is a municipal budget compiled over the year?")
    assert re.search(r"」\[\d+\] \(Figure \d+ “[^”]+”, p\.\d+\)", en.answer), en.answer


def test_a_lead_rarely_points_at_text_the_reader_cannot_see(assistant):
    """「上記の…」/「以下にまとめました」 lead only when no passage that stands on its own scores
    nearly as well (4 of the eval set's qa leads did before; 1 after)."""
    from assistant.answer_qa import POINTER

    leads = [a.answer.split("[1]")[0] for a in (assistant.ask(i.question, persona=i.persona_arg)
                                                 for i in load_dataset()) if a.route == "qa" and not a.abstained]
    assert len(leads) > 50
    assert sum(bool(POINTER.search(lead)) for lead in leads) <= 1
