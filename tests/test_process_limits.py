"""ui/http/process_limits.py: a `kanmin serve` worker's malloc arenas are capped.

The request-thread limit is checked on a real server under load (test_reliability_load.py)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

# Eight threads each allocate once; glibc's malloc_stats() then prints one "Arena N:" block per arena.
_PROBE = textwrap.dedent("""
    import ctypes, sys, threading
    from ui.http.process_limits import cap_malloc_arenas
    capped = cap_malloc_arenas(int(sys.argv[1]))
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    start = threading.Barrier(8)
    def grab():
        start.wait()
        libc.malloc(4096)
    threads = [threading.Thread(target=grab) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(capped, flush=True)
    libc.malloc_stats()
""")


def _arenas(cap: int) -> tuple[str, int]:
    p = subprocess.run([sys.executable, "-c", _PROBE, str(cap)], capture_output=True, text=True, cwd=str(ROOT),
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip(), sum(line.startswith("Arena ") for line in p.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc arenas are a Linux matter")
def test_malloc_arenas_are_capped():
    capped, arenas = _arenas(2)
    assert capped == "True"
    assert 1 <= arenas <= 2, arenas
    uncapped, default = _arenas(0)  # 0 = glibc's own default: one arena per thread here
    assert uncapped == "False"
    assert default > 2, default
