"""What detail a question asks for, and whether a passage states one.

When the guide covers a topic but not the detail asked (a fee, a name, a date, a count, a
contact), quoting the topical passages would read as an answer; the honest answer is
「ガイドには…の記載はありません」 with the nearest sections. The classes are narrow on
purpose: a question only counts as asking for a detail when its wording says so, and a
passage counts as stating one when it holds a filler of that type (an amount in 円, a month
or a year, a number with a counter, a URL…).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class DetailKind:
    name: str
    ask: re.Pattern[str]
    fill: re.Pattern[str]
    ja: str  # what the guide does not state, as 「ガイドには{ja}の記載はありません」
    en: str  # "The guide does not state {en}"


KINDS: tuple[DetailKind, ...] = (
    DetailKind(
        "amount",
        re.compile(r"いくら|何円|何万円|金額|(どれ|どの)くらいの(予算|費用|お金|金額)|費用は(どれ|いくら|かか)|費用がかか|"
                   r"会費|参加費|料金|手数料|上限額|how much|what does it cost|\bfees?\b|\bcharges?\b|\bprice\b|\byen\b",
                   re.I),
        re.compile(r"\d[\d,，.]*\s*(?:万|億|千)?円|[一二三四五六七八九十百千万億]+円|無料|無償|有償"),
        "具体的な金額", "the amount"),
    DetailKind(
        "name",
        re.compile(r"名前|名称|(どこ|どの)の?(会社|銀行|企業|団体|事業者|ベンダー)|誰が担当|担当者は誰|"
                   r"which (bank|company|firm|vendor|organi[sz]ation)|name of|who (is|are) the", re.I),
        re.compile(r"株式会社|（株）|\(株\)|銀行|機構|協会|財団|大学|研究所|[市町村県]役所|[A-Z][A-Za-z]+ ?(Inc|Co)\b"),
        "その名称", "the name"),
    DetailKind(
        "date",
        re.compile(r"何月何日|何日まで|何日から|日付|締め?切り?|応募期限|申請期限|開催日|いつ開催|"
                   r"what date|which date|deadline|by what day", re.I),
        # a date as a calendar names it (「翌々年度末まで」 is a validity period, not a deadline)
        re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}\s*年\s*\d{1,2}\s*月|令和\s*\d+\s*年\s*\d{1,2}\s*月|"
                   r"\d{1,2}\s*月(上旬|中旬|下旬|末|中)"),
        "具体的な日付・期限", "the date or deadline"),
    DetailKind(
        "contact",
        re.compile(r"連絡先|電話番号|メールアドレス|問い?合わ?せ先|申込先|URL|ウェブサイト|ホームページ|"
                   r"phone number|e-?mail address|contact (details|address|person)|website|\burl\b", re.I),
        re.compile(r"https?://|www\.|@[A-Za-z0-9-]+\.|\d{2,4}-\d{2,4}-\d{3,4}"),
        "連絡先・URL", "a contact or URL"),
)


def asked_detail(question: str) -> DetailKind | None:
    """The kind of detail the question asks for, if its wording asks for one."""
    return next((k for k in KINDS if k.ask.search(question)), None)


def states(kind: DetailKind, text: str) -> bool:
    return bool(kind.fill.search(text))
