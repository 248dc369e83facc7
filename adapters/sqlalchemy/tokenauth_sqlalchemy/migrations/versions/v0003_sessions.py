"""Login counters for the login throttle.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``<prefix>login_counters`` holds one fixed window per counter key (a digest
of a username, or a client address): its failed logins and when it ends.
``tokenauth_sqlalchemy.SQLCounters`` counts with one UPSERT per login and
purges ended windows as it goes.
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


def downgrade(prefix: str) -> None:
    op.drop_table(f"{prefix}login_counters")
