"""Query–sentence scoring over retrieved chunks: the core of the extractive answerer."""
from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Mapping

from ingest.models import Chunk
from ingest.text import URLISH, quotable_spans, sentence_spans


@dataclass
class AnswerConfig:
    """How the extractive answer picks its sentences (tuned on the eval set)."""

    max_hits: int = 6  # retrieved chunks whose sentences compete
    rank_weight: float = 0.45  # weight of the chunk's retrieval rank vs the sentence's own word coverage
    max_sentences: int = 3
    min_ratio: float = 0.6  # a sentence must score at least this share of the best one
    # sentences one chunk may give (the assistant uses 3: a case study's chunk often holds the
    # answer in its third-best sentence, 「…支払金額は、最大委託料6,100万円に対して4,949万円…」).
    # On the 908-question tuning set, 2 → 3: key phrases 0.8025 → 0.8159 (in the text 0.772 →
    # 0.782), first-250 0.5739 → 0.5728, page hit@3 0.9058 → 0.9041, median 575 → 584 characters;
    # 4: 0.8165, first-250 0.5711, page hit 0.9024. Time, 400 questions asked alternately with 2
    # and 3 (query vectors cached, so only the Python differs): p50 3.13 / 3.12 ms, p95 5.55 / 5.93
    per_chunk: int = 2
    coverage_slots: int = 0  # best word matches that take the weakest places if no chosen one matches as well
    # the sentence after a chosen one often carries the fact (a number, a name, the "how"):
    # quote it too when the pair stays short. The assistant used 350 until the 800-tree ranker; with
    # it, on the 1,433: 350 → 275 first 250 0.7806 → 0.7826, in the text 0.8949 → 0.8959, median
    # answered 431.5 → 420, key phrases unchanged (300: 0.7816 / 0.8959 / 427; 250 had lost key
    # phrases, 0.852 → 0.850, on an earlier set). It uses 200 since the multi-part answers' windows
    # were closed (part_extend_chars 0): on the 1,433 (key phrases / in the text / first 250 /
    # median answered) 275 0.9062 / 0.8956 / 0.7965 / 408.5, 225 0.9057 / 0.8946 / 0.7978 / 387,
    # 200 0.9037 / 0.8961 / 0.8003 / 380.5, 175 0.9017 / 0.8944 / 0.8045 / 367, 150 0.8994 /
    # 0.8921 / 0.8043 / 351.5; on tuning part 21, unseen then (60), 275 → 200: 0.862 → 0.873 /
    # 0.819 / 0.725 → 0.736 / 444.5 → 424
    extend_chars: int = 0
    # an English question's single-answer windows (-1: extend_chars): its answer opens with an
    # English line (~45–70 characters) and its key phrase more often sits in the second quote,
    # behind a long lead window. On the 1,541's 626 English questions (key phrases / in the text /
    # first 250 / median answered): 200 0.885 / 0.877 / 0.728 / 430, 175 0.884 / 0.876 / 0.738 /
    # 413, 150 0.881 / 0.873 / 0.738 / 390, 100 0.880 / 0.872 / 0.742 / 386, 0 (before the lead
    # brought the paragraph above from another chunk) 0.871 / 0.863 / 0.741 / 348. The assistant
    # uses 175: under it a 145-character lead loses its 28-character 「これにより…短い期間で調達可能
    # です。」, the sentence that says the 特命随契 route is the faster one
    extend_chars_en: int = -1
    type_bonus: float = 0.15  # for a sentence of the expected answer type (a date, a count, a sum)
    # meaning: the sentence's e5 cosine to the question, rescaled from [sim_lo, sim_hi] to [0, 1]
    # (e5 cosines sit in 0.7–0.9 for anything Japanese, so the raw value says little)
    dense_weight: float = 0.5  # share of the sentence's own evidence that comes from meaning vs words
    sim_lo: float = 0.78
    sim_hi: float = 0.90
    sentence_hits: int = 0  # extra chunks from the nearest sentences (sentence-level dense search)
    # the sentence question bank (index.asked_sentences): a sentence's meaning is also how near
    # the question is to the questions it answers, rescaled from [asked_lo, asked_hi] onto the
    # sentence scale (a sentence without questions counts as far); asked_weight of the meaning
    asked_weight: float = 0.0
    asked_lo: float = 0.80
    asked_hi: float = 0.93
    # chunks of the sentences whose questions are nearest (distinct chunks), from this rank on
    asked_hits: int = 0
    asked_rank: float = 3.0
    # The assistant uses weight 0.7 on [0.81, 0.93], 3 hits at rank 4. On the 1,028 (page hit / key
    # phrases / in the text / first 250 / median answered chars; before the bank 0.909 / 0.815 / 0.783
    # / 0.581 / 575), without hits: weight 0.3 0.907 / 0.816 / 0.791 / 0.583 / 572, 0.5 0.909 / 0.818 /
    # 0.800 / 0.593 / 542, 0.7 0.912 / 0.823 / 0.804 / 0.605 / 530, 0.85 0.909 / 0.823 / 0.806 / 0.599 /
    # 525, 1.0 0.915 / 0.814 / 0.803 / 0.603 / 502; a sentence without questions keeping its own
    # meaning (at 0.5) 0.910 / 0.818 / 0.793 / 0.595 / 545. With 0.7: 3 hits at rank 3 0.924 / 0.835 /
    # 0.813 / 0.611 / 533, at rank 4 0.924 / 0.836 / 0.815 / 0.611 / 535, at rank 1 0.918 / 0.833 /
    # 0.811 / 0.604 / 539; 2 at rank 0 0.918 / 0.817 / 0.804 / 0.598 / 556; 5 at rank 3 0.922 / 0.834 /
    # 0.811 / 0.608 / 536. Range, with 3 hits at rank 4: [0.82, 0.93] 0.925 / 0.832 / 0.811 / 0.611 /
    # 526, [0.81, 0.93] 0.925 / 0.834 / 0.813 / 0.614 / 528 (abstention F1 0.954 → 0.958), [0.80, 0.95]
    # 0.916 / 0.832 / 0.808 / 0.613 / 524; without hits, [0.85, 0.95] 0.904 / 0.802 / 0.792 / 0.614 /
    # 473 (shorter, but phrases lost).
    # the best hits draw in their section neighbours and footnotes, ranked a little below them
    neighbour_hits: int = 0
    neighbour_rank: float = 1.0
    footnote_rank: float = 0.5
    # chunks of the nodes whose section questions match best (index.question_bank), at this rank
    bank_nodes: int = 0
    bank_chunks: int = 3
    bank_rank: float = 3.0
    # a locate answer opens the best section with its first sentence, then this many passages
    locate_lead: bool = True
    locate_lead_keep: int = 1
    locate_outlines: int = 2  # sections of a locate answer that list their sub-headings
    # a section's sub-headings after the passages that matched, not before them: the passage points
    # at the place asked for, the headings map the rest. The assistant uses it with no opening
    # sentence and one section's headings. On the tuning set's 63 locate questions (key phrases /
    # first 250 / median chars): before 0.746 / 0.564 / 832; headings after 0.746 / 0.540 / 832;
    # no opening 0.762 / 0.579 / 848; both 0.762 / 0.611 / 848; both, one section's headings 0.762
    # / 0.611 / 761; no headings at all 0.698 / 0.532 / 642 (they hold key phrases: 「…誰のもの？」)
    locate_outline_after: bool = False
    # a locate answer's first section: one of the pool's first ``locate_titles`` sections whose own
    # title covers at least ``locate_title_min`` of the question (English: that share of the reviewed
    # English title's words, two at least) better than the first does (0: the pool's order). On the
    # 1,601, 6 sections at 0.34: five locate answers open with the section asked for, none lost one;
    # key phrases 0.8996 → 0.9014, first 250 0.7969 → 0.7987, page hit 0.9464 → 0.9473 (at 0.5:
    # three; 0.25 as 0.34; 8 sections as 6)
    locate_titles: int = 0
    locate_title_min: float = 0.5
    # list the guide's enumeration (観点①…⑥) when a chosen sentence from one of the best
    # hits (rank below this) belongs to it and the question asks for a set of things
    list_max_rank: float = 3.0
    # a lead quoted alone for the fact asked (a date, a count) takes the next sentence too when that
    # one holds a fact of the same type and scores ≥ extend_ratio of it (「…10月までには…。…初めて
    # コンタクトを取るのは8月よりも前…」): tuning set key phrases 0.8025 → 0.8035
    typed_next: bool = False
    # the guide's list right after the lead passage instead of after every passage (measured on
    # the eval set: key phrases in the first 250 characters 0.545 → 0.568, nothing lost). Tried and
    # not kept: the other passages by score instead of reading order (0.543), a 600-character
    # budget (key phrases 0.852 → 0.811), the best-ranked chunk's passage as the lead (no change)
    list_after_lead: bool = False
    # the passage that introduces the listed items (their lead-in) leads the answer, the items
    # right after it (first 250: 0.568 → 0.571 with 2 supports)
    list_host_leads: bool = False
    # a quote window: the next sentence joins only if it scores ≥ extend_ratio of the chosen one,
    # the one before (same paragraph) if it scores ≥ back_ratio (0: never). Measured on the eval
    # set against extend-always: extend_ratio 0.6 keeps every key phrase at 614 instead of 640
    # characters (0.7: key phrases 0.852 → 0.835); back_ratio 0.8 adds key phrases 0.852 → 0.858
    # (「…請求書払いによる支払い手続き…。特に年度当初から…」) for 18 more characters
    extend_ratio: float = 0.0
    back_ratio: float = 0.0
    # a qa answer (``units``): the best sentence leads, then at most ``supports`` passages by
    # score, those under ``support_ratio`` of the lead's score dropped. Measured on the eval set
    # (median answer chars / key phrases anywhere / in the first 250): 2 supports 462 / 0.790 /
    # 0.573 (under the gate's 0.82), 3 supports 562 / 0.830 / 0.578, 4 supports 638 / 0.858 /
    # 0.581. A 150–250-character lead window, support_ratio 0.6–0.85, windows joined by
    # connectives (また、/ 例えば、…) and more supports for how-to questions all sat on the same
    # length-for-key-phrases line: the sentence scores, not the composition, bound it.
    # The assistant uses 4: on the 110-question tuning set written after this was tuned
    # (eval/datasets/qa_part3.jsonl) 3 supports lost key phrases (whole tuning set 0.811 → 0.777)
    # for no gain in the first 250 characters (0.569 → 0.572); 4 keep them (0.811, 0.579, 629).
    # With at most 2 quoted in the text (quoted_supports), on the 548-question tuning set (median
    # chars / key phrases with the citations / in the text / first 250): 4 supports, none dropped
    # 487 / 0.793 / 0.760 / 0.550; 4 dropped under 0.7 of the lead 420 / 0.783 / 0.754 / 0.548;
    # 6 dropped under 0.7: 426 / 0.799 / 0.760 / 0.544 (0.65: 464; 0.72: 415 / 0.798), or with a
    # multi-part answer kept at 5 passages (part_passages) 426 / 0.794 / 0.755 / 0.544. The
    # assistant uses 6 at 0.7 and 5 for the parts: weak quotes are dropped, not padded.
    supports: int = 2
    support_ratio: float = 0.0
    # the sentence before joins the lead's window only when it scores nearly as high (it would
    # stand before the answer): back_ratio 0.8 → 0.95 for the lead moved first-250 0.613 → 0.625,
    # median 536 → 524, key phrases anywhere 0.830 → 0.827 (never: 0.820, under the gate)
    lead_back_ratio: float = 0.8
    # passages after the lead whose quote the answer text shows; the others are cited by number
    # and page on one line (「関連箇所: [4] p.49、[5] p.96」), their quotes in the citations the
    # front doors show as evidence. Measured on the tuning set with 4 supports (median chars /
    # key phrases in the answer text / first 250; key phrases with the citations' quotes stay
    # 0.798 and page hits 0.901 throughout): all quoted 633 / 0.797 / 0.548, 3 → 592 / 0.788,
    # 2 → 528 / 0.755, 1 → 402 / 0.718. The assistant used 2, the "at most 2 supports",
    # until the 1,088-question tuning set (2026-11-30; key phrases with the citations' quotes
    # 0.880 throughout): 2 → 541 / 0.872 / 0.675, 1 → 443 / 0.840 / 0.674. It uses 1: the median
    # goal (450) with no key phrase lost; the further passages' quotes are one click away in the
    # web UI (each [n] opens its passage), listed under a Slack answer and printed by the CLI.
    quoted_supports: int = 99
    # the passages a multi-part answer quotes, shared among its parts (each part's under its label)
    part_passages: int = 5
    # of those, each part quotes at most this many in the text (0: all); the others are cited by
    # number and page like a single answer's further passages. On the 1,088 with one quoted
    # support (median / in the text / first 250; with the citations' quotes 0.880 throughout):
    # all 443 / 0.840 / 0.674, 2 → 434 / 0.832 / 0.677, 1 → 386 / 0.811 / 0.676. The assistant
    # uses 2, as a single answer quotes its lead and one support.
    part_quoted: int = 0
    # a multi-part answer's windows read on at most this many characters (-1: extend_chars): each
    # part's passage is its sentence, so the second part's answer is not pushed past the first
    # lines by the first part's window. On the 128 multi-part tuning questions (parts 1–21; key
    # phrases / in the text / first 250 / median answered): windows of 275 0.910 / 0.892 / 0.642 /
    # 634, none (0) 0.906 / 0.885 / 0.681 / 491, none with 6 passages (part_passages) 0.910 /
    # 0.889 / 0.685 / 491; 60: 0.680, 120: 0.668, 200: 0.648
    part_extend_chars: int = -1
    # a window that read on past its lead-in into the list's first item only (「…次の4パターンで紹介
    # します。\nパターン① …」, each パターン a heading with its own paragraphs) is cut back to the
    # lead-in, and the whole list follows it where it stands (it does not move up to lead: 「…9つの要件
    # …」 keeps the lead of 「全部でいくつ？」). On the 1,433 nothing moved; on tuning part 21, unseen
    # then: key phrases 0.873 → 0.888, in the text 0.819 → 0.833 (moved up to lead: first 250 0.736
    # → 0.743 there, but 0.8003 → 0.7993 on the 1,433)
    window_lead_in: bool = False
    # the asker's side leads over the other side's passage (第3章 自治体編 / 第4章 スタートアップ編)
    # when it scores nearly as well; with side_neutral, so does a passage written for both
    # (第5章 官民連携編), and between those two the better one leads. Without it, a 第4章 sentence
    # at 0.6 of the best led a startup's answer over 第5章's 「…紳士協定的な位置づけ…」.
    # On the 1,088 (first 250 / in the text / median; out of fold for the lead ranker): off 0.677 /
    # 0.833 / 434 (0.652 / 0.798 / 408), on 0.717 / 0.842 / 417 (0.684 / 0.806 / 404). Asked as
    # each side (officials / startups): leads from the asker's chapter 0.44 / 0.47 → 0.29 / 0.37,
    # from the other side's 0.17 / 0.08 → 0.13 / 0.07. The asker's chapter kept leading over a
    # 第5章 passage at 0.8–0.95 of its score: first 250 0.697–0.707, own-chapter leads 0.31–0.36.
    side_neutral: bool = False
    # the footnotes the lead's markers point at (³⁹ → 「³⁹ つくば市におけるスタートアップの定義…」)
    # follow it when they hold the kind of fact asked (a date, a count…) or at least this share of
    # the question's words (negative: never). On the 1,088 (key phrases with the citations / in the
    # text / first 250 / median): never 0.880 / 0.842 / 0.717 / 417, typed only 0.881 / 0.843 /
    # 0.717 / 417, 0.2 0.890 / 0.852 / 0.719 / 433, 0.3 0.890 / 0.852 / 0.719 / 432, 0.4 0.889,
    # 0.5 0.887 / 423. The assistant uses 0.3.
    footnote_cov: float = -1.0
    # a later part whose best sentence an earlier part's passage already quotes points at that
    # passage (「→ 上の[1]に記載があります。」) when its best sentence elsewhere scores under this
    # share of it (0: never). Tuning set, 788: 0.6 shortens 5 answers (median 358.5 → 356) and
    # loses nothing; 0.8 and 1.0 lose key phrases (0.803 → 0.800, 0.793), and so does also pointing
    # whenever that passage holds the answer type the part asks (いつ → a date) and the best
    # other sentence does not (0.803 → 0.802)
    part_ref_ratio: float = 0.6
    # a list question's list before the passages when none of them introduces it (「どんな進め方が
    # ある？」 → the guide's パターン①–④ first): first-250 key phrases 0.544 → 0.559 on the 548,
    # nothing else moved
    list_first: bool = False
    # …only when its section's first passage is among the first this many after the lead (-1:
    # always); else the list follows that passage. A list from a passage too weak to be quoted in
    # the text opened 「…原課に使ってもらうには、どんな説明が効きますか？」 with 予算化's checklist. On the
    # 1,088 (first 250; nothing else moved): always 0.7185, 2 0.7213, 1 0.7199, 0 0.7185 (dropping
    # such a list instead lost key phrases: 0.890 → 0.888 at 2, 0.885 at 0). The assistant used 2
    # until the 800-tree ranker, which put a page-cited passage of 予算化's section second and the
    # checklist first again; with one quoted support only the first after the lead is quoted, so 1
    # (on the 1,433: first 250 0.7826 → 0.7831 with extend_chars 275, nothing else moved)
    list_first_at: int = -1
    # the unit that quotes the sentence holding the asked detail or answer type (「現在94で設置」
    # for どれくらいある, 「273件」) leads even when the scores put another first: first-250 key
    # phrases 0.562 → 0.566 on the 548, nothing else moved. It cost the asker's side its leads
    # (the 548 asked as each side: own-side leads 0.452 → 0.396 officials, 0.523 → 0.491 startups),
    # so an answer-type unit (どれくらい, いつ) does not move over the asker's side's lead; an asked
    # detail (何件, いくら) still does. On the 628 (R@1 / first-250 / own-side leads): moving always
    # 0.757 / 0.570 / 0.40, 0.49; never over the side's lead 0.741 / 0.566 / 0.45, 0.52; as here
    # 0.748 / 0.568 / 0.43, 0.51 (chosen on the tuning set after the hold-out had been scored with
    # "never over the side's lead": see README)
    stated_leads: bool = False
    # the question's words for coverage (support, sentence scores): a thesaurus phrase's own tokens
    # give way to the guide's words it maps to. On the 628: abstention F1 0.913 → 0.916, page hit
    # 0.875 → 0.877, key phrases 0.790 → 0.792, first-250 0.554 → 0.556
    thesaurus_replaces: bool = False
    # an English answer's first line names the section by its English heading, cut at a word
    # before this many characters (「“④ Negotiated (non-competitive) contracts with startups…”」, not
    # the heading's 160): first-250 key phrases 0.555 → 0.560 on the 628 (80: 0.559), nothing else moved.
    # On the 1,028 (first-250 / median answered chars): 60 0.575 / 583, 50 0.575 / 579, 40 0.579 / 575,
    # 30 0.581 / 574. The assistant uses 40: shorter still gains little, and the heading must stay
    # recognisable (「“④ Negotiated (non-competitive)…”」)
    title_chars: int = 0
    # a figure's English title in an English figure answer (0: whole), cut like a section's: on the
    # tuning set's 39 figure questions, English first 250 0.417 → 0.583 at 40 (0.625 at 30)
    figure_title_chars: int = 0
    # the best-scored candidates a learned model (assistant/lead_ranker.py) puts in its own order,
    # each taking the score of its new place (0: off). Chosen on the 1,028, each question answered
    # with a model fitted without its dataset file (13 folds; page hit@3 / key phrases / in the text /
    # first 250 / median answered chars): off 0.924 / 0.841 / 0.818 / 0.606 / 538; 6 0.933 / 0.846 /
    # 0.827 / 0.621 / 527; 12 0.937 / 0.844 / 0.833 / 0.627 / 518; 25 0.937 / 0.845 / 0.830 / 0.633 /
    # 520. With an earlier model, whose labels ignored the items a lead-in brings: every candidate
    # reordered 0.937 / 0.835 / 0.815 / 0.628 / 499 (key phrases lost); the best 12, 0.934 / 0.842 /
    # 0.823 / 0.628 / 526, but the list of the three exits gave its lead to a sentence naming them in brackets
    lead_top: int = 0
    # a picked sentence just before the lead in its chunk is quoted as its own passage after the
    # lead instead of being dropped (it cannot join the lead's window: that would put it first)
    before_lead: bool = False
    # a multi-part answer also quotes the whole question's best candidate (in the lead ranker's
    # order), under the part whose words it covers most
    whole_lead: bool = False
    # a window opening with an example (例えば、…) takes the short sentence before it, its point:
    # 1 for the lead only, 2 for every passage (0: never)
    example_point: int = 0
    # a part label cut to this many characters (0: a Japanese part's whole question, an English one
    # cut at title_chars): 【…】 at any character, "On “…”:" at a word. On the 1,088, Japanese, first
    # 250: whole 0.667, 20 0.675; on the 1,208, English: 40 (title_chars) 0.7245, 30 0.7270, 24
    # 0.7276, 20 0.7295; nothing else moved. The assistant uses 20, which keeps the part
    # recognisable (【民間から解決策の提案を募りたいのです…】, "On “Is there an example…”:")
    part_label_chars: int = 0
    # the lead's window reads on only within its paragraph, or into one that goes on from it
    # (「その理由は…」): the guide's own unit, not the next paragraph's point (「本ガイドでは、…一覧
    # 【附録】…をご提供しております…」 after 「…伝えられるようにしておくとい良いでしょう。」). On the
    # 1,148 (key phrases / in the text / first 250 / median): off 0.8902 / 0.8519 / 0.7205 / 432, on
    # 0.8895 / 0.8500 / 0.7242 / 401; without the going-on exception 0.8889 / 0.8493 / 0.7235 / 400;
    # every window so (supports and parts too) 0.8841 / 0.8430 / 0.7288 / 378; the lead's and the
    # parts' 0.8882 / 0.8500 / 0.7259 / 401 but page hit@3 0.9357 → 0.9344
    lead_paragraph: bool = False
    # an English question's words that the guide prints in Latin letters in at most this many of its
    # chunks (its names: CureApp, LIMEX; not a romanised place, Hiroshima) count as the question's
    # words (0: only its Japanese words and expansions do). English subset of the 1,148 (page hit /
    # key phrases / in the text / first 250 / median answered): 0 0.932 / 0.850 / 0.795 / 0.592 / 475,
    # 3 0.932 / 0.855 / 0.803 / 0.598 / 470, 10 0.936 / 0.857 / 0.800 / 0.593 / 470, any 0.932 / 0.857
    # / 0.810 / 0.603 / 466, but then the guide's common English words (startup, city: in 14–15
    # chunks) counted and an English question lost the lead its ranker gives it; romanised places too
    # answered "What did the joint procurement in Hiroshima cost each town?" with 「1件最大100万円」
    latin_df: int = 0
    # a list question takes the list that sits under its own heading right after a chosen passage's
    # paragraph (「予算化に向け他都市から収集すると良い事項」 after 「…その自治体へ問い合わせを…」), whatever
    # the passage's chunk rank. On the 1,148: key phrases 0.8889 → 0.8902, first 250 0.7198 → 0.7211
    # (one question, nothing lost)
    headed_list: bool = False
    # a list question's list does not go first when the lead already holds the fact of the type asked
    # (「どんな方法でどのくらい効果…」: スピーカー12台, 10分の1以下 before 第5章 (7)'s seven points).
    # On the 1,148: first 250 0.7172 → 0.7185, nothing else moved
    typed_lead_first: bool = False
    # a lead whose footnote follows it (footnote_cov) ends with the sentence holding that footnote's
    # marker: its window had read on into the next paragraph before the footnote that answers. On the
    # 1,148: first 250 0.7185 → 0.7198, median 436 → 432, nothing lost; quoting the window's rest as
    # its own passage after the footnote instead: in the text 0.8506 → 0.8500
    note_cut: bool = False
    # a lead unit whose sentence with the asked detail (1,257団体（全体の約70%）) or answer type starts
    # at least this many characters in opens from that sentence; the text before it follows as its
    # own passage (-1: never). On the 1,268 it moves 14 answers, 12 of them shorter (つくば市's
    # 有効期間 522 → 267 characters), page hits and key phrases unchanged, first 250 one gained, one
    # lost (0.7167 either way, for any value 1–180); the text before placed after the first support
    # instead lost a key phrase from the text. The assistant uses 1: the answer first
    typed_from: int = -1
    # a lead whose sentence opens by pointing back (「これにより、…」, 「そのため、…」) takes the sentence
    # before it in its paragraph, whatever that one scores: the reader must see what これ is (the
    # issue's "a quote that points at text the reader cannot see brings that text"). On the 1,268 it
    # moves 14 answers: key phrases 0.8807 → 0.8819, in the text 0.8482 → 0.8500, first 250 0.7266 →
    # 0.7272, median answered 407 → 415 (「これにより…短い期間で調達可能です。」 now with DMP's 特命随契)
    anaphor_back: bool = False
    # a lead that points back anywhere in its sentence (上記 / 前述: 「一方で、上記を前提としつつ、…」)
    # takes what it points at: the sentence before it in its paragraph; when it opens its paragraph,
    # the paragraph before it if the two fit in this many characters, else that one's last sentence
    # (0: never). The larger ranker (800 trees) led with such sentences more often (tuning leads whose
    # opening sentence points at unseen text: 5 of 957 before it, 17 of 1,010 with it, 3 with this at
    # 300). On the 1,433: first 250 0.7801 → 0.7806, in the text 0.8944 → 0.8949, median answered
    # 429.5 → 431.5; at 450 characters first 250 0.7786
    pointer_back: int = 0
    # a multi-part answer quotes every part's first passage (in the order asked) before any part's
    # further one, which follows under 「【…】（続き）」 / "More on “…”:" (the second part's answer no
    # longer waits behind the first part's support). On the 1,328: page hit 0.9407 → 0.9462 (the first
    # three citations now reach every part), first 250 0.7137 → 0.7156, median answered 406.5 → 413,
    # key phrases unchanged; the 108 multi-part questions: page hit 0.935 → 0.972, first 250 0.492 → 0.525
    part_leads_first: bool = False
    # each part of a multi-part question orders its best candidates with the lead ranker too (its own
    # words and answer type, the whole question's vector: no second embedding). On the 1,433, first
    # 250 0.7628 → 0.7741, key phrases 0.8976 → 0.9014, page hit 0.9439 → 0.9449; the 119 multi-part
    # questions' first 250: English 0.515 → 0.602, Japanese 0.652 → 0.709
    rank_parts: bool = False


