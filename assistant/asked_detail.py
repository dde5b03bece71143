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
from typing import Any, Callable

from ingest.text import sentence_spans


# a number per item is a rate, not a count (「1件最大100万円」 says nothing of how many there were)
_PER = r"(?!\s*(?:あたり|当たり|につき|最大|上限))"


@dataclass(frozen=True)
class DetailKind:
    name: str
    ask: re.Pattern[str]
    fill: re.Pattern[str]
    ja: str  # what the guide does not state, as 「ガイドには{ja}の記載はありません」
    en: str  # "The guide does not state {en}"


# 「具体的にどの製品？」 is answered by the product's own name (「…」, a Latin name), not by the company
# that made it (「株式会社 CureApp から提供された禁煙プログラム」)
_PRODUCT_ASKED = re.compile(r"具体的に(どの|何という|なんという)(製品|商品|薬|医薬品|アプリ|ツール|システム|ソフト)|"
                            r"which (specific|exact) (products?|drugs?|medicines?|apps?|tools?)|(製品|商品)名", re.I)
_PRODUCT = re.compile(r"「[^」]{2,30}」|(?<!株式会社)(?<!株式会社 )(?<![A-Za-z] )(?<![A-Za-z])[A-Z][a-z][A-Za-z]{2,}(?![A-Za-z]| [A-Z])")


