"""Crash-safe publication of an index directory.

A build writes into a temp dir next to ``index_dir`` (same filesystem, so a
rename is atomic), then swaps it in:

* Linux: ``renameat2(RENAME_EXCHANGE)`` swaps the two directories in one
  atomic step — at every instant ``index_dir`` is either the complete old or
  the complete new index.
* elsewhere (or if the filesystem refuses): rename old → ``.<name>.old``, rename
  new → ``index_dir``. A crash between the two leaves no ``index_dir`` but an
  intact ``.old``; :func:`recover` (run before every load and build) puts it back.

A SIGKILL at any point therefore leaves the previous index loadable. Builds
hold an exclusive ``flock`` (on the parent directory) so two concurrent builds
cannot interleave.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _sibling(index_dir: Path, suffix: str) -> Path:
    return index_dir.with_name(f".{index_dir.name}.{suffix}")


def old_dir(index_dir: Path) -> Path:
    return _sibling(index_dir, "old")


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(directory: Path) -> None:
    """Flush every file of a freshly written index before it is published."""
    for p in directory.rglob("*"):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(directory)


def recover(index_dir: Path) -> None:
    """Undo a fallback swap interrupted between its two renames."""
    old = old_dir(index_dir)
    if not index_dir.exists() and old.is_dir():
        with contextlib.suppress(OSError):
            os.rename(old, index_dir)


def publish(new_dir: Path, index_dir: Path) -> None:
    """Make ``new_dir`` the index at ``index_dir``; the old one is removed."""
    parent = index_dir.parent
    if index_dir.exists():
        if _exchange(new_dir, index_dir):
            _fsync_dir(parent)
            shutil.rmtree(new_dir, ignore_errors=True)  # now holds the old index
            return
        old = old_dir(index_dir)
        shutil.rmtree(old, ignore_errors=True)
        os.rename(index_dir, old)
        os.rename(new_dir, index_dir)  # a crash just before this: recover() restores `old`
        _fsync_dir(parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new_dir, index_dir)
        _fsync_dir(parent)


def make_build_dir(index_dir: Path) -> Path:
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.tmp-", dir=index_dir.parent))
    # mkdtemp makes it 0700; the published index should get normal permissions.
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, racily)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def remove_stale_build_dirs(index_dir: Path) -> None:
    """Temp dirs of killed builds (safe: called while holding the build lock)."""
    for p in index_dir.parent.glob(f".{index_dir.name}.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    if index_dir.exists():
        shutil.rmtree(old_dir(index_dir), ignore_errors=True)


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive build lock (released by the OS if the process dies).

    flock on the parent directory itself: no lock file to leave behind next
    to the index (data/ is versioned). Builds of sibling indexes serialise,
    which is harmless.
    """
    parent = index_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