# Expected answer types: a question asking "when / which month" wants a sentence with a
# date, "how many" one with a count, "how much" one with a sum.
_ASK_TYPES = [
    (re.compile(r"何月|いつ(まで|頃|ごろ)?|何年|時期|スケジュール|when|which month|deadline|timing", re.I),
     # 「3の倍数月に編成され」 names months too
     re.compile(r"\d{1,2}\s*月|\d\s*の倍数月|[0-9０-９]+\s*年度?|年度(当初|末)|月(まで|頃|ごろ|以降)")),
    (re.compile(r"何(件|社|人|団体|自治体|か所|カ所)|いくつ|どれくらい|どのくらい|how many|number of", re.I),
     re.compile(r"\d[\d,，]*\s*(件|社|人|団体|自治体|市町村|か所|カ所|ヶ所|施設|校|台|基|回|%|％|名)")),
    (re.compile(r"いくら|金額|費用|how much|cost", re.I), re.compile(r"\d[\d,，.]*\s*(万|億|千)?円")),
    # a duration: 「何か月かかる？」 wants 「2～3か月を要します」
    (re.compile(r"何(か|ヶ|カ|ケ)月|何日|何週間|期間|how long", re.I),
     re.compile(r"\d[\d〜～~\-－]*\s*(か月|ヶ月|カ月|ケ月|週間|日間|年間)")),
]


