"""Names the guide never mentions.

A question about 企業版ふるさと納税 shares its other words (自治体, 連携, 財源) with many
passages, so retrieval finds "something" and quoting it would read as an answer. When the
question names a proper noun (not a person or a place: an official scheme, an organisation,
a product), an acronym (日本版SBIR, GDPR), a law (下請法, 労働者派遣法), a scheme named by a
loanword (インボイス制度), a subsidy by its name (IT導入補助金), a name in Latin letters
(Salesforce, Kubernetes) or a topic next to the guide's (tax, visas, side jobs, penalties) that
appears nowhere in the guide and that the project's reviewed words (glossary, its English aliases,
thesaurus; for Latin names also its English headings and the English of its nouns) do not
define, the honest answer is that the guide does not mention it, with the nearest sections.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

from assistant.asked_detail import years
from assistant.language import reads_as_romaji
from ingest.text import nfkc


class Unmentioned:
    def __init__(self, guide_text: str, proper_nouns: Callable[[str], list[str]], known: Iterable[str] = (),
                 english: Iterable[str] = ()):
        self._text = _squash(guide_text)
        # the guide's Latin words and the project's English for what it speaks of (its headings, list
        # items, glossary, thesaurus and its nouns' English: ドクターメイト ← doctormate)
        self._english = {w.lower() for t in [guide_text, *english] for w in _LATIN_WORD.findall(nfkc(t))}
        self._proper_nouns = proper_nouns
        # words the project's reviewed data defines (glossary, thesaurus): not "never mentioned"
        self._known = {form for k in known for form in (_squash(k), _squash(k).lower())}
        # the initials of the guide's own Latin names: UIJ (Urban Innovation JAPAN), LIC (Local
        # Innovation Challenge HOKKAIDO) are how people abbreviate them
        self._known |= initialisms(nfkc(guide_text))
        # the latest year the guide names: it cannot speak of a later one (2027年の改正)
        self._latest = max(years(nfkc(guide_text)), default=None)
        # the topics beside the guide's that it never speaks of (none of their Japanese words in it)
        self._off_topics = [p for p, words in _OFF_TOPICS if not any(_squash(w) in self._text for w in words)]

    def find(self, question: str) -> list[str]:
        """Proper nouns, acronyms (SBIR, GDPR), laws and foreign countries of ``question`` that the
        guide's text never contains and the project's reviewed words do not define, and years after
        the latest one the guide names."""
        out = []
        q = nfkc(question)
        names = [*self._proper_nouns(question), *_ACRONYM.findall(q), *_laws(q), *self._latin_names(q)]
        countries = [m.group(0) for m in _FOREIGN.finditer(q)]  # short names (EU, 韓国) are names too
        # a scheme named by a loanword the guide never uses (インボイス制度; not トライアル認定制度,
        # whose トライアル the guide uses)
        names += [m.group(0) for m in _SCHEME.finditer(q) if _squash(m.group(1)) not in self._text]
        # a subsidy by its name (IT導入補助金, ものづくり補助金): the guide names none
        names += [m.group(0) for m in _SUBSIDY.finditer(q)]
        for noun in [*names, *countries]:
            key = _squash(noun)
            if ((len(key) >= 3 or noun in countries) and key not in self._text and key not in self._known
                    and key.lower() not in self._known and noun not in out):
                out.append(noun)
        # a topic next to the guide's but outside it (tax, visas, side jobs, penalties…), in either
        # language: named as asked
        for pattern in self._off_topics:
            m = pattern.search(q)
            if m and m.group(0) not in out:
                out.append(m.group(0))
        if self._latest is not None:
            out += [f"{y}年" for y in sorted(years(q)) if y > self._latest]
        # a word named inside a longer name found too ("Series" in "Series A") is that name
        return [n for n in out if not any(n != o and n in o for o in out)]

    def _latin_names(self, question: str) -> list[str]:
        """Names in Latin letters (Salesforce, Kubernetes, GovTech) that neither the guide nor the
        project's English for it holds. A word that reads as romanised Japanese (Tsukuba, Kitakyushu,
        kintone) may be a name the guide writes in kana: never counted."""
        out = []
        for m in _LATIN_NAME.finditer(question):
            word = m.group(1)
            low = word.lower()
            if (low not in self._english and low.removesuffix("s") not in self._english and low not in _CALENDAR
                    and not reads_as_romaji(low)):
                out.append(word)
        return out


# a name in Latin letters: capitalised inside a sentence, or with a capital inside (GovTech); three
# letters or more (all capitals: _ACRONYM)
_LATIN_NAME = re.compile(r"(?<![.?!:]\s)(?<=\s)([A-Z][a-z]+[A-Za-z]*[a-z]|[a-z]+[A-Z][A-Za-z]*)(?![A-Za-z-])")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")
_CALENDAR = frozenset("january february march april may june july august september october november december "
                      "monday tuesday wednesday thursday friday saturday sunday".split())
# an acronym as people write one (SBIR, GDPR): three or more capitals, standing alone; not a
# fiscal year (FY2025, a year: see asked_detail.years), nor a short one with a count (「SU1社」: one startup)
_ACRONYM = re.compile(r"(?<![A-Za-z0-9])(?!FY\d)(?![A-Z]{1,2}\d+[社件名人])[A-Z][A-Z0-9]{2,}(?![A-Za-z0-9])")
_NAME_RUN = re.compile(r"(?:[A-Z][A-Za-z]+[ 　]+){1,5}[A-Z][A-Za-z]+")


def initialisms(text: str) -> set[str]:
    """The initials of every run of two or more capitalised Latin words in ``text`` and of each
    of the run's leading parts (Local Innovation Challenge HOKKAIDO → LI, LIC, LICH)."""
    out = set()
    for m in _NAME_RUN.finditer(text):
        initials = "".join(w[0] for w in m.group(0).split())
        out |= {initials[:k] for k in range(2, len(initials) + 1)}
    return out


