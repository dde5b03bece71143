"""The one way a printed-page label is written, in every front door (CLI, API answer text, Slack,
web UI): p.94 for one page, pp.94–95 (en dash) for a range."""
from __future__ import annotations

from typing import Iterable


def page_label(pages: Iterable[int], empty: str = "") -> str:
    """``[94]`` → p.94; ``[94, 95]`` or the span ``(94, 95)`` → pp.94–95; nothing → ``empty``.
    A list of pages is shown as the span it covers: citations never skip a page in between."""
    pages = [int(p) for p in pages]
    if not pages:
        return empty
    first, last = min(pages), max(pages)
    return f"p.{first}" if first == last else f"pp.{first}–{last}"