# a quotable line under this many characters with no Japanese in it is a label (a company or
# product name, an English title): its English words match an English question well and say nothing
LABEL_CHARS = 40
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# a line that only names what follows (「（事例：福岡市「…の実現」）²⁷」 over a filled-in sheet) is a label too
LABEL_LINE = re.compile(r"[（(](事例|出典|参考)[:：][^\n]*[）)][⁰¹²³⁴⁵⁶⁷⁸⁹]*"
                        # and a figure's copyright line (「Copyright © 2021 Hiroshima Prefecture. All rights
                        # reserved. 広島県 0」): its English words matched an English question about Hiroshima
                        r"|(Copyright|©)[^\n]*"
                        # and a line naming a source article (「参考2：エン・ジャパン AMBI「札幌・北海道が…初公募。…」²²」):
                        # its title's words matched 「札幌市はどんな人を外から採用した？」 better than the hire's own sentence
                        r"|参考[0-9０-９]+[:：][^\n]*")


def blended(sim: float | None, asked: float | None, cfg: AnswerConfig) -> float | None:
    """A sentence's meaning: its own cosine to the question, and (AnswerConfig.asked_weight) the
    question's cosine to the nearest question the sentence answers, on the same scale."""
    if sim is None or asked is None or not cfg.asked_weight:
        return sim
    near = min(1.0, max(0.0, (asked - cfg.asked_lo) / (cfg.asked_hi - cfg.asked_lo)))
    return (1 - cfg.asked_weight) * sim + cfg.asked_weight * (cfg.sim_lo + near * (cfg.sim_hi - cfg.sim_lo))