KINDS: tuple[DetailKind, ...] = (
    DetailKind(
        "amount",
        re.compile(r"いくら|何円|何万円|金額|(どれ|どの)くらいの(予算|費用|お金|金額)|(費用|料金|報酬|年収|給与)は(どれ|どの|いくら|かか)|"
                   r"費用がかか|会費|参加費|料金|手数料|利用料|(登録|掲載|審査|申込|出展|出店)料|初期費用|月額|年額|"
                   r"上限額|年収|給与|給料|単価|相場|予算規模|予算額|負担金|分担金|拠出金|予算(は|って)?(どれ|どの)くらい|"
                   # "how much did the droppings drop" asks a change (「10分の1以下」), "how much time" a duration
                   r"how much(?! time\b)(?![^?.]{0,60}\b(drop|dropp|fall|fell|decreas|declin|reduc|shr[iu]nk|increas|rise|rose|grow|grew|improv)\w*)|"
                   r"\b(what|how much) (does|did|do|will|would)\b[^?.]{0,60}\bpay\b|"
                   # "Does a company have to pay Social X anything to post a theme?"
                   r"\b(have|has|need|needs) to pay\b[^?.]{0,40}\banything\b|"
                   r"\b(cap|ceiling|upper limit)\b[^?.]{0,30}\b(value|amount|price|sum)\b|"
                   r"\b(what|how much)\b[^?.]{0,30}\b(total|annual|yearly)\b[^?.]{0,20}\bbudget\b|\bbudget (amount|size)\b|how (large|big) (is|was) the budget|"
                   r"\b(what|how much) (does|did|do|will|would)\b[^?.]{0,60}\bcost\b|"
                   # a fee asked about, not a price named as a criterion (「bidding that weighs price and quality」)
                   # (nor one a choice is made on: "judge on what it proposes rather than on price")
                   r"(what|which|any)\b[^?.]{0,30}\b(?<!\bon )(?<!\bby )(?<!\bthan )(fees?|charges?|prices?)\b|"
                   r"\b(fees?|charges?|prices?)\b[^?.]{0,20}\b(charged|required|payable|paid)\b|"
                   r"\b(is|are) there (a|any)\b[^?.]{0,30}\b(fees?|charges?)\b|"
                   # "is the total contract value or the per-student price given?"
                   r"\b(contract|total|unit|per-[a-z]+) (values?|amounts?|prices?|costs?)\b|"
                   r"\b(registration|listing|entry|membership|participation|application|usage|user) fees?\b|"
                   # "Does it cost anything to list our service?", 「掲載は無料？」: whether there is a fee at all
                   r"\bcosts? (anything|money|extra)\b|\bfree of charge\b|\b(is|are) (it|they|listing|registration|joining|entry|participation) free\b|"
                   r"お金(は|が)?かか|無料(です|なの|でき|？|\?)|タダ|"
                   r"\byen\b|\bsalary\b",
                   re.I),
        re.compile(r"\d[\d,，.]*\s*(?:万|億|千)?円|[一二三四五六七八九十百千万億]+円|無料|無償|有償"),
        "具体的な金額", "the amount"),
    DetailKind(
        "name",
        re.compile(r"名前|名称|(会社|企業|団体|事業者|製品|サービス)名|社名|(どこ|どの)の?(会社|銀行|企業|団体|事業者|ベンダー)|"
                   r"(会社|銀行|金融機関|企業|事業者|ベンダー|出資者|投資家|資金提供者)[）)]?(は|って|が)(どこ|誰|どちら)|"
                   r"具体的にどこ|誰が担当|担当者は誰|"
                   # (「どの製品が向いている？」 asks no name: only 「具体的にどの製品？」 does)
                   rf"{_PRODUCT_ASKED.pattern}|"
                   r"which (specific )?(banks?|compan(y|ies)|firms?|vendors?|organi[sz]ations?|startups?|municipalit(y|ies))|"
                   r"\bname of|who (is|are|was|were) the|\b(their|his|her) names?\b|担当者の(名前|氏名)", re.I),
        re.compile(r"株式会社|（株）|\(株\)|銀行|機構|協会|財団|大学|研究所|[市町村県]役所|[A-Z][A-Za-z]+ ?(Inc|Co)\b|"
                   # a company or product named in one Latin word in the Japanese text (Luup, CureApp;
                   # not a scheme spelt out in English, Pay For Success)
                   r"(?<![A-Za-z] )(?<![A-Za-z])[A-Z][a-z][A-Za-z]{2,}(?![A-Za-z]| [A-Z])|"
                   # a desk or service named in Latin letters in brackets (「mirai@（ミライアット）」; not
                   # an acronym the text abbreviates to, 以下「PFS」)
                   r"「(?=[A-Za-z])(?=[^」]*[a-z@])[^」]{2,30}」"),
        "その名称", "the name"),
    DetailKind(
        "date",
        re.compile(r"何月何日|何日まで|何日から|日付|締め?切り?|応募期限|申請期限|開催日|いつ.{0,6}開催|開催(時期|場所)|"
                   r"いつ[・、]?(どこで)?(やる|行われ|実施され|開かれ)|"
                   r"what date|which date|exact date|date by which|deadline|by what day|"
                   r"\bwhen(?: and where)? (is|was|will|does)\b[^?]{0,80}\b(held|take place|taking place)\b", re.I),
        # a date as a calendar names it (「翌々年度末まで」 is a validity period, not a deadline)
        re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}\s*年\s*\d{1,2}\s*月|令和\s*\d+\s*年\s*\d{1,2}\s*月|"
                   r"\d{1,2}\s*月(上旬|中旬|下旬|末|中)"),
        "具体的な日付・期限", "the date or deadline"),
    # 「何月ごろ」 asks a month, answered by any month the guide names (「6月頃」), where a date needs a day
    DetailKind(
        "month",
        re.compile(r"何月(?!何日)|\b(which|what) months?\b", re.I),
        re.compile(r"(?<![\d.])\d{1,2}\s*月(?!間)|[一二三四五六七八九十]+月(?!間)|\b(January|February|March|April|May|June|July|"
                   r"August|September|October|November|December)\b"),
        "具体的な月", "the month"),
    DetailKind(
        "ratio",
        re.compile(r"何対何|何割|何パーセント|何[%％]|比率|割合|配分|補助率|助成率|(what|maximum|max|minimum|min) (percentage|share|proportion|ratio)|how many percent|"
                   r"\b(subsidy|grant|funding|co-?funding|matching|support) (rate|ratio)s?\b", re.I),
        re.compile(r"\d+(\.\d+)?\s*(%|％|割|パーセント)|\d+\s*(対|:|：)\s*\d+"),
        "具体的な割合・配分", "the ratio or share"),
    DetailKind(
        "duration",
        re.compile(r"何年間|何[かヶカケヵ]月間?|何日(間|以内|くらい|ほど|程度)|何週間|任期|(どれ|どの)くらいの期間|期間は(どれ|どの)|"
                   r"(まで|のに)(は|に)?(どれ|どの)くらい(の時間|の期間|かか)|"
                   r"期間(って|は|が)?\s*何年|"
                   r"how long (does|do|did|will|is|are)|how much time\b|how many (years|months|weeks|days)|"
                   r"(maximum|max|longest) (number of )?(years|months)|number of (years|months)", re.I),
        re.compile(r"\d+\s*(年間|か月|ヶ月|カ月|ケ月|日間|週間|営業日|[カヵケかヶ]年)|[一二三四五六七八九十]+\s*(年間|か月|ヶ月|カ月|日間|週間)|"
                   r"\d+\s*(years?|months?|weeks?|days?)\b|翌々?年度末まで|\d+\s*日以内|\d+\s*年[がを]経過|"
                   r"\d+\s*年(ほど|程度|くらい|近く|以上|以内)"),
        "具体的な期間", "the duration"),
    DetailKind(
        "count",
        # "how many years / months" is a duration (above); any other "how many …" a count
        # (「何社かと意見交換」: 何 + counter + か is "some", not "how many")
        re.compile(r"(何社|何件|何団体|何人|何名|何校|何台|何回|何度|何点|何自治体|何市町村)(?!か[とにのをがはもで、])|"
                   r"いくつの(自治体|団体|会社|企業|市町村)|"
                   r"(学校|生徒|参加者|会員|団体|企業|自治体|事例|案件)数|how many\b", re.I),
        re.compile(r"\d[\d,，]*\s*(ある|の)?\s*(社|件|団体|者|人|名|校|台|基|回|度|点|か所|カ所|ヶ所|箇所|施設|市町村|自治体|地方公共団体|エリア)"
                   rf"{_PER}|"
                   r"[一二三四五六七八九十百]+\s*(社|件|団体|人|名|校)|\d[\d,]*\s*[a-z]+s\b|"
                   # 「窓口については、現在94¹⁸で設置・運用されています」: a count without its counter
                   r"現在\s*\d{1,5}(?![\d年月日.,．％%])"),
        "具体的な数", "the number"),
    # a phone number: a URL does not state it (「電話で相談したい。番号はガイドに載ってる？」)
    DetailKind(
        "phone",
        re.compile(r"電話番号|電話[^？?]{0,25}番号|phone number|\bcall (them|the office)\b", re.I),
        re.compile(r"\d{2,4}-\d{2,4}-\d{3,4}"),
        "電話番号", "a phone number"),
    DetailKind(
        "contact",
        re.compile(r"連絡先|番号(を|は)?(教え|知りた|載っ|書い)|(メール)?アドレス|問い?合わ?せ先|申込先|URL|ウェブサイト|ホームページ|"
                   r"e-?mail address|contact (details|address|person)|website|\burl\b", re.I),
        re.compile(r"https?://|www\.|@[A-Za-z0-9-]+\.|\d{2,4}-\d{2,4}-\d{3,4}"),
        "連絡先・URL", "a contact or URL"),
)


