"""The scheduled purge follows the stores' expiry rule: nothing inside MAX_LEEWAY goes."""

from __future__ import annotations

import time

import pytest

from tests.sqlalchemy.conftest import Db
from tokenauth import MAX_LEEWAY, TokenRecord, open_store
from tokenauth_sqlalchemy import purge_expired


def _expired(jti: str, ago: int) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(jti, "alice", now - ago - 600, now - ago, "password")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_default_purge_keeps_records_within_the_largest_leeway(db: Db) -> None:
    """Expired 2 s ago: kept (a front door may still accept it); past MAX_LEEWAY: purged."""
    store = open_store(db.url)
    try:
        recent, old = _expired("recent", 2), _expired("old", MAX_LEEWAY + 60)
        store.add(recent)
        store.add(old)
        assert purge_expired(db.url) == 1
        assert store.get("recent") == recent
        assert store.get("old") is None
    finally:
        store.close()
