"""CLI: kanmin chat — several questions in one process (models and index load once), one session
so follow-ups (「それの期限は？」) resolve against the previous turns. Ends on EOF or :q."""
from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass, field
from typing import TextIO

from assistant import inputs
from assistant.commands import _render as render_answer  # the one text form of an answer (kanmin ask)
from ingest.errors import InvalidInput, KanminError

QUIT = {":q", ":quit", ":exit"}
HELP = """commands: :q quit · :new new conversation · :history this conversation's questions · :help
anything else is a question; a follow-up (「それの期限は？」, "and for startups?") refers to the previous turn"""


@dataclass
class Chat:
    """One conversation: its session id and the questions asked so far (for :history)."""

    session_id: str
    persona: str | None = None
    mode: str | None = None
    turns: list[tuple[str, str]] = field(default_factory=list)  # (question, first line of the answer)

    @staticmethod
    def new_session() -> str:
        return f"cli-{uuid.uuid4().hex[:16]}"


def _read(stdin: TextIO, prompt: str) -> str | None:
    """One line, or None at EOF. A terminal gets a prompt and readline's line editing/history."""
    if stdin.isatty():
        try:
            return input(prompt)
        except EOFError:
            return None
    line = stdin.readline()
    return None if line == "" else line


def run(chat: Chat, stdin: TextIO, out: TextIO, err: TextIO, as_json: bool = False) -> int:
    assistant = None
    tty = stdin.isatty()
    if tty:
        try:
            import readline  # noqa: F401 - arrow keys and in-session history for input()
        except ImportError:
            pass
        print(f"kanmin chat (session {chat.session_id}) — :help for commands, :q to quit", file=err)
    while True:
        try:
            line = _read(stdin, "質問> ")
        except KeyboardInterrupt:  # Ctrl-C cancels the line being typed, as in a shell
            print(file=err)
            continue
        if line is None:
            return 0
        text = line.strip()
        if not text:
            continue
        if text in QUIT:
            return 0
        if text == ":help":
            print(HELP, file=err)
            continue
        if text == ":new":
            chat.session_id, chat.turns = Chat.new_session(), []
            print(f"new conversation (session {chat.session_id})", file=err)
            continue
        if text == ":history":
            for n, (q, a) in enumerate(chat.turns, 1):
                print(f"{n}. {q}\n   → {a}", file=out)
            continue
        try:
            inputs.check_question(text)  # a bad question fails before the models and index load
            if assistant is None:
                from assistant.container import get_container

                assistant = get_container().assistant
            ans = assistant.ask(text, persona=chat.persona, session_id=chat.session_id, mode=chat.mode,
                                source="cli")
        except KanminError as exc:
            if assistant is None and not isinstance(exc, InvalidInput):
                raise  # the index or models cannot load: no later question can be answered
            print(f"kanmin: error: {exc.message}", file=err)
            continue
        chat.turns.append((text, ans.answer.split("\n", 1)[0][:80]))
        if as_json:
            out.write(ans.model_dump_json() + "\n")
        else:
            if ans.resolved_question:
                print(f"(follow-up read as: {ans.resolved_question})", file=out)
            print(render_answer(ans) + "\n", file=out)
        out.flush()


def cmd_chat(args) -> int:
    session = inputs.check_session(args.session) or Chat.new_session()
    chat = Chat(session_id=session, persona=inputs.check_persona(args.persona), mode=inputs.check_mode(args.mode))
    return run(chat, sys.stdin, sys.stdout, sys.stderr, as_json=args.json)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="ask several questions in one conversation (follow-ups; :q or EOF ends)")
    p.add_argument("--persona", choices=["municipality", "startup", "intermediary", "any"])
    p.add_argument("--session", help="continue this session id (default: a new one)")
    p.add_argument("--mode", choices=["extractive", "generative"])
    p.add_argument("--json", action="store_true", help="one JSON answer per line")
    p.set_defaults(func=cmd_chat)
