"""Files: everything the project writes that holds a secret or a hash is owner-only.

The threat: another local account (or a backup job, or a container sharing a
volume) reading password hashes, API-key digests, signing keys or the pepper.
Each file is created with mode 0600 whatever the process umask, here set to 0
so that the mode asked for at creation is the mode the file gets.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenauth import KeySet, open_store
from tokenauth.cli import main

pytest.importorskip("tokenauth_sqlalchemy")


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """Run with umask 0: a file not created 0600 on purpose comes out world-writable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cli(*argv: str, stdin: str = "") -> int:
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(list(argv))
    finally:
        sys.stdin = saved


def test_a_saved_key_set_is_owner_only(tmp_path: Path) -> None:
    """Private keys: ``KeySet.save`` and ``tokenauth keys generate``."""
    KeySet.generate("ES256").save(tmp_path / "a.json")
    assert _cli("keys", "generate", "--keys", str(tmp_path / "b.json")) == 0
    assert _mode(tmp_path / "a.json") == 0o600
    assert _mode(tmp_path / "b.json") == 0o600


def test_db_init_creates_the_sqlite_file_owner_only(tmp_path: Path) -> None:
    """``tokenauth db init`` on a new SQLite file: the file (and its WAL) are 0600."""
    db = tmp_path / "auth.db"
    url = f"sqlite:///{db}"
    assert _cli("db", "init", "--store", url) == 0
    assert _cli("users", "add", "alice", "--password-stdin", "--store", url, stdin="pw\n") == 0
    assert _mode(db) == 0o600
    for companion in tmp_path.glob("auth.db-*"):  # -wal, -shm, -journal while they exist
        assert _mode(companion) == 0o600, companion


def test_opening_a_sqlite_store_creates_it_owner_only(tmp_path: Path) -> None:
    """``open_store("sqlite:///...")`` on a missing file creates it 0600 before SQLite does."""
    db = tmp_path / "tokens.db"
    store = open_store(f"sqlite:///{db}")
    try:
        assert _mode(db) == 0o600
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def test_the_pepper_file_is_owner_only(tmp_path: Path) -> None:
    """The API-key pepper ``apikeys create --pepper-file`` creates is 0600."""
    db, pepper = tmp_path / "auth.db", tmp_path / "pepper"
    url = f"sqlite:///{db}"
    assert _cli("db", "init", "--store", url) == 0
    assert _cli("apikeys", "create", "svc", "--pepper-file", str(pepper), "--store", url) == 0
    assert _mode(pepper) == 0o600
    assert _mode(db) == 0o600
