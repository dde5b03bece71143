"""Alembic migrations of the state store (assistant/store.py runs them at start-up)."""
