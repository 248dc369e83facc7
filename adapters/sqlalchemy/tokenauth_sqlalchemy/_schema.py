"""The tables: tokens, users, API keys, login counters and refresh sessions, under a prefix.

Every identifier column compares and sorts by code point on every backend,
so ``Zoë`` and ``Zoe``, or ``alice`` and ``alice `` (trailing space), are
different users: PostgreSQL columns use the ``"C"`` collation, MySQL and
MariaDB columns use a binary collation without PAD SPACE, and SQLite compares
bytes already. Times are Unix seconds (UTC by definition) in BIGINT columns, so
they round-trip exactly and compare without time-zone surprises.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from tokenauth import ConfigurationError

__all__ = ["DEFAULT_PREFIX", "Schema"]

#: The prefix of every table, index and the migration version table by default.
DEFAULT_PREFIX = "tokenauth_"

# Short enough that the longest derived name ("<prefix>api_keys_subject_created_idx",
# 31 more characters) stays under MySQL's 64-character identifier limit.
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,31}")


class Ident(TypeDecorator[str]):
    """A VARCHAR of ``length`` characters that compares by code point everywhere.

    Every such column is utf8mb4 on MySQL and MariaDB, ASCII ids and digests
    included: comparing an ``ascii`` column with a non-ASCII parameter is an
    error there ("Illegal mix of collations"), where it must simply match nothing.

    Args:
        length: The longest value, in characters.
    """

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        """Create the type; see the class docstring."""
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the column type with a code-point collation for ``dialect``."""
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects import mysql

            # utf8mb4_bin pads with spaces on comparison ('a' = 'a '); the NO PAD
            # binary collations do not. MariaDB names it utf8mb4_nopad_bin, MySQL 8
            # utf8mb4_0900_bin.
            is_mariadb = bool(getattr(dialect, "is_mariadb", False))
            version = dialect.server_version_info or (0,)
            if is_mariadb:
                collation = "utf8mb4_nopad_bin"
            elif version >= (8,):
                collation = "utf8mb4_0900_bin"
            else:
                collation = "utf8mb4_bin"
            return dialect.type_descriptor(
                mysql.VARCHAR(self.length, charset="utf8mb4", collation=collation)
            )
        if dialect.name == "postgresql":
            return dialect.type_descriptor(String(self.length, collation="C"))
        return dialect.type_descriptor(String(self.length))