# The detail counts as stated when a sentence that answers the question nearly as well as the
# best one (≥ STATED_RATIO of its score, among the best STATED_IN_TOP) holds a filler. Measured
# on the tuning sets (eval/datasets: 288 questions, 59 to decline), abstention F1 / precision:
# any of the best 10: 0.80 / 0.95; best 2 only: 0.88 / 0.96 but it declined a count (273件) and a
# share (4.7%) the guide states; ratio 0.7 of the best 10: 0.89 / 0.96 and both answered.
STATED_IN_TOP = 10
STATED_RATIO = 0.7
# For a Japanese question the stating sentence, read with the sentence before it (which often
# names its subject: 「PFSは…。これまで273件の事例があり…」), must also share at least this
# much of the question's words (IDF-weighted): 「学識経験者2名以上」 does not say how many sit on
# an evaluation committee. On the tuning set (488) the answerable detail questions' stating
# sentences share 0.20–0.73 read so, and three not-stated ones 0.03–0.09 (the sentence alone
# instead: answerable from 0.08, too close to the not-stated 0.00–0.09 to cut).
STATED_MIN_CONTEXT = 0.15
# A Japanese question's detail found by none of those is looked for in every sentence of the guide
# that holds a filler (QaAnswers._stated_elsewhere): it counts as stated when, read with the sentence
# before it, it shares at least this much of the question's words, about the same place. 0.5 keeps
# 「…わずか4.7%に留まっています」 (0.53 for 「4号随契を…活用している自治体は何%くらい？」) and moved no
# tuning-set question's answer.
STATED_ELSEWHERE = 0.5


