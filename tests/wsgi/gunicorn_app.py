"""The test API for gunicorn: ``gunicorn tests.wsgi.gunicorn_app:app``.

``TOKENAUTH_TEST_FRAMEWORK`` picks the flavour (wsgi, flask, django); the API
key made at start is written to ``TOKENAUTH_TEST_KEY_FILE`` for the test; the
tokens go to the store at ``TOKENAUTH_TEST_STORE`` when it is set (in memory else).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.wsgi.apps import BUILDERS, make_auth
from tokenauth import open_store, system_clock

_store_url = os.environ.get("TOKENAUTH_TEST_STORE")
auth = make_auth(store=open_store(_store_url) if _store_url else None, clock=system_clock)
_key, _ = auth.create_api_key("alice", "deploy")
Path(os.environ["TOKENAUTH_TEST_KEY_FILE"]).write_text(_key)
app = BUILDERS[os.environ["TOKENAUTH_TEST_FRAMEWORK"]](auth)