def answer_types(query: str) -> list[re.Pattern[str]]:
    return [want for ask, want in _ASK_TYPES if ask.search(query)]


@dataclass
class Candidate:
    chunk: Chunk
    rank: float  # rank of the chunk's hit (0 = best)
    start: int  # position of the sentence in chunk.text
    end: int
    text: str  # verbatim, stripped of surrounding whitespace
    score: float = 0.0
    coverage: float = 0.0


class IdfTable:
    """Inverse document frequencies over the guide's chunks (computed once per process)."""

    def __init__(self, docs: Iterable[list[str]]):
        df: Counter[str] = Counter()
        n = 0
        for tokens in docs:
            n += 1
            df.update(set(tokens))
        self.n = max(n, 1)
        self.df = df
        self.default = math.log(1 + self.n)

    def idf(self, token: str) -> float:
        d = self.df.get(token)
        return math.log(1 + self.n / d) if d else self.default


@lru_cache(maxsize=2048)  # the guide's sentences recur across answers (~430 distinct over the eval)
def bigrams(s: str) -> frozenset[str]:
    s = re.sub(r"\s+", "", s)
    return frozenset(s[i:i + 2] for i in range(len(s) - 1))


def similar(a: str, b: str, threshold: float = 0.6) -> bool:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return False
    return len(x & y) / min(len(x), len(y)) >= threshold


