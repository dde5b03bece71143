"""The state schema: answers (sessions), feedback, feedback votes, Slack event claims.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Adopts a SQLite file written before Alembic (its tables are the same, so existing ones are
kept as they are, rows and all) and drops that file's hand-kept ``schema_version`` table.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    insp = sa.inspect(op.get_bind())
    tables = set(insp.get_table_names())

    def has_index(table: str, name: str) -> bool:
        return any(ix["name"] == name for ix in insp.get_indexes(table)) if table in tables else False

    if "answers" not in tables:
        op.create_table(
            "answers",
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("id", sa.Text, nullable=False, unique=True),
            sa.Column("session_id", sa.Text),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("resolved_question", sa.Text),
            sa.Column("answer", sa.Text, nullable=False),
            sa.Column("route", sa.Text, nullable=False),
            sa.Column("persona", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False, server_default=sa.text("'api'")),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("json", sa.Text, nullable=False),
            sqlite_autoincrement=True,
        )
    if not has_index("answers", "answers_session"):
        op.create_index("answers_session", "answers", ["session_id", "seq"])
    if "feedback" not in tables:
        op.create_table(
            "feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("answer_id", sa.Text, nullable=False),
            sa.Column("rating", sa.Text, nullable=False),
            sa.Column("comment", sa.Text),
            sa.Column("source", sa.Text, nullable=False, server_default=sa.text("'api'")),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.CheckConstraint("rating IN ('up', 'down')", name="feedback_rating"),
            sqlite_autoincrement=True,
        )
    if not has_index("feedback", "feedback_answer"):
        op.create_index("feedback_answer", "feedback", ["answer_id"])
    if "seen_events" not in tables:
        op.create_table(
            "seen_events",
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("created_at", sa.Text, nullable=False),
        )
    if "feedback_votes" not in tables:
        op.create_table(
            "feedback_votes",
            sa.Column("answer_id", sa.Text, primary_key=True),
            sa.Column("voter", sa.Text, primary_key=True),
            sa.Column("feedback_id", sa.Integer, nullable=False),
        )
    if "schema_version" in tables:  # the pre-Alembic file's hand-kept version (always 1)
        op.drop_table("schema_version")


def downgrade() -> None:
    for table in ("feedback_votes", "seen_events", "feedback", "answers"):
        op.drop_table(table)
