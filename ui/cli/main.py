"""The ``kanmin`` command. Each package contributes its subcommands via ``<pkg>.commands.register``."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from ingest.errors import KanminError

# Packages whose commands.py adds subcommands; eval and bench are optional layers on top.
COMMAND_MODULES = [
    "ingest.commands", "index.commands", "assistant.commands", "assistant.migrate_command", "ui.http.serve",
    "ui.cli.chat", "eval.commands",
    "eval.bench_commands", "eval.seed_command",
]


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (like every other kanmin error), not a usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"kanmin: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="kanmin", description="官民連携 practice-guide assistant (offline)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a layer not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KanminError as exc:
        print(f"kanmin: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
