"""The web UI's guide views (pure functions; no server, no browser). Chat turns: test_ui_chat_render.py."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from assistant.schema import Annotation, GlossaryNote
from ingest.models import Chunk, Node, ReadingGuide, TocEntry
from ui.web import render as R
from ui.web.text import EXAMPLES, PERSONAS, T, persona_choices


class _Tags(HTMLParser):
    """Collects start tags and checks every non-void tag is closed in order."""

    VOID = {"br", "input", "img", "hr", "meta", "link"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.ok = True

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.ok = False


def balanced(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    assert p.ok and not p.stack, f"unbalanced HTML: {p.stack}"
    return p


def test_annotations_mark_terms_with_rephrasing():
    text = "原課と調整し、<i>4号随契</i>で対応。"
    anns = [Annotation(term="原課", start=0, end=2, surface="原課", meaning="担当している課", rephrase="担当課"),
            Annotation(term="4号随契", start=10, end=14, surface="4号随契", meaning="随意契約の一つ", rephrase="入札なしの契約")]
    assert text[10:14] == "4号随契"
    html = R.render_annotations(text, anns, "ja")
    assert '<mark class="kc-jargon" data-term="原課" title="担当している課">原課</mark>' in html
    assert "（→ 担当課）" in html and "（→ 入札なしの契約）" in html
    assert "&lt;i&gt;" in html and "<i>" not in html
    assert "2 件の専門用語" in html
    balanced(html)
    assert "見つかりませんでした" in R.render_annotations("何もない", [], "ja")


def test_glossary_notes_and_reading_table():
    notes = [GlossaryNote(term="原課", reading="げんか", category="自治体語", meaning="m", rephrase="担当課", en="line division",
                          pages=[20])]
    html = R.render_notes(notes, "en", count=True)
    assert "原課" in html and "Plain Japanese" in html and "line division" in html and "p.20" in html
    balanced(html)
    rows = [ReadingGuide(sector="自治体", persona="municipality", role="意思決定者", readers=["首長"], wants=["w"],
                         chapters=["第1章 意義"], source_figure=3),
            ReadingGuide(sector="スタートアップ", persona="startup", role="実務者", readers=["事業担当者"], wants=["w2"],
                         chapters=["第2章 進め方", "第4章 スタートアップ編"], source_figure=3)]
    toc = [TocEntry(heading=h, level=1, page=p, path=[h]) for h, p in
           [("第1章 意義", 8), ("第2章 進め方", 17), ("第4章 スタートアップ編", 52)]]
    assert R.reading_chapters(rows, "startup", toc) == ["第2章 進め方", "第4章 スタートアップ編"]
    assert R.reading_chapters(rows, "any", toc) == ["第1章 意義", "第2章 進め方", "第4章 スタートアップ編"]
    html = R.render_reading(rows, "municipality", "ja")
    assert "首長" in html and "事業担当者" not in html and "図表3" in html and "読者例" in html
    balanced(html)
    en = R.render_reading(rows, "any", "en")
    assert "Figure 3" in en and "Figure3" not in en and '<td class="kc-role">スタートアップ<br>実務者</td>' in en
    # 図表2 has no readers column: no column of dashes
    fig2 = [ReadingGuide(sector="自治体", persona="municipality", role="実務者", readers=[], wants=["w"], chapters=[], next_actions=["a"],
                         source_figure=2)]
    html = R.render_reading(fig2, "any", "ja")
    assert "読者例" not in html and "—" not in html and "次のアクション" in html and "図表2" in html
    balanced(html)


def test_toc_tree_is_nested_and_clickable():
    toc = [TocEntry(heading="はじめに", level=1, page=1, path=["はじめに"]),
           TocEntry(heading="(1) 目的", level=2, page=2, path=["はじめに", "(1) 目的"]),
           TocEntry(heading="① 課題", level=3, page=2, path=["はじめに", "(1) 目的", "① 課題"]),
           TocEntry(heading="第1章 <意義>", level=1, page=8, path=["第1章 <意義>"])]
    html = R.render_toc([(e, f"s{i}") for i, e in enumerate(toc)], "ja")
    p = balanced(html)
    assert p.tags.count("ul") == 3 and p.tags.count("li") == 4
    assert re.findall(r'data-sid="(s\d)"', html) == ["s0", "s1", "s2", "s3"]
    assert "第1章 &lt;意義&gt;" in html and "p.8" in html


def test_section_view_of_a_chapter_lists_its_sections():
    sec = Node(id="c02.s01", kind="section", heading="(1) とは", level=2, path=["第1章", "(1) とは"], pages=(8, 9),
               personas=["all"])
    ch = Node(id="c02", kind="chapter", heading="第1章", level=1, path=["第1章"], pages=(8, 16), personas=["all"],
              children=[sec])
    chunks = [Chunk(id="x1", kind="body", section_id="c02", section_path=["第1章"], pages=[8], personas=["all"],
                    text="本章では<…>", search_text="x"),
              Chunk(id="x2", kind="body", section_id="c02.s01", section_path=["第1章", "(1) とは"], pages=[8],
                    personas=["all"], text="節の本文", search_text="x")]
    html = R.render_section(ch, chunks, "ja")
    balanced(html)
    assert 'data-sid="c02.s01"' in html and "pp.8–9" in html and "本章では&lt;…&gt;" in html
    assert "節の本文" not in html  # a chapter shows its own lead text; sections open on click
    html = R.render_section(sec, chunks[1:], "ja")
    assert "節の本文" in html and "pp.8–9" in html


def test_strings_complete_in_both_languages():
    assert set(T["ja"]) == set(T["en"])
    for lang in ("ja", "en"):
        assert [v for _, v in persona_choices(lang)] == list(PERSONAS)
        for p in PERSONAS:
            assert len(EXAMPLES[lang][p]) >= 3
    assert [label for label, _ in persona_choices("ja")] == ["自治体", "スタートアップ", "中間支援", "指定なし"]
