"""Initial schema: tokens, users and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

A migration is a frozen snapshot: it spells its tables out rather than reading
``Schema``, so later changes to ``Schema`` come with a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tokenauth_sqlalchemy._schema import Ident

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(prefix: str) -> None:
    op.create_table(
        f"{prefix}tokens",
        sa.Column("jti", Ident(64), primary_key=True),
        sa.Column("subject", Ident(255), nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("expires_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("api_key_id", Ident(64), nullable=True),
        sa.CheckConstraint(
            "method IN ('password', 'api_key')", name=f"{prefix}tokens_method_check"
        ),
        comment="tokenauth: issued tokens by jti (never the token itself)",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(
        f"{prefix}tokens_subject_issued_idx", f"{prefix}tokens", ["subject", "issued_at"]
    )
    op.create_index(f"{prefix}tokens_expires_idx", f"{prefix}tokens", ["expires_at"])
    op.create_table(
        f"{prefix}users",
        sa.Column("username", Ident(255), primary_key=True),
        sa.Column("password_hash", Ident(512), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("scope", sa.Text, nullable=False, comment="space-separated scope tokens"),
        comment="tokenauth: users by username, with argon2id password hashes",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_table(
        f"{prefix}api_keys",
        sa.Column("key_id", Ident(64), primary_key=True),
        sa.Column("subject", Ident(255), nullable=False),
        sa.Column("name", Ident(255), nullable=False),
        sa.Column("digest", Ident(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False, comment="Unix seconds, UTC"),
        sa.Column("last_used_at", sa.BigInteger, nullable=True, comment="Unix seconds, UTC"),
        sa.Column("revoked_at", sa.BigInteger, nullable=True, comment="Unix seconds, UTC"),
        sa.Column("scope", sa.Text, nullable=False, comment="space-separated scope tokens"),
        comment="tokenauth: API keys by id, with HMAC digests (never the key)",
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index(f"{prefix}api_keys_digest_key", f"{prefix}api_keys", ["digest"], unique=True)
    op.create_index(
        f"{prefix}api_keys_subject_created_idx", f"{prefix}api_keys", ["subject", "created_at"]
    )


def downgrade(prefix: str) -> None:
    op.drop_table(f"{prefix}api_keys")
    op.drop_table(f"{prefix}users")
    op.drop_table(f"{prefix}tokens")
