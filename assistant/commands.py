"""CLI: kanmin ask "<question>" | kanmin ask --batch FILE.jsonl --json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant import inputs
from ingest.errors import InvalidInput, KanminError
from ingest.commands import glossary_line
from ingest.page_labels import page_label


QUOTE_CHARS = 160  # a passage the answer names by page only is shown this far under its source


def _render(ans) -> str:
    lines = [ans.answer, ""]
    for c in ans.citations:
        lines.append(f"[{c.n}] {' > '.join(c.section_path)} ({page_label(c.pages)})")
        if c.quote and f"[{c.n}] {page_label(c.pages)}" in ans.answer:  # cited by number only: its text here
            shown = " ".join(c.quote.split())
            lines.append(f"    「{shown[:QUOTE_CHARS]}」" + ("…" if len(shown) > QUOTE_CHARS else ""))
    if ans.glossary:
        lines.append("")
        for g in ans.glossary:
            lines.append(f"用語: {glossary_line(g.model_dump())}")
    lines.append(f"\n(route: {ans.route} — {ans.route_reason})")
    return "\n".join(lines)


def cmd_ask(args) -> int:
    from assistant.container import get_container

    if args.batch:
        return _batch(Path(args.batch), args)
    if not args.question:
        raise InvalidInput("empty_question", "ask: give a question, or --batch FILE.jsonl")
    question = " ".join(args.question)
    inputs.check_question(question)  # a bad question fails before the models and index load (seconds)
    assistant = get_container().assistant
    ans = assistant.ask(question, persona=args.persona, session_id=args.session, mode=args.mode, source="cli")
    if args.json:
        sys.stdout.write(ans.model_dump_json() + "\n")
    else:
        print(_render(ans))
    return 0


def _batch(path: Path, args) -> int:
    from assistant.container import get_container

    if not path.is_file():
        raise InvalidInput("batch_missing", f"batch file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInput("batch_not_utf8", f"batch file is not UTF-8: {path}") from None
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput("batch_bad_json", f"{path.name}:{n}: invalid JSON ({exc.msg})") from None
        if not isinstance(item, dict) or "question" not in item:
            raise InvalidInput("batch_bad_item", f"{path.name}:{n}: each line needs an object with \"question\"")
        items.append((n, item))
    assistant = get_container().assistant
    for n, item in items:
        try:
            ans = assistant.ask(item["question"], persona=item.get("persona"), mode=args.mode,
                                session_id=item.get("session_id"), source="cli")
            # the caller's id stays "id" (lines must be attributable); the answer's own id is "answer_id"
            out = {**json.loads(ans.model_dump_json()), "id": item.get("id"), "answer_id": ans.id}
        except KanminError as exc:
            out = {"id": item.get("id"), "error": {"code": exc.code, "message": exc.message}}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="ask the guide a question")
    p.add_argument("question", nargs="*")
    p.add_argument("--persona", choices=["municipality", "startup", "intermediary", "any"])
    p.add_argument("--session", help="session id: follow-ups are resolved against its last turns")
    p.add_argument("--mode", choices=["extractive", "generative"])
    p.add_argument("--batch", help="JSONL file of {id, question, persona?}")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)