class SentenceScorer:
    def __init__(self, tokenize: Callable[[str], list[str]], idf: IdfTable,
                 known: Mapping[str, frozenset[str]] | None = None):
        self.tokenize = tokenize
        self.idf = idf
        self._known = known or {}  # the index's tokens of the guide's chunks and sentences
        self._cache: dict[str, frozenset[str]] = {}
        self._memo: tuple[frozenset[str] | None, list[tuple[str, float]], float] = (None, [], 0.0)

    def tokens(self, text: str) -> frozenset[str]:
        toks = self._known.get(text)
        if toks is None:
            toks = self._cache.get(text)
        if toks is None:
            toks = frozenset(self.tokenize(text))
            if len(self._cache) < 5_000:  # other texts (quote windows): bounded
                self._cache[text] = toks
        return toks

    def coverage(self, query_tokens: set[str] | frozenset[str], text: str) -> float:
        """IDF-weighted share of the query's tokens found in ``text``."""
        if not query_tokens:
            return 0.0
        weights, total = self._weights(query_tokens)
        if not total:
            return 0.0
        have = self.tokens(text)
        return sum(w for t, w in weights if t in have) / total

    def _weights(self, query_tokens: set[str] | frozenset[str]) -> tuple[list[tuple[str, float]], float]:
        """The query's tokens with their IDF, and their sum: the same for every sentence scored
        against one question (thousands per answer), so computed once per question."""
        key = frozenset(query_tokens)
        memo = self._memo  # one read: another thread may replace it (a whole tuple, never half)
        if memo[0] != key:
            weights = [(t, self.idf.idf(t)) for t in key]
            memo = self._memo = (key, weights, sum(w for _, w in weights))
        return memo[1], memo[2]

    def candidates(self, query_tokens: set[str], pool: list[tuple[Chunk, float]], cfg: AnswerConfig,
                   wants: list[re.Pattern[str]] | None = None,
                   meaning: Callable[[str, int, int], float | None] | None = None) -> list[Candidate]:
        """Every quotable sentence of the pool's chunks, scored; ``pool`` pairs a chunk with
        its rank (0 = the best hit; a chunk drawn in beside a hit gets a fractional rank)."""
        out: list[Candidate] = []
        for chunk, rank in pool:
            for a, b in quotable_spans(chunk.text, chunk.kind):
                text = chunk.text[a:b]
                if (b - a < LABEL_CHARS and not JAPANESE.search(text)) or LABEL_LINE.fullmatch(text):
                    continue  # a name on a line of its own (「Life is Tech!」) is a label, not an answer
                cov = self.coverage(query_tokens, text)
                own = cov
                sim = meaning(chunk.id, a, b) if meaning else None
                if sim is not None:
                    near = min(1.0, max(0.0, (sim - cfg.sim_lo) / (cfg.sim_hi - cfg.sim_lo)))
                    own = (1 - cfg.dense_weight) * cov + cfg.dense_weight * near
                # the chunk's retrieval rank carries the passage context a single sentence lacks
                score = (1 - cfg.rank_weight) * own + cfg.rank_weight / (1 + rank) + (0.05 if chunk.kind == "body" else 0.0)
                if wants and any(w.search(text) for w in wants):
                    score += cfg.type_bonus
                out.append(Candidate(chunk, rank, a, b, text, score, cov))
        return out


