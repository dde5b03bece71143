"""Prompts for the optional generative mode: numbered sources → 1–5 cited sentences.

The sources are the extractive answer's citations; each is shown with its heading
path, pages and an excerpt of its chunk centred on the verbatim quote.
"""
from __future__ import annotations

from dataclasses import dataclass

from assistant.schema import Citation
from ingest.models import Chunk

EXCERPT_CHARS = 600  # context per source; the quote is always inside it

DECLINE = {
    "ja": "出典からは答えられません。",
    "en": "I cannot answer this from the sources.",
}

SYSTEM = {
    "ja": (
        "あなたは「官民連携実践ガイド」についての質問に答えるアシスタントです。\n"
        "規則:\n"
        "1. 下の番号付き出典（該当箇所と前後の文脈）だけを根拠にしてください。出典にない知識・推測は書かないでください。\n"
        "2. 日本語で1〜5文で答えてください。\n"
        "3. 各文の句点の直前に、その文の根拠となる出典番号を [1] のように付けてください（複数なら [1][2]）。"
        "存在しない番号は使わないでください。\n"
        "4. 数値・固有名詞・制度名は出典の表記どおりに書いてください。\n"
        f"5. 出典から答えられない場合は「{DECLINE['ja']}」とだけ答えてください。"
    ),
    "en": (
        "You answer questions about the Japanese public–private partnership practice guide "
        "(官民連携実践ガイド).\n"
        "Rules:\n"
        "1. Use ONLY the numbered sources below (a passage and its context). Add no outside knowledge and no guesses.\n"
        "2. Answer in English in 1–5 sentences.\n"
        "3. End every sentence with the number(s) of the source(s) it relies on, like [1] or [1][2]. "
        "Never use a number that is not listed.\n"
        "4. In every sentence, quote the key Japanese words of the source verbatim inside 「」 "
        "(for example: The guide calls this 「伴走支援」[1].).\n"
        "5. Copy numbers and names exactly as the source writes them.\n"
        f"6. If the sources do not contain the answer, reply exactly: {DECLINE['en']}"
    ),
}

LABELS = {
    "ja": ("該当箇所", "前後の文脈"),
    "en": ("Passage", "Context"),
}

USER = {
    "ja": "出典:\n{sources}\n\n質問: {question}\n\n回答（1〜5文、各文に[n]）:",
    "en": "Sources:\n{sources}\n\nQuestion: {question}\n\nAnswer (1–5 sentences, [n] after each):",
}


@dataclass(frozen=True)
class Source:
    n: int
    heading: str
    pages: list[int]
    quote: str  # the extractive evidence (one line)
    excerpt: str  # its surroundings in the chunk ("" when the chunk is the quote)
    text: str  # what a claim is checked against (whole chunk + heading + pages)


def _pages(pages: list[int]) -> str:
    if not pages:
        return ""
    return f"p.{pages[0]}" if pages[0] == pages[-1] else f"pp.{pages[0]}-{pages[-1]}"


def excerpt(chunk_text: str, quote: str, limit: int = EXCERPT_CHARS) -> str:
    """The chunk (or a window of it around ``quote`` when the chunk is long)."""
    text = chunk_text.strip()
    if len(text) <= limit:
        return text
    i = chunk_text.find(quote) if quote else -1
    if i < 0:
        return quote or text[:limit]
    if len(quote) >= limit:
        return quote
    pad = (limit - len(quote)) // 2
    a = max(0, i - pad)
    b = min(len(chunk_text), a + limit)
    a = max(0, b - limit)
    return ("…" if a > 0 else "") + chunk_text[a:b].strip() + ("…" if b < len(chunk_text) else "")


def sources_of(citations: list[Citation], chunks: dict[str, Chunk]) -> list[Source]:
    out = []
    for c in citations:
        chunk = chunks.get(c.chunk_id)
        body = chunk.text if chunk is not None else c.quote
        heading = " > ".join(c.section_path)
        pages = _pages(c.pages)
        quote = " ".join(c.quote.split())
        context = excerpt(body, c.quote)
        if " ".join(context.split()) == quote:
            context = ""
        out.append(Source(n=c.n, heading=heading, pages=list(c.pages), quote=quote, excerpt=context,
                          text="\n".join([heading, pages, body])))
    return out


def build_messages(question: str, language: str, sources: list[Source]) -> tuple[str, str]:
    """(system, user) prompt texts."""
    lang = "en" if language == "en" else "ja"
    passage, context = LABELS[lang]
    blocks = []
    for s in sources:
        where = f"{s.heading}（{_pages(s.pages)}）" if s.pages else s.heading
        block = f"[{s.n}] {where}\n{passage}: {s.quote}"
        if s.excerpt:
            block += f"\n{context}: {s.excerpt}"
        blocks.append(block)
    return SYSTEM[lang], USER[lang].format(sources="\n\n".join(blocks), question=question.strip())
