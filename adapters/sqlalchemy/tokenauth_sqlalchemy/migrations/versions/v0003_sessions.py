"""Login counters; each token's client, User-Agent and last use; per-subject locks; refresh.

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

For refresh tokens: ``<prefix>tokens.session`` (nullable: tokens from before,
and every token while refresh tokens are off, have none) with its index, and
two tables: ``<prefix>sessions`` (one row per login session, locked by a
rotation and by the session's revocation so that they never interleave) and
``<prefix>refresh_tokens`` (HMAC digests of refresh tokens, never the tokens).
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
    _upgrade_sessions(prefix)


def _upgrade_sessions(prefix: str) -> None:
    op.add_column(
        f"{prefix}tokens",
        sa.Column("session", Ident(64), nullable=True, comment="the login session, if any"),
    )
    op.create_index(f"{prefix}tokens_session_idx", f"{prefix}tokens", ["session"])
    op.create_table(
        f"{prefix}sessions",
        sa.Column("session", Ident(64), primary_key=True),
        sa.Column("subject", Ident(255), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("api_key_id", Ident(64), nullable=True),
        sa.Column("scope", sa.Text, nullable=False, comment="space-separated scope tokens"),
        sa.Column("auth_time", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("expires_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.CheckConstraint(
            "method IN ('password', 'api_key')", name=f"{prefix}sessions_method_check"
        ),
        comment="tokenauth: login sessions of refresh tokens, by id",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(f"{prefix}sessions_subject_idx", f"{prefix}sessions", ["subject"])
    op.create_index(f"{prefix}sessions_expires_idx", f"{prefix}sessions", ["expires_at"])
    op.create_table(
        f"{prefix}refresh_tokens",
        sa.Column("digest", Ident(64), primary_key=True),
        sa.Column("session", Ident(64), nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("expires_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("used", sa.Boolean, nullable=False),
        comment="tokenauth: refresh tokens by HMAC digest (never the token)",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(f"{prefix}refresh_tokens_session_idx", f"{prefix}refresh_tokens", ["session"])
    op.create_index(
        f"{prefix}refresh_tokens_expires_idx", f"{prefix}refresh_tokens", ["expires_at"]
    )


def downgrade(prefix: str) -> None:
    op.drop_table(f"{prefix}refresh_tokens")
    op.drop_table(f"{prefix}sessions")
    op.drop_index(f"{prefix}tokens_session_idx", table_name=f"{prefix}tokens")
    op.drop_table(f"{prefix}token_subjects")
    with op.batch_alter_table(f"{prefix}tokens") as batch:
        batch.drop_column("session")
        batch.drop_column("last_used_at")
        batch.drop_column("user_agent")
        batch.drop_column("client")
    op.drop_table(f"{prefix}login_counters")
