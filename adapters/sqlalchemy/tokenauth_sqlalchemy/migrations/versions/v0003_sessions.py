"""Sessions: each token's client, User-Agent and last use; per-subject lock rows for caps.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Adds three nullable columns to ``<prefix>tokens`` (rows written before keep
NULL there: no client or User-Agent was recorded, no use yet) and the table
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
    tokens = f"{prefix}tokens"
    with op.batch_alter_table(tokens) as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("user_agent")
        batch.drop_column("client")