def select(cands: list[Candidate], cfg: AnswerConfig) -> list[Candidate]:
    """Best sentences, no near-duplicates, then in reading order (hit rank, position)."""
    chosen: list[Candidate] = []
    if not cands:
        return chosen
    best = max(c.score for c in cands)
    per: Counter[str] = Counter()
    for c in sorted(cands, key=lambda c: -c.score):
        if len(chosen) >= cfg.max_sentences or c.score < cfg.min_ratio * best:
            break
        if per[c.chunk.id] >= cfg.per_chunk or any(similar(c.text, o.text) for o in chosen):
            continue
        chosen.append(c)
        per[c.chunk.id] += 1
    # the sentences sharing most of the question's words earn a place even from a lower-ranked
    # chunk (「…どんな枠組みが使えますか」 → the one naming 広域連合、一部事務組合): each takes the
    # weakest place when no chosen sentence matches as many words
    for top in sorted(cands, key=lambda c: (-c.coverage, -c.score))[:cfg.coverage_slots] if chosen else []:
        if top.coverage > max(o.coverage for o in chosen) and not any(
                o.chunk.id == top.chunk.id and o.start == top.start or similar(top.text, o.text) for o in chosen):
            if len(chosen) >= cfg.max_sentences:
                chosen.pop()
            chosen.append(top)
    chosen = sorted(chosen, key=lambda c: (c.rank, c.start))
    if not cfg.extend_chars:
        return chosen
    scores = {(c.chunk.id, c.start): c.score for c in cands} if cfg.extend_ratio or cfg.back_ratio else None
    return _extend(chosen, cfg.extend_chars, scores, cfg.extend_ratio, cfg.back_ratio)


