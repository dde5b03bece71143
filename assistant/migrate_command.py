"""CLI: kanmin migrate — bring the state database to the newest schema, then exit.

Every replica also does this at start-up (Store's first use, under a lock), so this is optional:
it lets a deploy migrate once, before rolling replicas, and fail early on a bad database URL.
"""
from __future__ import annotations

import argparse


def cmd_migrate(args) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from assistant.store import Store
    from ingest.errors import KanminError
    from ingest.settings import get_settings

    store = Store.from_settings(get_settings())
    try:
        print(f"{store.dialect}: schema at revision {store.schema_version():04d}")
    except SQLAlchemyError as exc:  # one line, like every kanmin error; no URL (it may hold a password)
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        raise KanminError("database_unavailable", f"cannot migrate the {store.dialect} database: {reason}") from None
    finally:
        store.close()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="upgrade the state database (KANMIN_DATABASE_URL or the SQLite file) and exit")
    p.set_defaults(func=cmd_migrate)