def asked_detail(question: str) -> DetailKind | None:
    """The kind of detail the question asks for, if its wording asks for one."""
    return next((k for k in KINDS if k.ask.search(question)), None)


def asked_details(question: str) -> list[DetailKind]:
    """Every kind of detail the question asks for ("How many schools…, and over how many years?"
    asks a count and a duration), in the order of ``KINDS``."""
    found = [k for k in KINDS if k.ask.search(question)]
    if any(k.name == "phone" for k in found):  # the number asked is a phone's: a URL does not give it
        found = [k for k in found if k.name != "contact"]
    return found


def with_previous(c) -> str:
    """A candidate's sentence (``.chunk``, ``.start``, ``.end``) with the one before it in its
    chunk, which often names its subject (「PFSは…。これまで273件の事例があり…」)."""
    before = [a for a, b in sentence_spans(c.chunk.text) if b <= c.start]
    return c.chunk.text[before[-1] if before else c.start:c.end]


def states(kind: DetailKind, text: str) -> bool:
    return bool(kind.fill.search(text))


def stating(kind: DetailKind, candidates, question: str = "", about: Callable[[Any], bool] | None = None,
            shown: Callable[[str], str] | None = None):
    """The best-scoring candidate sentence (``.text``, ``.score``) that states it, among those
    scoring near the best; None when none does (the guide does not state it). A sentence about
    another year than the one ``question`` names (2024年度 for "fiscal 2025"; a sentence naming no
    year is read with the one before it: 「2008年に…。…現在94で設置」), about a past
    event when it asks for the next one (次回, upcoming), whose filler does not agree with the
    question (the counter of 何台, the unit of 何か月, a bank for "which bank", the name of 単価),
    or that fails ``about`` (the caller's test that it speaks of what the question asks about)
    does not state it. ``shown``: what the answer shows beside a sentence, given its text (the
    caption of a figure it cites: 「…（図表 48）」 brings 「Luup が取り組んだ…」), also searched for
    the filler."""
    def filled(c) -> bool:
        return states(kind, c.text) or (shown is not None and states(kind, shown(c.text)))

    top = sorted(candidates, key=lambda c: -c.score)[:STATED_IN_TOP]
    asked_years = years(question)
    # 「来年度の予算に…何月ごろまでに」 asks where in the yearly cycle, not the date of a coming occasion
    ahead = kind.name != "month" and bool(_AHEAD.search(question))
    # what the filler must agree with: the counter, the unit, the kind of name, the price's name
    agreeing = _AGREE.get(kind.name)
    agree = agreeing(question) if agreeing else None
    return next((c for c in top if c.score >= STATED_RATIO * top[0].score and filled(c)
                 and not (asked_years and (said := years(c.text) or years(with_previous(c))) and not asked_years & said)
                 and not (ahead and not _PLANNED.search(c.text))
                 # a price may be named in the sentence before the sum (「委託料は…。その額は…円」)
                 and not (agree is not None and not agree.search(with_previous(c) if kind.name == "amount" else c.text))
                 and not (kind.name == "amount" and _PAID.search(question) and _only_grants(kind, c.text))
                 and (about is None or about(c))), None)


# what someone paid or what something cost is not answered by a grant they could draw on
# (「活動支援金として1件最大100万円」 for "What did the joint procurement in Hiroshima cost each town?"):
# such a question needs a sum (or 無償) not named as money given
_PAID = re.compile(r"\bcost\b|\bpa(y|id)\b|費用|払|負担", re.I)
_GRANT = re.compile(r"(支援|補助|助成|交付)金")


def _only_grants(kind: DetailKind, text: str) -> bool:
    """Every sum the sentence states is named as a grant by the words just before it, in its clause."""
    def clause_before(at: int) -> str:
        return text[max(0, at - 14, text.rfind("、", 0, at) + 1, text.rfind("。", 0, at) + 1):at]

    found = list(kind.fill.finditer(text))
    return bool(found) and all(_GRANT.search(clause_before(m.start())) for m in found)


