"""What one process writes, a new process pointed at the same database reads."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.sqlalchemy.conftest import Db
from tokenauth import ApiKeyRecord, TokenRecord, UserRecord, open_store
from tokenauth_sqlalchemy import SQLApiKeyRegistry, SQLUserRegistry

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"

# Run in a child process: write through one set of objects, or read and print.
CHILD = """
import json, sys
from tokenauth import ApiKeyRecord, TokenRecord, UserRecord, open_store
from tokenauth_sqlalchemy import SQLApiKeyRegistry, SQLUserRegistry

url, action = sys.argv[1], sys.argv[2]
store = open_store(url)
users = SQLUserRegistry.from_url(url)
keys = SQLApiKeyRegistry.from_url(url)
try:
    if action == "write":
        store.add(TokenRecord("child-jti", "Zoë", 1000, 9_000_000_000, "api_key", "child-key"))
        users.add_user(UserRecord("Zoë", sys.argv[3], 1000, scope=("read", "write")))
        keys.add_key(ApiKeyRecord("child-key", "Zoë", "cron", "ab" * 32, 1000))
    else:
        token = store.get("parent-jti")
        user = users.get_user("用户")
        key = keys.find_by_digest("cd" * 32)
        print(json.dumps([token.subject, user.scope, key.key_id, key.revoked_at]))
finally:
    store.close()
    users.close()
    keys.close()
"""


def _child(*args: str) -> str:
    # The child is this interpreter running the fixed script above.
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("db", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_records_survive_the_process(db: Db) -> None:
    """Tokens, users and keys written by a child are read here, and the other way round."""
    _child(db.url, "write", HASH)
    store = open_store(db.url)
    users = SQLUserRegistry.from_url(db.url)
    keys = SQLApiKeyRegistry.from_url(db.url)
    try:
        assert store.get("child-jti") == TokenRecord(
            "child-jti", "Zoë", 1000, 9_000_000_000, "api_key", "child-key"
        )
        assert users.get_user("Zoë") == UserRecord("Zoë", HASH, 1000, scope=("read", "write"))
        assert users.get_user("Zoe") is None
        assert keys.get_key("child-key") == ApiKeyRecord(
            "child-key", "Zoë", "cron", "ab" * 32, 1000
        )

        now = int(time.time())
        store.add(TokenRecord("parent-jti", "用户", now, now + 60, "password"))
        users.add_user(UserRecord("用户", HASH, now, scope=("admin",)))
        keys.add_key(ApiKeyRecord("parent-key", "用户", "", "cd" * 32, now))
        assert keys.revoke_key("parent-key", now)
    finally:
        store.close()
        users.close()
        keys.close()
    assert json.loads(_child(db.url, "read")) == ["用户", ["admin"], "parent-key", now]
