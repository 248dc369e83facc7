"""The test API for gunicorn: ``gunicorn tests.wsgi.gunicorn_app:app``.

``TOKENAUTH_TEST_FRAMEWORK`` picks the flavour (wsgi, flask, django); the API
key made at start is written to ``TOKENAUTH_TEST_KEY_FILE`` for the test.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.wsgi.apps import BUILDERS, make_auth
from tokenauth import system_clock

auth = make_auth(clock=system_clock)
_key, _ = auth.create_api_key("alice", "deploy")
Path(os.environ["TOKENAUTH_TEST_KEY_FILE"]).write_text(_key)
app = BUILDERS[os.environ["TOKENAUTH_TEST_FRAMEWORK"]](auth)