# 「委託単価はいくら」 is not answered by 最大委託料6,100万円, nor 「月額料金は」 by 無償提供: a sum
# asked for by a narrow name must be stated under that name (a fee also as 無料 / 無償)
_NARROW_PRICE = re.compile(r"単価|月額|年額|予算規模|年収|給与|給料|(参加|年会|会|手数|利用|登録|掲載|出展|出店|審査|申込)(費|料)")
_FEE = re.compile(r"(費|料)$")


def _priced(question: str) -> re.Pattern[str] | None:
    """The narrow price names the question asks with (and 無料 / 無償 for a fee), or None."""
    names = list(dict.fromkeys(m.group(0) for m in _NARROW_PRICE.finditer(question)))
    if not names:
        return None
    free = ["無料", "無償"] if any(_FEE.search(n) and n not in ("年収",) for n in names) else []
    return re.compile("|".join(map(re.escape, names + free)))


# 「何台」 is answered by a number of 台, not by 9エリア: the counter asked for, and the ones that
# count the same thing (人 and 名). Tuning set: abstention F1 0.898 → 0.906 with the English
# things counted below (one English question the guide answers, whose passage retrieval misses,
# is now declined instead of answered with another count)
_ASKED_COUNTER = re.compile(r"何(社|件|団体|人|名|校|台|回|度|点)")
# (何団体 is answered by 11自治体: the bodies the guide counts are mostly municipalities, as with
# "how many municipalities" below)
_SAME_COUNTER = {"人": "人|名", "名": "人|名", "回": "回|度", "度": "回|度",
                 "団体": "団体|自治体|市町村|市区町村|都道府県|地方公共団体"}


# "how many companies" is counted in 社 as 何社 is: the English things counted, by counter
_COUNTED_EN = (
    (re.compile(r"compan(y|ies)|firms?|startups?|businesses|vendors?|enterprises?"), "社"),
    (re.compile(r"municipalit(y|ies)|local (authorities|governments)|cities|towns|prefectures"),
     "自治体|団体|市町村|市区町村|都道府県|地方公共団体"),
    (re.compile(r"people|participants|persons|members|staff|officials|employees|attendees|visitors"), "人|名"),
    (re.compile(r"cases|projects|proposals|applications|examples|deals|contracts|pilots"), "件"),
    (re.compile(r"bikes|bicycles|vehicles|scooters|units|devices|machines|cars"), "台"),
    (re.compile(r"schools"), "校"),
    (re.compile(r"ports|stations|locations|sites|places|facilities"), "か所|カ所|ヶ所|箇所|基|施設"),
)
_HOW_MANY = re.compile(r"\bhow many ((?:[a-z-]+ ){0,2}[a-z-]+)", re.I)


def _counted(question: str) -> re.Pattern[str] | None:
    """A number with the counter the question asks with (何台 → 「30 台」; "how many companies"
    → 「12社」), or None when it names no counter this knows."""
    found = [_SAME_COUNTER.get(c, c) for c in _ASKED_COUNTER.findall(question)]
    for m in _HOW_MANY.finditer(question):
        found += [counter for things, counter in _COUNTED_EN if things.search(m.group(1).lower())]
    if not found:
        return None
    counters = "|".join(dict.fromkeys(found))
    # 「全国に 1,788 ある自治体」「1,700以上存在する自治体」: the number, then ある / の, then the counter
    number = rf"\d[\d,，]*\s*(?:以上|超)?\s*(?:存在する|ある|の)?\s*(?:{counters}){_PER}"
    if "人|名" in found:  # people are always counted with 人 / 名: 「現在94」 is no number of staff
        return re.compile(number)
    # 「窓口については、現在94¹⁸で設置・運用」: a count the sentence gives without its counter
    return re.compile(rf"{number}|現在\s*\d{{1,5}}(?![\d年月日.,．％%])")