# a country or union the guide's Japanese municipalities are not in (place names are otherwise
# no "unmentioned" names: 八王子市 is a municipality the guide's advice applies to); one the
# guide names (米国, in its account of the word スタートアップ) is known
_FOREIGN = re.compile(r"(?<![A-Za-z])(UK|EU|Britain|British|Europe|European|Singapore|Korea|Korean|China|Chinese|Taiwan|"
                      r"Germany|German|Estonia|Estonian)(?![A-Za-z])|英国|イギリス|欧州|ヨーロッパ|シンガポール|韓国|"
                      r"中国(?!地方)|台湾|ドイツ|エストニア")
# topics next to the guide's that it does not cover, with the Japanese words it would use for them
_OFF_TOPICS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(p, re.I), words) for p, words in (
        (r"\bvisas?\b|\bimmigration\b|ビザ|在留資格", ("ビザ", "在留資格")),
        (r"\b(corporate |income )?tax(es|ation)?\b|法人税|課税|確定申告|税額控除|医療費控除|税制適格",
         ("法人税", "課税", "確定申告", "税額控除", "税制")),
        (r"\bvaluations?\b|\bseries [a-c]\b|企業価値|バリュエーション", ("企業価値", "バリュエーション")),
        (r"\bpenalt(y|ies)\b|\bpunish\w*|罰則|罰金|懲戒", ("罰則", "罰金", "懲戒")),
        (r"\bside (jobs?|business(es)?)\b|\bmoonlight\w*|副業|兼業", ("副業", "兼業")),
        (r"\bpatents?\b|特許", ("特許",)),
        # (the guide's one 商標 is a footnote's 登録商標 mark on a service name, not the topic)
        (r"\btrade ?marks?\b|商標登録|商標権", ("商標登録", "商標権")),
        (r"\bstock options?\b|ストックオプション", ("ストックオプション",)),
        (r"\blobby(ing|ist)?\b|ロビイング|陳情", ("ロビイング", "陳情")),
        (r"\bpersonal (data|information)\b|個人情報|個人データ", ("個人情報", "個人データ")),
        (r"\bovertime\b|\blabou?r (law|standards)\b|\bemployment law\b|労働基準法|残業代?", ("労働基準法", "残業")),
        (r"\bflights?\b|\bairfares?\b|\bplane tickets?\b|航空券|飛行機", ("航空券", "飛行機")),
        (r"\binterest rates?\b|\bloans?\b|金利|利率|融資", ("金利", "利率", "融資")),
        (r"\bfurusato\b|\bhometown tax\b|ふるさと納税|返礼品", ("ふるさと納税", "返礼品")),
        (r"\bmunicipal bonds?\b|\bchih[oō]u?[- ]?sai\b|地方債|起債", ("地方債", "起債")),
        # travel (the guide's 温泉 are a town's name and a permit for a hot spring's use)
        # ("places to visit" is not one: a startup may ask which desks to visit)
        (r"\bhot[- ]spring (towns?|resorts?|inns?)\b|\bsightseeing\b|\btourist (spots?|attractions?)\b|"
         r"温泉地|観光地|観光スポット|旅行", ("温泉地", "観光地", "観光スポット", "旅行")),
    ))
_SCHEME = re.compile(r"([ァ-ヴー]{3,})制度")
_SUBSIDY = re.compile(r"(?:[A-Za-z0-9ァ-ヴー一-龥]{2,}|[ぁ-ん]{4,})(?:補助金|助成金)")
# a law by its name (労働者派遣法, 下請法): two or more kanji before 法, not a way of doing
# something (調達方法, 手法) nor a legal person (法人)
_LAW = re.compile(r"[\u4e00-\u9fff]{2,}法(?![人案])")
_NOT_LAW = set("方手用工製作文寸技療魔兵論戦話解処略強析算価現得渉")  # 対処法, 攻略法, 評価法…


def _laws(question: str) -> list[str]:
    return [m for m in _LAW.findall(question) if m[-2] not in _NOT_LAW]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", nfkc(text))
