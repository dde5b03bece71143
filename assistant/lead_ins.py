"""Sentences that introduce what follows them (「以下の…」「次の7点」「3つの出口」): a quote
ending in one brings the items or the paragraph it introduces (Drafting._with_items)."""
from __future__ import annotations

import re

# a sentence that introduces the items after it
LEAD_IN = re.compile(r"(以下|次|下記)の|以下(を|に|が|は)|次のとおり|[0-9０-９一二三四五六七八九]+\s*(つ|点|種類|項目)|ポイント(として|は)")
FORWARD = re.compile(r"以下|次の|下記")
PARAGRAPH_CHARS = 400  # a forward lead-in brings the paragraph after it up to this length
