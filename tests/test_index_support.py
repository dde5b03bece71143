"""Shared, real fixtures for the tests/test_index_*.py modules.

The session's index is the one conftest.py builds at session start from the real guide into
the session's state dir (settings.index_dir); its embeddings sit in the session's cache
(settings.cache_dir), seeded from data/seed. Tests that damage or rebuild an index work on a copy.

Imported by the other test modules (`from test_index_support import ...`); the expensive
work is memoised at module level so it happens once per session.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KANMIN = str(Path(sys.executable).parent / "kanmin")


def make_settings(index_dir: Path, **overrides):
    from ingest.settings import Settings, get_settings

    base = get_settings()
    return Settings(index_dir=index_dir, cache_dir=overrides.pop("cache_dir", base.cache_dir), **overrides)


@lru_cache(maxsize=1)
def guide():
    from ingest import load_guide

    return load_guide()


def corpus() -> str:
    """The corpus id production uses (index.commands.corpus_id)."""
    from index.commands import corpus_id

    return corpus_id(guide())


def shared_index_dir() -> Path:
    """The session's real index (built once at session start; never modified by tests)."""
    from ingest.settings import get_settings

    return Path(get_settings().index_dir)


@lru_cache(maxsize=1)
def shared_retriever_obj():
    from index.loader import load_index

    g = guide()
    # As the assistant loads it: the guide's glossary and English aliases.
    return load_index(make_settings(shared_index_dir()), corpus_sha256=corpus(), glossary=g.glossary,
                      en_aliases=getattr(g, "en_aliases", None) or None)


def copy_index(dest_parent: Path) -> Path:
    """A private copy of the shared index (for tests that damage or rebuild it)."""
    dest = dest_parent / "index"
    shutil.copytree(shared_index_dir(), dest)
    return dest


def run_kanmin(*args: str, index_dir: Path, extra_env: dict[str, str] | None = None, input_text: str | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `kanmin` entry point (ui/cli/main.py) against ``index_dir``."""
    from ingest.settings import get_settings

    env = dict(os.environ)
    env.update({
        "KANMIN_INDEX_DIR": str(index_dir),
        "KANMIN_CACHE_DIR": str(get_settings().cache_dir),
        "HF_HUB_OFFLINE": "1",
        "PYTHONIOENCODING": "utf-8",
    })
    env.update(extra_env or {})
    return subprocess.run([KANMIN, *args], capture_output=True, text=True, env=env, cwd=str(ROOT),
                          timeout=timeout, input=input_text)


@pytest.fixture(scope="session")
def shared_retriever():
    return shared_retriever_obj()


@pytest.fixture(scope="session")
def real_guide():
    return guide()


def test_shared_index_is_built_from_the_real_guide():
    from index.manifest import read_manifest

    m = read_manifest(shared_index_dir())
    assert m.chunk_count == len(guide().chunks) > 100
    assert m.corpus_sha256 == corpus()