def units(cands: list[Candidate], cfg: AnswerConfig,
          lead_of: Callable[[list[Candidate]], Candidate] | None = None,
          stands_alone: Callable[[str], bool] | None = None,
          wants: list[re.Pattern[str]] | None = None) -> list[Candidate]:
    """A qa answer's passages, the answer first: the best-scoring sentence (``lead_of`` may prefer
    another of the picked ones: a passage for the asker's side, one that points at nothing unseen),
    then up to ``cfg.supports`` others by score, each widened to its window (the sentence after
    or before it when they score nearly as well); weaker sentences are dropped, not padded.
    A lead that holds what the question ``wants`` (a date, a count, a sum, a duration) stands
    alone, from that fact's clause when the sentence is long. The lead's window takes in no
    sentence that fails ``stands_alone`` (「上記の…」 pointing at text the reader cannot see) when
    its own sentence does not, and no support is merged into it from before it (with
    ``cfg.before_lead``, a picked sentence before it is quoted after it as its own passage; with
    ``cfg.example_point``, a lead opening with 「例えば、…」 takes the point it illustrates). Windows of
    one chunk that meet are quoted as one passage (one citation per passage)."""
    picked = select(cands, dataclasses.replace(cfg, max_sentences=cfg.supports + 1, extend_chars=0))
    if not picked:
        return []
    lead = lead_of(picked) if lead_of else max(picked, key=lambda c: c.score)
    rest = sorted((c for c in picked if c is not lead), key=lambda c: -c.score)
    ordered = [lead] + [c for c in rest if c.score >= cfg.support_ratio * lead.score][:cfg.supports]
    if not cfg.extend_chars:
        return ordered
    scores = {(c.chunk.id, c.start): c.score for c in cands}
    out: list[Candidate] = []
    for k, c in enumerate(ordered):
        if k == 0 and wants and any(p.search(c.text) for p in wants):
            w = _clause(c, wants)  # the sentence with the date / count / sum asked for answers on its own
            nxt = next(((a, b) for a, b in sentence_spans(c.chunk.text) if a >= w.end), None)
            if (cfg.typed_next and nxt and nxt[1] - w.start <= cfg.extend_chars
                    and any(p.search(c.chunk.text[nxt[0]:nxt[1]]) for p in wants)
                    and scores.get((c.chunk.id, nxt[0]), 0.0) >= cfg.extend_ratio * c.score):
                w = dataclasses.replace(w, end=nxt[1], text=c.chunk.text[w.start:nxt[1]])
        else:
            back = cfg.back_ratio if k else cfg.lead_back_ratio
            w = _extend([c], cfg.extend_chars, scores, cfg.extend_ratio, back, paragraph=k == 0 and cfg.lead_paragraph)[0]
            if k == 0 and cfg.anaphor_back and w.start == c.start and POINTS_BACK.match(c.text):
                w = _back_one(w)
            if k == 0 and cfg.pointer_back and w.start == c.start and BACK_POINTER.search(c.text):
                w = _back_over(w, cfg.pointer_back)
            if cfg.example_point and (k == 0 or cfg.example_point > 1):
                w = with_point(w)
        if k == 0 and stands_alone is not None and not stands_alone(w.text) and stands_alone(c.text):
            w = c
        at = next((i for i, o in enumerate(out) if o.chunk.id == w.chunk.id and w.start <= o.end and o.start <= w.end),
                  None)
        prev = out[at] if at is not None else None
        if prev is not None and at == 0 and stands_alone is not None and stands_alone(prev.text) \
                and not stands_alone(w.text):
            continue  # it would bring 「前述の…」 into the lead
        if prev is not None and at == 0 and w.start < prev.start:
            # the sentence before the lead: its own passage after the lead, not merged (that would
            # put text before the answer) and not dropped (「…経理担当課の合意が必要…」 before
            # 「そのため、…」 is often the fact the lead concludes from)
            if not cfg.before_lead or c.start >= prev.start:
                continue
            text = c.chunk.text[c.start:min(c.end, prev.start)].rstrip()
            w = dataclasses.replace(c, end=c.start + len(text), text=text)
            if not text or any(o.chunk.id == w.chunk.id and w.start < o.end and o.start < w.end
                                         for o in out[1:]):
                continue
            out.append(w)
            continue
        if prev is not None:  # meets an earlier window: one passage, at the earlier (better) place
            # a copy: the window may be one of the scored candidates themselves, which the caller still reads
            a, b = min(prev.start, w.start), max(prev.end, w.end)
            out[at] = dataclasses.replace(prev, start=a, end=b, text=prev.chunk.text[a:b])
            continue
        out.append(w)
    return out


# a passage that opens with an example or a detail (「例えば、…」「具体的には、…」) illustrates the
# sentence before it in its paragraph: the point, quoted with it when short
EXAMPLE = re.compile(r"^\s*(例えば|たとえば|具体的には|実際に)[、，]")
POINT_CHARS = 110