# 「何か月」 is answered in months, not by 4年間 (another programme's years); "how long" by any unit
_UNITS = ((re.compile(r"何(か|ヶ|カ|ケ)月|how many months", re.I), r"\d+\s*(か月|ヶ月|カ月|ケ月)|\d+\s*months?"),
          # a validity in years as the guide writes one: 翌々年度末まで, 3年が経過する日の属する年度末まで
          (re.compile(r"何年間|期間(って|は|が)?\s*何年|how many years", re.I),
           r"\d+\s*年間|\d+\s*years?|[一二三四五六七八九十]+\s*年間|翌々?年度末まで|\d+\s*年[がを]経過"),
          (re.compile(r"何日間|how many days", re.I), r"\d+\s*(日間|営業日|日以内)|\d+\s*days?"),
          (re.compile(r"何週間|how many weeks", re.I), r"\d+\s*週間|\d+\s*weeks?"))


def _in_units(question: str) -> re.Pattern[str] | None:
    """A period in the unit the question asks in (何か月 → 「2～3か月」), or None."""
    wanted = [fill for ask, fill in _UNITS if ask.search(question)]
    return re.compile("|".join(wanted)) if wanted else None


# "Which bank or investor…" is answered by a financier, not by 一般社団法人…協会
_FINANCIER_ASKED = re.compile(r"銀行|金融機関|出資者|投資家|\b(banks?|investors?|funders?|lenders?)\b", re.I)
_FINANCIER = re.compile(r"銀行|金融機関|信用金庫|ファンド|投資|証券|キャピタル")


# 「会社名を教えて」 is answered by a company (株式会社…, CureApp), not by …協会 or a university
_COMPANY_ASKED = re.compile(r"(会社|企業|事業者)名|社名|which (specific )?(compan(y|ies)|firms?|startups?|vendors?)", re.I)
_COMPANY = re.compile(r"株式会社|（株）|\(株\)|[A-Z][A-Za-z]+ ?(Inc|Co)\b|(?<![A-Za-z] )(?<![A-Za-z])[A-Z][a-z][A-Za-z]{2,}(?![A-Za-z]| [A-Z])")


def _name_kind(question: str) -> re.Pattern[str] | None:
    if _FINANCIER_ASKED.search(question):
        return _FINANCIER
    return _PRODUCT if _PRODUCT_ASKED.search(question) else _COMPANY if _COMPANY_ASKED.search(question) else None


# "By what date must we apply?" is answered by a date of applying (「…随時受付」, 「応募期限は…」),
# not by 「2022年10月の発足時」: the event the question dates, and the words the guide dates it with
_DATED_EVENTS = (
    (re.compile(r"締め?切|期限|申請|応募|募集|申し?込|エントリー|deadline|appl(y|ication)|submit|sign up|register|enrol",
                re.I), r"締め?切|期限|申請|応募|募集|申し?込|受付|受け付け|エントリー"),
    (re.compile(r"開催|held|take place|took place", re.I), r"開催|実施|行われ|開か"),
)


def _dated(question: str) -> re.Pattern[str] | None:
    """The words a date of the event ``question`` asks about is stated with, or None."""
    wanted = [fill for ask, fill in _DATED_EVENTS if ask.search(question)]
    return re.compile("|".join(wanted)) if wanted else None


# per kind of detail: what its filler must agree with in the question (None: anything of the kind)
_AGREE: dict[str, Callable[[str], re.Pattern[str] | None]] = {
    "count": _counted, "duration": _in_units, "name": _name_kind, "amount": _priced, "date": _dated}


# a question about the next or a coming occasion, and a sentence that speaks of one
_AHEAD = re.compile(r"次回|次の回|今度の|来年度?の|今後の開催|\b(next|upcoming|coming)\b", re.I)
_PLANNED = re.compile(r"予定|次回|今後|見込み|見通し")
# a year, not a sum or a count that starts with 20 (2000万円, 2030件)
_YEAR = re.compile(r"(?<![\d,，])(20[0-4]\d)(?![\d,，万億千円件人名社%％])|令和\s*([0-9０-９]{1,2}|元)\s*年|"
                   r"\bFY\s?(\d{2})(?!\d)", re.I)


def years(text: str) -> set[int]:
    """The calendar years ``text`` names (2025, 2025年度, 令和7年 → 2025)."""
    out = set()
    for m in _YEAR.finditer(text):
        if m.group(1):
            out.add(int(m.group(1)))
        elif m.group(3):  # FY25
            out.add(2000 + int(m.group(3)))
        else:
            n = m.group(2)
            out.add(2018 + (1 if n == "元" else int(n.translate(str.maketrans("０１２３４５６７８９", "0123456789")))))
    return out
