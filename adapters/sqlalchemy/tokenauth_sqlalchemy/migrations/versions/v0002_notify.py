"""PostgreSQL: every write to the tokens table is announced with NOTIFY.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

A trigger on ``<prefix>tokens`` sends ``pg_notify('<prefix>tokens', ...)`` for
each row inserted, updated or deleted (payload ``j:<jti>``) and for a TRUNCATE
(payload ``*``), whoever writes: the stores, ``tokenauth tokens revoke``, or an
administrator in ``psql``. PostgreSQL delivers a notification when, and only
if, its transaction commits, in commit order. The PostgreSQL local view
(``local_view=true``) listens on that channel. Other databases are untouched.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(prefix: str) -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    # The prefix is a checked identifier (lowercase letters, digits, underscores).
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {prefix}tokens_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify(TG_ARGV[0], '*');
                RETURN NULL;
            END IF;
            IF TG_OP <> 'INSERT' THEN
                PERFORM pg_notify(TG_ARGV[0], 'j:' || OLD.jti);
            END IF;
            IF TG_OP <> 'DELETE' THEN
                PERFORM pg_notify(TG_ARGV[0], 'j:' || NEW.jti);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {prefix}tokens_notify AFTER INSERT OR UPDATE OR DELETE "
        f"ON {prefix}tokens FOR EACH ROW EXECUTE FUNCTION {prefix}tokens_notify('{prefix}tokens')"
    )
    op.execute(
        f"CREATE TRIGGER {prefix}tokens_notify_truncate AFTER TRUNCATE "
        f"ON {prefix}tokens FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {prefix}tokens_notify('{prefix}tokens')"
    )


def downgrade(prefix: str) -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {prefix}tokens_notify_truncate ON {prefix}tokens")
    op.execute(f"DROP TRIGGER IF EXISTS {prefix}tokens_notify ON {prefix}tokens")
    op.execute(f"DROP FUNCTION IF EXISTS {prefix}tokens_notify()")