def with_point(c: Candidate) -> Candidate:
    """``c`` with the sentence before it when ``c`` opens with an example and that sentence is its
    paragraph's point (short, same paragraph, not an example itself)."""
    if not EXAMPLE.match(c.text):
        return c
    before = sentence_before(c)
    if before is None or "\n" in c.chunk.text[before[0]:c.start]:
        return c
    point = c.chunk.text[before[0]:before[1]]
    if len(point.strip()) > POINT_CHARS or EXAMPLE.match(point) or URLISH.search(point):
        return c
    a = before[0] + len(point) - len(point.lstrip())
    return dataclasses.replace(c, start=a, text=c.chunk.text[a:c.end])


CLAUSE_CHARS = 120  # a longer sentence with the asked fact is quoted from the fact's clause
MIN_CLAUSE = 25


def _clause(c: Candidate, wants: list[re.Pattern[str]]) -> Candidate:
    """From the clause (after a 、 outside brackets) that holds the first match of what the
    question asks for to the sentence's end, when the sentence is long: the fact, not the 80
    characters of procedure before it, opens the answer."""
    if len(c.text) <= CLAUSE_CHARS:
        return c
    at = min(m.start() for w in wants for m in [w.search(c.text)] if m)
    depth, cut = 0, 0
    for i, ch in enumerate(c.text[:at]):
        if ch in "「『（(":
            depth += 1
        elif ch in "」』）)":
            depth = max(0, depth - 1)
        elif ch == "、" and depth == 0:
            cut = i + 1
    while cut and len(c.text) - cut < MIN_CLAUSE:  # a clause too short to read alone: one more back
        prev = c.text.rfind("、", 0, cut - 1)
        cut = prev + 1 if prev >= 0 else 0
    if not cut:
        return c
    start = c.start + cut
    return Candidate(c.chunk, c.rank, start, c.end, c.chunk.text[start:c.end], c.score, c.coverage)


# a sentence that opens by pointing at the one before it
POINTS_BACK = re.compile(r"\s*(これ(により|によって|に(より|よって)|らの|は|が|を|まで)|それ(により|によって|ら|は|が|を|に)|"
                         r"この(ため|結果|ように|ような|場合|点|際|取組|仕組み)|その(ため|結果|際|上で|後|場合|ような|点)|"
                         r"こうした|そうした|こういった|そういった|同様に|上記|前述)")


def _back_over(c: Candidate, limit: int) -> Candidate:
    """The passage from what it points back at (AnswerConfig.pointer_back): the sentence before it in
    its paragraph; for a passage that opens its paragraph (「一方で、上記を前提としつつ…」 builds on
    the one above), the paragraph before it when the two fit in ``limit`` characters, else that
    paragraph's last sentence."""
    text = c.chunk.text
    gap = text.rfind("\n", 0, c.start)
    if gap < 0 or text[gap:c.start].strip():
        return _back_one(c)  # it does not open its paragraph: the sentence before is in the same one
    above = text[:gap].rstrip()
    start = text.rfind("\n", 0, len(above)) + 1
    if not above or c.end - start > limit:
        before = sentence_before(c)
        start = before[0] if before is not None else c.start
    return dataclasses.replace(c, start=start, text=text[start:c.end])


# 「上記」 / 「前述」 anywhere in a sentence: it points at text before it
BACK_POINTER = re.compile(r"上記|前述")


def sentence_before(c: Candidate) -> tuple[int, int] | None:
    """The span of the sentence before ``c`` in its chunk."""
    return next(((a, b) for a, b in reversed(sentence_spans(c.chunk.text)) if b <= c.start), None)


def _back_one(c: Candidate) -> Candidate:
    """The passage with the sentence before it, when that one is in the same paragraph of its chunk."""
    before = sentence_before(c)
    if before is None or "\n" in c.chunk.text[before[1]:c.start]:
        return c
    return dataclasses.replace(c, start=before[0], text=c.chunk.text[before[0]:c.end])


# a paragraph that opens by pointing back (「その理由は…」, 「そのため、…」, 「特に…」) goes on with the one before
CONTINUES = re.compile(r"\s*(その|この|そうした|こうした|そのため|つまり|すなわち|具体的には|特に|例えば)")


def _extend(chosen: list[Candidate], limit: int, scores: dict[tuple[str, int], float] | None = None,
            ratio: float = 0.0, back_ratio: float = 0.0, paragraph: bool = False) -> list[Candidate]:
    """Each passage with the sentence after it (when it scores ≥ ``ratio`` of it and the two stay
    within ``limit`` characters; with ``paragraph``, only in the same paragraph or one that goes
    on from it) and the one before it in its paragraph (≥ ``back_ratio``)."""
    out: list[Candidate] = []
    for c in chosen:
        spans = sentence_spans(c.chunk.text)
        nxt = next(((a, b) for a, b in spans if a >= c.end), None)
        start, end = c.start, c.end
        if nxt and paragraph and "\n" in c.chunk.text[c.end:nxt[0]] and not CONTINUES.match(c.chunk.text[nxt[0]:nxt[1]]):
            nxt = None
        if nxt and nxt[1] - c.start <= limit and not URLISH.search(c.chunk.text[nxt[0]:nxt[1]]):
            if scores is None or scores.get((c.chunk.id, nxt[0]), 0.0) >= ratio * c.score:
                end = nxt[1]
        if back_ratio and scores is not None:
            before = sentence_before(c)
            if (before and end - before[0] <= limit and "\n" not in c.chunk.text[before[1]:c.start]
                    and scores.get((c.chunk.id, before[0]), 0.0) >= back_ratio * c.score):
                start = before[0]
        prev = out[-1] if out else None
        if prev is not None and prev.chunk.id == c.chunk.id and start <= prev.end:
            prev.start, prev.end = min(prev.start, start), max(prev.end, end)
            prev.text = prev.chunk.text[prev.start:prev.end]
            continue
        out.append(Candidate(c.chunk, c.rank, start, end, c.chunk.text[start:end], c.score, c.coverage))
    return out
