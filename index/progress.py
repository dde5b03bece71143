"""Progress of a long step: a tqdm bar on a terminal, a few plain lines anywhere else.

A bar redrawn hundreds of times fills a log file (``make run > log``, systemd,
CI) with carriage returns; a log wants start, every ~10 %, done.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, desc: str, unit: str = "text", *, enabled: bool = True,
                 stream: TextIO | None = None, every: float = 0.1):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self._bar = None
        self._next_share = every
        self._every = every
        self._t0 = time.monotonic()
        if not self.enabled:
            return
        if _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream)
        else:
            self._say(f"{desc}: {total} {unit}s to go")

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        share = self.done / self.total
        if share >= self._next_share and self.done < self.total:
            self._say(f"{self.desc}: {int(share * 100)}% ({self.done}/{self.total})")
            while self._next_share <= share:
                self._next_share += self._every

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self._say(f"{self.desc}: done, {self.done} {self.unit}s in {time.monotonic() - self._t0:.1f}s")
        self.enabled = False

    def _say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
