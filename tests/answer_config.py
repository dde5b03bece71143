"""Answer composition tested apart from the lead ranker's choice of lead."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager


@contextmanager
def answer_config(assistant, **changes):
    """The assistant answers with these AnswerConfig fields changed inside the block (a rule off,
    to show what it does), and as before after it, whatever the block raised."""
    cfg = assistant.answer_cfg
    assistant.answer_cfg = dataclasses.replace(cfg, **changes)
    try:
        yield assistant
    finally:
        assistant.answer_cfg = cfg


def hand_weighted(assistant):
    """The hand-weighted sentence order (no lead ranker, ``lead_top=0``) inside the block: a test of a
    composition rule (a lead's window, a list under its heading, the parts' order) keeps its example
    whichever sentence a refitted ranker puts first; the ranker's own effect is tested in
    tests/test_lead_ranker.py."""
    return answer_config(assistant, lead_top=0)
