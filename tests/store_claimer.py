"""A separate process claiming Slack event ids through its own Store (tests/test_store.py).

Usage: python store_claimer.py <sqlite path | postgresql url> <go-file> <n ids>
Waits until <go-file> exists (so both claimers start together), claims ev0..ev<n-1> in order and
prints the ids it won, one per line.
"""
from __future__ import annotations

import os
import sys
import time

from assistant.store import Store


def main() -> None:
    target, go, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store(url=target) if "://" in target else Store(target)
    store.feedback_rows()  # connect and migrate before the start line
    print("ready", flush=True)
    deadline = time.monotonic() + 300
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.001)
    won = [f"ev{i}" for i in range(n) if not store.seen_event(f"ev{i}")]
    store.close()
    print("\n".join(won), flush=True)


if __name__ == "__main__":
    main()
