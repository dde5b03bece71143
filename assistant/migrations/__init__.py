"""Alembic migrations of the state store (assistant/store.py runs them at start-up on a database
at an older revision; a new one is created at HEAD_REVISION directly)."""

# The newest revision in versions/. A new migration updates it together with the tables in
# assistant/store.py (tests/test_store.py checks both against Alembic's own view).
HEAD_REVISION = "0001"
