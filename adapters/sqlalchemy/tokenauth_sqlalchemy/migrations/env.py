"""Alembic environment for the adapter's own migrations.

Run through :func:`tokenauth_sqlalchemy.init_db` (or ``tokenauth db init --store
URL``), which passes the open connection and the
:class:`~tokenauth_sqlalchemy.Schema` in ``config.attributes``. Each schema keeps
its own version table (``<prefix>alembic_version``), so the adapter's history
never mixes with the application's own Alembic history in the same database.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    version_table=schema.version_table,
    # MySQL commits each DDL statement by itself; elsewhere the whole upgrade is atomic.
    transactional_ddl=None,
)
with context.begin_transaction():
    context.run_migrations(prefix=schema.prefix)
