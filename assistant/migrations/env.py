"""Alembic environment: online migrations on the connection the store hands over.

``Store`` runs ``alembic upgrade head`` itself at start-up (assistant/store.py, under a lock:
SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``pg_advisory_xact_lock``) and passes its connection in
``config.attributes["connection"]``. Without one (the ``alembic`` command line with a config
naming ``script_location = assistant:migrations``), the engine comes from the settings
(``KANMIN_DATABASE_URL`` / ``KANMIN_DB_PATH``).
"""
from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")


def _run(conn) -> None:
    context.configure(connection=conn, target_metadata=None,
                      render_as_batch=conn.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - `alembic upgrade --sql`
    raise SystemExit("offline (--sql) migrations are not supported; run them against the database")
elif connection is not None:
    _run(connection)
else:  # pragma: no cover - command-line use
    from assistant.store import make_engine
    from ingest.settings import get_settings

    engine = make_engine(get_settings())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()