class Schema:
    """The adapter's tables on a :class:`~sqlalchemy.MetaData`, named with a prefix.

    Pass your own ``metadata`` to merge the tables into your application's schema
    (and its Alembic autogenerate); otherwise a new one is made.

    Args:
        prefix: Lowercase letters, digits and underscores, starting with a letter,
            at most 32 characters; prepended to every table and index name.
        metadata: The MetaData to define the tables on.

    Attributes:
        metadata: The MetaData holding the tables.
        tokens: Issued-token records, by ``jti``.
        users: Users who log in with a password, by username.
        api_keys: API keys, by id and by digest.
        login_counters: Failed-login counters of the login throttle, by key (a
            digest of a username, or a client address; never a secret).
        sessions: Login sessions of refresh tokens, by id.
        refresh_tokens: Refresh tokens, by digest.
        token_subjects: A row per subject that a capped login locks while it
            counts the subject's tokens (``max_tokens_per_subject``).
        version_table: The name of this schema's Alembic version table.

    Raises:
        ConfigurationError: The prefix is not a valid identifier prefix.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX, *, metadata: MetaData | None = None) -> None:
        """Define the tables; see the class docstring."""
        if not _PREFIX.fullmatch(prefix):
            raise ConfigurationError(
                "table_prefix must be 1 to 32 lowercase letters, digits or underscores, "
                f"starting with a letter, not {prefix!r}"
            )
        self.prefix = prefix
        self.metadata = metadata if metadata is not None else MetaData()
        self.version_table = f"{prefix}alembic_version"
        self.tokens = Table(
            f"{prefix}tokens",
            self.metadata,
            Column("jti", Ident(64), primary_key=True),
            Column("subject", Ident(255), nullable=False),
            Column("issued_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("expires_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("method", String(16), nullable=False),
            Column("api_key_id", Ident(64), nullable=True),
            Column("client", Ident(64), nullable=True, comment="client address at login"),
            Column("user_agent", Ident(256), nullable=True, comment="sanitized User-Agent"),
            Column("last_used_at", BigInteger, nullable=True, comment="Unix seconds, UTC"),
            Column("session", Ident(64), nullable=True, comment="the login session, if any"),
            CheckConstraint(
                "method IN ('password', 'api_key')", name=f"{prefix}tokens_method_check"
            ),
            Index(f"{prefix}tokens_subject_issued_idx", "subject", "issued_at"),
            Index(f"{prefix}tokens_expires_idx", "expires_at"),
            Index(f"{prefix}tokens_session_idx", "session"),
            comment="tokenauth: issued tokens by jti (never the token itself)",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )
        self.users = Table(
            f"{prefix}users",
            self.metadata,
            Column("username", Ident(255), primary_key=True),
            Column("password_hash", Ident(512), nullable=False),
            Column("created_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("disabled", Boolean, nullable=False),
            Column("scope", Text, nullable=False, comment="space-separated scope tokens"),
            comment="tokenauth: users by username, with argon2id password hashes",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )
        self.api_keys = Table(
            f"{prefix}api_keys",
            self.metadata,
            Column("key_id", Ident(64), primary_key=True),
            Column("subject", Ident(255), nullable=False),
            Column("name", Ident(255), nullable=False),
            Column("digest", Ident(64), nullable=False),
            Column("created_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("last_used_at", BigInteger, nullable=True, comment="Unix seconds, UTC"),
            Column("revoked_at", BigInteger, nullable=True, comment="Unix seconds, UTC"),
            Column("scope", Text, nullable=False, comment="space-separated scope tokens"),
            Index(f"{prefix}api_keys_digest_key", "digest", unique=True),
            Index(f"{prefix}api_keys_subject_created_idx", "subject", "created_at"),
            comment="tokenauth: API keys by id, with HMAC digests (never the key)",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )
        self.login_counters = Table(
            f"{prefix}login_counters",
            self.metadata,
            Column("name", Ident(128), primary_key=True),
            Column("hits", BigInteger, nullable=False),
            Column("resets_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Index(f"{prefix}login_counters_resets_idx", "resets_at"),
            comment="tokenauth: login-throttle windows by counter key (no secrets)",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )

        self.sessions = Table(
            f"{prefix}sessions",
            self.metadata,
            Column("session", Ident(64), primary_key=True),
            Column("subject", Ident(255), nullable=False),
            Column("method", String(16), nullable=False),
            Column("api_key_id", Ident(64), nullable=True),
            Column("scope", Text, nullable=False, comment="space-separated scope tokens"),
            Column("auth_time", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("expires_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            CheckConstraint(
                "method IN ('password', 'api_key')", name=f"{prefix}sessions_method_check"
            ),
            Index(f"{prefix}sessions_subject_idx", "subject"),
            Index(f"{prefix}sessions_expires_idx", "expires_at"),
            comment="tokenauth: login sessions of refresh tokens, by id",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )
        self.refresh_tokens = Table(
            f"{prefix}refresh_tokens",
            self.metadata,
            Column("digest", Ident(64), primary_key=True),
            Column("session", Ident(64), nullable=False),
            Column("issued_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("expires_at", BigInteger, nullable=False, comment="Unix seconds, UTC"),
            Column("used", Boolean, nullable=False),
            Index(f"{prefix}refresh_tokens_session_idx", "session"),
            Index(f"{prefix}refresh_tokens_expires_idx", "expires_at"),
            comment="tokenauth: refresh tokens by HMAC digest (never the token)",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )
        self.token_subjects = Table(
            f"{prefix}token_subjects",
            self.metadata,
            Column("subject", Ident(255), primary_key=True),
            Column("locked_at", BigInteger, nullable=True, comment="Unix seconds, UTC"),
            comment="tokenauth: one row per subject, locked by a capped login while it counts",
            mysql_charset="utf8mb4",
            mysql_engine="InnoDB",
        )

    @property
    def tables(self) -> list[Table]:
        """The adapter's tables, in creation order."""
        return [
            self.tokens,
            self.users,
            self.api_keys,
            self.login_counters,
            self.token_subjects,
            self.sessions,
            self.refresh_tokens,
        ]
