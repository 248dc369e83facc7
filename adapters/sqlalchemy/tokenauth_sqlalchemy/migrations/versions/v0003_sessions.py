"""Login counters; sessions: each token's client, User-Agent and last use; per-subject locks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``<prefix>login_counters`` holds one fixed window per counter key (a digest
of a username, or a client address): its failed logins and when it ends.
``tokenauth_sqlalchemy.SQLCounters`` counts with one UPSERT per login and
purges ended windows as it goes.

Three nullable columns on ``<prefix>tokens`` (rows written before keep NULL
there: no client or User-Agent was recorded, no use yet), and the table
``<prefix>token_subjects``, whose row for a subject a capped login
(``max_tokens_per_subject``) locks while it counts and adds that subject's tokens.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tokenauth_sqlalchemy._schema import Ident

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(prefix: str) -> None:
    op.create_table(
        f"{prefix}login_counters",
        sa.Column("name", Ident(128), primary_key=True),
        sa.Column("hits", sa.BigInteger, nullable=False),
        sa.Column("resets_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        comment="tokenauth: login-throttle windows by counter key (no secrets)",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(f"{prefix}login_counters_resets_idx", f"{prefix}login_counters", ["resets_at"])
    tokens = f"{prefix}tokens"
    op.add_column(
        tokens, sa.Column("client", Ident(64), nullable=True, comment="client address at login")
    )
    op.add_column(
        tokens,
        sa.Column("user_agent", Ident(256), nullable=True, comment="sanitized User-Agent"),
    )
    op.add_column(
        tokens, sa.Column("last_used_at", sa.BigInteger, nullable=True, comment="Unix seconds, UTC")
    )
    op.create_table(
        f"{prefix}token_subjects",
        sa.Column("subject", Ident(255), primary_key=True),
        sa.Column("locked_at", sa.BigInteger, nullable=True, comment="Unix seconds, UTC"),
        comment="tokenauth: one row per subject, locked by a capped login while it counts",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )


def downgrade(prefix: str) -> None:
    op.drop_table(f"{prefix}token_subjects")
    with op.batch_alter_table(f"{prefix}tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("user_agent")
        batch.drop_column("client")
    op.drop_table(f"{prefix}login_counters")
