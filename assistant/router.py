"""Deterministic query router: no LLM, every decision states its reason.

Routes: glossary (what a term means / how to say it plainly), locate (where the
guide covers something), figure (a 図表 by number or title), reading_path (what a
kind of reader should read first), qa (everything else). ``out_of_scope`` is set
later, when retrieval finds no support (see assistant.abstain).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.followup import SEPARATOR
from assistant.terms import TermMatcher
from ingest.models import FigureEntry, GlossaryEntry
from ingest.text import nfkc

_FIGURE_NUM = re.compile(r"図表?\s*(\d{1,2})(?!\d)|\b(?:figures?|figs?\.?|tables?|charts?|diagrams?)\s*(\d{1,2})\b", re.I)
# the numbers after the first in "Figures 16 and 17", 「図表16と17」, "Figure 3, 4 and 5"
_MORE_FIGURES = re.compile(r"\s*(?:and|&|or|,|、|と|・|や)\s*(?:図表?|figures?|figs?\.?)?\s*(\d{1,2})(?!\d)", re.I)
MAX_FIGURES = 3
_READING = re.compile(
    r"(何|どこ|どの章|どの部分|どれ)から読|読(む|め|ん)(べき|ば|ばいい|ばよい|のがおすすめ)|推奨(閲覧|読)|おすすめの章|"
    r"(最初|まず|先)に(目を通す|読む)|目を通すべき|(どの章|どの部分|どこ)(に|を|から)?目を通|読んでおけば|読んでおくべき|読んでもらう|読ませ(る|たい)|勧めれば|"
    r"what should (i|we) read|where should (i|we) start|which chapters?|reading (path|order)|read first|prioriti[sz]e|"
    # "Which parts of the guide should I actually read?"
    r"\b(which|what) (parts?|sections?)\b[^?]{0,40}\bshould (i|we|they|he|she)\b[^?]{0,15}\bread\b", re.I)
_LOCATE = re.compile(
    # 何ページ asks where, unless it asks how long something should be (「何ページくらいにまとめる？」)
    r"どこ(に|で|を見れば|か(に|で)?)?(書|載|記載|説明|解説|扱|触れ|まとめ|紹介|手に入)|どこを見れば|"
    r"(何ページ|何頁)(?!\s*(くらい|ぐらい|程度|ほど|以内))|どのページ|ページ(は|を|って)?(どこ|教え)|"
    r"どの(章|節|部分|セクション|あたり|辺|へん)|何章|(箇所|ところ|部分|ページ)を教え|ガイドのどこ|どこに(ある|あります)|"
    r"(書いて|載って|説明して|まとめて)(ある|い)る?の?は?どこ|"
    # 「それが書いてあるところを知りたい」「書いてあるページはありますか」「紹介している箇所は？」
    r"(書いて|書かれて|載って|説明して|まとめて|紹介して|触れて|解説して)(ある|いる|い)(ところ|箇所|場所|ページ|部分|章|節)|"
    r"(箇所|場所)(は[？?]|を(教え|知りた))|"
    # "which parts of the lean canvas…" asks about the canvas, not for a place in the guide
    r"which (page|section|chapter)|which parts?\b(?!\s+of\s+(?!(the|this)\s+guide))|what page|"
    # "When and where is the Matching Pitch held?" asks for a venue, not a place in the guide
    # ("When and where is the next practitioners' meeting?" asks for a date and a venue)
    r"(?<!when and )where (does|do|in|is)\b(?![^?]*\b(held|located|based|hosted|headquartered|take place|taking place)\b)|"
    # "Does the guide discuss who owns…? Where?": the place asked for in a question of its own
    r"(^|[?.]\s*)where\s*\?|"
    # "where can I find …" asks for the guide's place only when it names the guide or a part of it
    # ("Before pitching, where can I find public information about a city?" asks for a source)
    r"where can i find\b(?=[^?]*\b(guide|section|chapter|page)s?\b)|"
    # "Is there one place in the guide that collects the reference links?"
    r"\b(a|one|any|single) (place|part|section|page|spot) (in|of) (the|this) guide\b|"
    # "Is there a list of reference websites somewhere near the end of the guide?"
    r"\bsomewhere\b[^?]{0,25}\b(the|this) guide\b|"
    # "Does the guide have a page of useful links at the end?"
    r"\b(does|do) (the|this) guide (have|include|contain|give)\b[^?]{0,20}\b(a|an|any) (page|section|list|appendix|chapter)\b",
    re.I)
# 「ガイドのどこを読めば公平性の考え方がわかりますか」: where to read about a topic (locate), not where
# to start reading (「どこから読めばいい？」, a reading path)
_READ_FOR_TOPIC = re.compile(r"どこを読め|読めば[^。？?]{0,30}(わか|分か|知れ|理解でき|書いて)")
# the "where is it" wording of a locate question: not what to search for
_LOCATE_TAIL = re.compile(
    r"[、,]?\s*(って|は|が|を)?\s*(ガイドの|本ガイドの)?(どこ|何ページ|何頁|どのページ|どの(章|節|部分|セクション|あたり)|"
    r"(箇所|ところ|部分|ページ)を教え)[^？?。]*[？?。]?$")
_LOCATE_HEAD = re.compile(
    r"^((which (page|section|chapter|part)s?( of the guide)?|what page|where (in the guide )?(does|do|is|can i find)"
    r"( the guide)?)\s*(explains?|covers?|talks? about|discuss(es)?|describes?|deals? with|mentions?)?|"
    r"(does|do) (the|this) guide (have|include|contain|give) (a|an|any) (page|section|list|appendix|chapter)s?"
    r"( (of|on|about|with|for))?|"
    # "Is there one place in the guide that gathers all the reference links…?"
    r"is there (a|one|any|a single) (place|part|section|page|spot) (in|of) (the|this) guide"
    r"( (that|which|where))?( (gathers|collects|lists|has|covers|explains|brings together))?( all)?)\s*", re.I)
# A definition cue must ask what the term IS: 「…って何円まで使える？」 and 「…ってどんなパターンがあるの？」
# ask something else about it, and 「…ことは何？」 / 「…いいことって何？」 are not 「…とは何？」.
_DEF_END = r"(?=\s*(ですか|でしょう|だっけ|なの|のこと|を指|か[？?]|[？?。]|$))"
_DEFINE = re.compile(
    r"(?<!こ)とは(何|なに|どういう|どんな)?(?!.{0,3}(ある|する|すべき|できる))|"
    r"(?<!こと)(?<!もの)って(何|なに|なん)" + _DEF_END + r"|って(どういう|どんな)(意味|もの|こと|用語|言葉|制度|仕組み)|"
    r"の意味|意味(は|を|って)|言い換え|言いかえ|平たく言う|"
    r"どういう(意味|こと)|どういう\S{1,4}のこと|何のこと|を指して|何を(求め|意味)|正式(に|名称)|の略|"
    r"って(どこ|誰|だれ)のこと|"
    # 「「ボンチ絵を用意してください」と言われました。何を作ればいいの？」: asked for a thing by its jargon
    r"と(言われ|いわれ|頼まれ|求められ)(まし)?た[^？?]{0,12}何を(作|用意|準備|出)|"
    # 「外郭団体って、具体的にどういう団体を指すんですか？」
    r"って[、,\s]*(具体的に(は)?)?[、,\s]*(どういう|どんな|どの|何の?)\S{0,6}を指(す|し)|"
    r"what (does|do|is|are)\b.*\b(mean|stand for)\b|what is meant by|meaning of|what(?: on earth)? is an?\b|what(?: on earth| exactly| actually| really)? is (that|it|this)\b|what's an?\b|define|"
    r"definition of|stand for|explain (that|this|the) (word|term)",
    re.I)
# "What is PFS?" / "What are SIBs?" with nothing after the term (see Router.route)
_BARE_WHAT = re.compile(r"^\s*what(?:\s+exactly|\s+actually)?(?:'s|\s+is|\s+are)\s+(?:the\s+)?", re.I)
# Words the whole guide is about: a question that mentions them is not asking what they mean
# unless they sit right before the cue (「スタートアップとは？」).
_UBIQUITOUS = {"スタートアップ", "自治体", "官民連携"}
_TERM_GAP = re.compile(r"^[\s「」『』\"'“”]*(という(言葉|用語)?|って言葉|の用語|の言葉)?[\s「」『』\"'“”]*(の)?$")
# two questions in one ("…って何？あと、…は？") need a full answer, not a term card
_COMPOUND = re.compile(r"あと、|それと|また、.*[？?]|[？?].+[？?]")


_KANJI = re.compile(r"[\u3400-\u9fff]")
# what joins two terms asked about together: 「A」と「B」, A や B, A and B, A or B
_JOINED = re.compile(r"^[\s「」『』\"'“”]*(と|や|・|、|,|and|or)[\s「」『』\"'“”]*$", re.I)


@dataclass
class RouteDecision:
    route: str
    reason: str
    term: GlossaryEntry | None = None
    figure: int | None = None
    figures: tuple[int, ...] = ()  # every figure named, the first being ``figure``
    # 「AとBって、それぞれどういう意味？」: every term asked about, in the order asked (term is the first)
    terms: tuple[GlossaryEntry, ...] = ()


class Router:
    def __init__(self, matcher: TermMatcher, figures: list[FigureEntry]):
        self.matcher = matcher
        self.figures = figures

    def route(self, question: str) -> RouteDecision:
        q = nfkc(question)
        m = _FIGURE_NUM.search(q)
        if m:
            numbers = figure_numbers(q)
            return RouteDecision("figure", f"図表番号 {'・'.join(map(str, numbers))} を含む質問", figure=numbers[0],
                                 figures=numbers)
        if _READING.search(q) and not _READ_FOR_TOPIC.search(q):
            return RouteDecision("reading_path", f"読む順番・推奨箇所を尋ねる表現「{_READING.search(q).group(0)}」")
        if _LOCATE.search(q):
            return RouteDecision("locate", f"記載箇所を尋ねる表現「{_LOCATE.search(q).group(0)}」")
        d = _DEFINE.search(q)
        if d and not _COMPOUND.search(q) and not _other_questions(q):
            term = self._focus_term(q, d.start(), d.end())
            if term is not None:
                pair = self._paired_terms(q, term)
                if pair:
                    return RouteDecision("glossary", f"用語「{'」「'.join(t.term for t in pair)}」の意味を尋ねる表現"
                                                     f"「{d.group(0).strip()}」", term=pair[0], terms=pair)
                return RouteDecision("glossary", f"用語「{term.term}」の意味を尋ねる表現「{d.group(0).strip()}」", term=term)
        bare = _BARE_WHAT.match(q)
        if bare:
            # "What is trial ordering?": the whole question is the cue and one term, nothing else asked
            asked = q[bare.end():].rstrip(" ?？.。")
            whole = [f for f in self.matcher.find(q) if f[0] == bare.end() and f[1] == bare.end() + len(asked)]
            if whole and whole[0][2].term not in _UBIQUITOUS:
                return RouteDecision("glossary", f"用語「{whole[0][2].term}」の意味を尋ねる表現「{bare.group(0).strip()}」",
                                     term=whole[0][2])
        title = self._figure_by_title(q)
        if title is not None:
            return RouteDecision("figure", f"図表{title}の題名を含む質問", figure=title)
        return RouteDecision("qa", "一般的な質問（用語・図表・記載箇所・読む順番の指定なし）")

    def _focus_term(self, q: str, cue: int, cue_end: int) -> GlossaryEntry | None:
        """The glossary term the question asks the meaning of: the one inside an English cue ("what
        does PFS mean"), or the one nearest before the cue (「原課」って何), else the longest one
        found ("A city official asked for a 'bonchi-e'. What is that?"). The guide's ubiquitous
        words (スタートアップ, 自治体, 官民連携) count only right before the cue."""
        # 出口 inside 出口設計 is part of a longer word, not the term asked about
        found = [f for f in self.matcher.find(q) if not (f[1] < len(q) and _KANJI.match(q[f[1]]) and _KANJI.match(q[f[1] - 1]))]
        found = [f for f in found if f[2].term not in _UBIQUITOUS or (f[1] <= cue and _TERM_GAP.match(q[f[1]:cue]))]
        if not found:
            return None
        # a term inside the cue is the one asked ("…next to PFS. What does SIB mean?")
        inside = [f for f in found if cue <= f[0] and f[1] <= cue_end]
        if inside:
            return max(inside, key=lambda f: f[1] - f[0])[2]
        before = [f for f in found if f[1] <= cue + 1]
        if before:
            return max(before, key=lambda f: (f[1], f[1] - f[0]))[2]
        return max(found, key=lambda f: f[1] - f[0])[2]

    def _paired_terms(self, q: str, term: GlossaryEntry) -> tuple[GlossaryEntry, ...]:
        """The terms asked about together with ``term`` (「時間的排他性と物理的排他性って…」, "what do
        PFS and SIB mean"): glossary terms joined by と / や / and / or, ``term`` among them."""
        found = [f for f in self.matcher.find(q) if f[2].term not in _UBIQUITOUS]
        for (_, a_end, ea, _), (b_start, _, eb, _) in zip(found, found[1:]):
            if ea.term != eb.term and term.term in (ea.term, eb.term) and _JOINED.match(q[a_end:b_start]):
                return ea, eb
        return ()

    def _figure_by_title(self, q: str) -> int | None:
        if not re.search(r"図|表|figure|chart|table|diagram", q, re.I):
            return None
        for f in self.figures:
            title = nfkc(f.title)
            if len(title) >= 6 and title in q:
                return f.number
        return None


# a figure or table named by what it shows, not by its number: 「利害関係者の一覧表で」「官民の歩み寄りを
# まとめた表で」, "In the figure mapping each step to…", "In Social X's table contrasting…"
_DESCRIBED_FIGURE = re.compile(
    r"(一覧表|概要表|比較表|対応表|(まとめ|整理|比較|対比)(た|てる|ている|してる|している)(表|図)|"
    r"の(表|図)(で|を見|には|では|によると)|(表|図)を見(る|ると|た))|"
    r"\b(in|on|from|according to|looking at)\s+(the|that|this|its|their|\S+'s)\s+(?:[^\s?,.]+\s+){0,6}?"
    r"(figure|table|chart|diagram)\b(?!\s+of\s+contents)", re.I)


def describes_figure(q: str) -> bool:
    """True when the question asks about a figure or table it describes instead of numbering."""
    return _DESCRIBED_FIGURE.search(nfkc(q)) is not None


def figure_numbers(q: str) -> tuple[int, ...]:
    """The figures a question names, in order, at most MAX_FIGURES ("Figures 16 and 17" → 16, 17)."""
    out: list[int] = []
    for m in _FIGURE_NUM.finditer(q):
        out.append(int(m.group(1) or m.group(2)))
        at = m.end()
        while (more := _MORE_FIGURES.match(q, at)) is not None:
            out.append(int(more.group(1)))
            at = more.end()
    return tuple(dict.fromkeys(out))[:MAX_FIGURES]


def locate_topic(question: str) -> str:
    """What a locate question asks about, without its "where is it" wording
    (公平性の考え方って、ガイドのどこに書いてある？ → 公平性の考え方): those words would
    only pull in the passages that talk about the guide itself."""
    q = nfkc(question).strip()
    topic = _LOCATE_HEAD.sub("", _LOCATE_TAIL.sub("", q)).strip(" 、,?？")
    return topic if len(topic) >= 2 else q


# where a question that asks two things splits: after a question mark (not one inside a
# quotation), before あと、/それと、 opening a new sentence, after a polite question that ends
# with 。 or 、 (「…とは何ですか。また、…？」, 「…とは何ですか、どのように…ですか」; not before
# それとも, which asks one either-or question), before ", and what/how…" (", and by what month…")
_ASKS = r"(?:(?<=ですか)|(?<=ますか)|(?<=でしょうか))"
_PART_BREAK = re.compile(r"(?<=[？?])(?![」』\"'])\s*|(?<=[？?。])\s*(?:あと|それと|それから|また)、|"
                         + _ASKS + r"[。、]\s*(?:(?:あと|それと|それから|また)、)?(?!\s*それとも)|"
                         r",?\s+and\s+(?=(?:(?:by|in|at|for|from|on|to|until|under|with)\s+)?(?:when|what|how|why|where|which|who)\b)",
                         re.I)
# a part that is a question of its own: a question mark, a polite 「…ですか」 with the 。 split off, or
# a request for one more thing (「…あと、対象の交付金の名前も教えて。」; a plain 「…について教えてください。」
# after 「…をご存知ですか。」 asks the one question)
_A_QUESTION = re.compile(r"([？?]|(ですか|ますか|でしょうか|も教えて(ください|下さい)?)。?)$")


# a later part that opens with its question word right after a question mark (「…採ったことが
# あるんですよね？どういう役職で？」) asks about the part before it, whose subject it lacks: the
# question is one (after あと、/ また、 it is a question of its own: 「…とは何ですか。また、どう…」).
# Eight tuning questions (of 548) are so joined: first-250 key phrases 0.560 → 0.567, nothing lost
_SUBJECTLESS = re.compile(r"(どういう|どんな|どの|どう|どこ|いつ|何|誰|いくら|いくつ)")
# a short later part with neither a subject nor a question word of its own (「段階ごとに違う？」,
# 「提案してすぐ決まる？」, "And what if we pick several?") narrows the part before it: one question
_NARROWS_JA = re.compile(r"^[^はがもを]{2,12}[？?]$")
_NARROWS_EN = re.compile(r"^(?:and\s+|but\s+)?(?:what|how)\s+(?:if|about)\b", re.I)


# a later part that offers the other answer to the same question (「…提案書で行くべき？それとも
# 段階で変えたほうがいい？」, "…? Or should we…?"): one question with its alternatives
_ALTERNATIVE = re.compile(r"^(それとも|or\b)", re.I)


# a later part that asks more about the term itself ("…, and how does it relate to PFS?")
_BACK = re.compile(r"\b(it|its|one|this|that|they|them)\b|それ|その|これ|この", re.I)


def _other_questions(q: str) -> bool:
    """Two questions in one, a later one about something else than the term (「…とは何ですか、
    どのように始めれば…」): each part gets its answer (the qa route), not one term card."""
    parts = question_parts(q)
    return len(parts) > 1 and not all(_BACK.search(p) for p in parts[1:])


# ", and does it cover PFI…?": a yes-no question joined to another. Not a seam for answering (each
# part answered alone lost as many key phrases as it gained on the tuning set), but a clause that
# names a topic the guide leaves out does not make the whole question one about that topic
_YES_NO_SEAM = re.compile(r",\s+and\s+(?=(?:does|do|is|are|can|could|will|would)\s+\w+\s)", re.I)


def clauses(question: str) -> list[str]:
    """The question's parts, also split before a joined yes-no question ("…, and does it…?")."""
    return [p for part in question_parts(question) for p in _YES_NO_SEAM.split(part) if p.strip(" ,?")]


def question_parts(question: str, min_chars: int = 6) -> list[str]:
    """A question that asks two things (「…って何？あと、…は？」, "When…, and what happens if…?")
    as its parts; a single question, or one with a part that is no question of its own
    (「…いくつ？営業先の母数を知りたくて。」, "When and where…"), as itself."""
    q = nfkc(question).strip()
    if SEPARATOR in q:
        # a follow-up read with its anchor (「前の質問？ について: …」): only what was asked now has
        # parts; the anchor is the context of each, never a part of its own
        anchor, asked = q.split(SEPARATOR, 1)
        return [f"{anchor}{SEPARATOR}{p}" for p in question_parts(asked, min_chars)]
    parts = [p.strip(" 、,") for p in _PART_BREAK.split(q) if p and p.strip(" 、,?？")]
    if len(parts) < 2 or len(parts) > 3:
        return [q]
    for p in parts:
        last = re.split(r"(?<=[.。])\s*", p)[-1] or p
        if len(p) < min_chars or (p.isascii() and len(last.split()) < 3):
            return [q]
    if not _A_QUESTION.search(parts[-1]) or (not parts[-1].isascii() and not all(
            _A_QUESTION.search(p) or p.isascii() for p in parts)):
        return [q]
    if any(_SUBJECTLESS.match(p) and re.search(r"[？?]\s*$", q[:q.index(p)]) for p in parts[1:]):
        return [q]
    if any(_ALTERNATIVE.match(p) for p in parts[1:]):
        return [q]
    if any(_NARROWS_EN.match(p) or (_NARROWS_JA.match(p) and "って" not in p and not _SUBJECTLESS.search(p))
           for p in parts[1:]):
        return [q]
    return parts
