"""The command line: `kanmin` (every package's commands) and `kanmin chat`."""
from ui.cli.main import main

__all__ = ["main"]
