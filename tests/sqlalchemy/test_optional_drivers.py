"""The adapter imports, and says what to install, when optional drivers are absent."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs in a child whose import system refuses every optional package, as on an
# installation without the extras.
CHILD = """
import importlib.abc, json, sys

BLOCKED = {"greenlet", "psycopg", "psycopg_binary", "pymysql", "asyncpg", "aiomysql", "aiosqlite"}

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, Absent())
from tokenauth import ConfigurationError, open_async_store, open_store
import tokenauth_sqlalchemy  # must import without any of them

store = open_store("sqlite://")
assert store.get("x") is None
store.close()
messages = {}
for url, opener in [
    ("postgresql://u@h/db", open_store),
    ("mysql://u@h/db", open_store),
    ("sqlite+aiosqlite://", open_async_store),
    ("postgresql+asyncpg://u@h/db", open_async_store),
    ("mysql+aiomysql://u@h/db", open_async_store),
]:
    try:
        opener(url)
    except ConfigurationError as exc:
        messages[url] = str(exc)
print(json.dumps(messages))
"""


def test_missing_drivers_name_their_extra() -> None:
    """Without drivers the package imports, SQLite works, and each URL names its pip install."""
    # The child is this interpreter running the fixed script above.
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout)
    assert "tokenauth-sqlalchemy[postgresql]" in messages["postgresql://u@h/db"]
    assert "tokenauth-sqlalchemy[mysql]" in messages["mysql://u@h/db"]
    for url in ("sqlite+aiosqlite://", "postgresql+asyncpg://u@h/db", "mysql+aiomysql://u@h/db"):
        assert "pip install 'tokenauth-sqlalchemy[async" in messages[url], messages[url]
