"""The reading-path route: 図表2/図表3's recommended chapters for the asker's sector and role."""
from __future__ import annotations

import re

from assistant.drafting import Draft, Drafting
from assistant.schema import Citation, ReadingStep
from ingest.text import canonical, nfkc


# 図表2/3's reader groups, for the English first line (the Japanese labels follow in 「」)
SECTOR_EN = {"自治体": "municipalities", "スタートアップ": "startups", "中間支援団体": "intermediary organisations"}
ROLE_EN = {"意思決定者": "decision makers", "実務者": "practitioners"}


class ReadingAnswers(Drafting):
    """Answers "where should I start reading" for a reader's sector and role."""

    def _reading_answer(self, query: str, language: str, persona: str) -> Draft:
        rows = [r for r in self.guide.reading_guide if r.chapters]
        if not rows:
            return self._qa_answer(query, self._hits(query, persona), language)
        q = nfkc(query)
        sector = persona if persona in ("municipality", "startup", "intermediary") else None
        if sector is None:
            sector = "municipality" if re.search(r"市長|首長|局長|職員|自治体|city|mayor|municipal", q, re.I) else None
        cands = [r for r in rows if sector is None or r.persona == sector] or rows

        def fit(r) -> int:
            s = 0
            words = " ".join(r.readers + [r.role])
            for kw in re.findall(r"[一-龥ァ-ヴー]{2,}|[A-Za-z]{3,}", words):
                if kw in q:
                    s += 2
            if re.search(r"首長|市長|町長|局長|部長|社長|代表|CEO|経営|decision|mayor|executive|head", q, re.I):
                s += 3 if r.role == "意思決定者" else 0
            if re.search(r"担当|実務|職員|staff|officer|negotiat|practition|coordinator|コーディネーター", q, re.I):
                s += 2 if r.role in ("実務者", "—") else 0
            if re.search(r"原課|契約|財政|contract|financ|budget", q, re.I):
                s += 3 if any("原課" in x or "契約" in x for x in r.readers) else 0
            return s

        row = max(cands, key=fit)
        steps = []
        for i, ch in enumerate(row.chapters, 1):
            entry = next((e for e in self.guide.toc if e.level == 1 and canonical(e.heading) == canonical(ch)), None)
            steps.append(ReadingStep(order=i, heading=ch, pages=[entry.page] if entry else [],
                                     why="、".join(row.wants[:2])))
        citations: list[Citation] = []
        table = next((c for c in self.guide.chunks if c.figure == row.source_figure and c.kind == "table"
                      and all(ch in c.text for ch in row.chapters[:1]) and any(x in c.text for x in row.readers[:1])), None)
        if table is not None:
            line = next((ln for ln in table.text.split("\n") if row.readers and row.readers[0] in ln), table.text.split("\n")[0])
            a = table.text.find(line)
            citations.append(self._cite(1, table, a, a + len(line)))
        who = "・".join(row.readers) or row.sector
        fig = self._figures.get(row.source_figure)
        at = f"p.{fig.page}" if fig is not None else ""
        if language == "ja":
            head = (f"図表{row.source_figure}" + (f"（{at}）" if at else "") + f"の推奨閲覧箇所では、{row.sector}の{row.role}"
                    f"（{who}）には次の順に読むことを勧めています" + ("[1]。" if citations else "。"))
            body = [f"{s.order}. {s.heading}（p.{s.pages[0]}〜）" if s.pages else f"{s.order}. {s.heading}" for s in steps]
        else:
            # the figure's page and the reader in English on the first line; the guide's own words follow
            role, sector = ROLE_EN.get(row.role), SECTOR_EN.get(row.sector, row.sector)
            reader = f"{role} at {sector}" if role else sector
            # (the row's Japanese, which names the readers at length, on a line of its own: the first
            # line stays English)
            head = (f"Figure {row.source_figure}" + (f" ({at})" if at else "") + f" recommends this reading order for "
                    f"{reader}" + ("[1]:" if citations else ":")
                    + f"\n(「{' '.join(x for x in (row.sector, row.role) if x.strip('—'))}」: {who})")
            body = [f"{s.order}. {s.heading} (from p.{s.pages[0]})" if s.pages else f"{s.order}. {s.heading}" for s in steps]
        return Draft("\n".join([head] + body), citations, reading_path=steps,
                     reason=f"図表{row.source_figure}の行: {row.sector}/{row.role}/{who}")
