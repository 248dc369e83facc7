"""Our tokens are RFC 9068 access tokens, as an independent validator judges them.

The judge is ``validateJwtAccessToken`` of the npm package ``oauth4webapi``
(pinned in ``tests/core/rfc9068/package-lock.json``), run by Node.js: it checks
``typ: at+jwt``, the required claims (``iss``, ``exp``, ``aud``, ``sub``,
``iat``, ``jti``, ``client_id``), the issuer, the audience and the signature
against the JWKS we publish. ``npm ci`` installs it when it is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.services import unavailable
from tokenauth import DEFAULT_AUDIENCE, DEFAULT_ISSUER, JWTIssuer, KeySet, Principal

CHECKER = Path(__file__).parent / "rfc9068"


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with oauth4webapi installed next to the checker."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable(
            "Node.js", "node and npm are needed to run oauth4webapi (apt install nodejs npm)"
        )
    if not (CHECKER / "node_modules" / "oauth4webapi").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=CHECKER, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            unavailable("oauth4webapi", f"npm ci failed: {done.stderr.strip()[-500:]}")
    return node


def judge(node: str, *, issuer: str, audience: str, keys: KeySet, tokens: list[str]) -> Any:
    document = {"issuer": issuer, "audience": audience, "jwks": keys.jwks(), "tokens": tokens}
    done = subprocess.run(
        [node, "check.mjs"], cwd=CHECKER, input=json.dumps(document), capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_oauth4webapi_accepts_our_tokens(node: str, alg: str) -> None:
    """Default settings and configured ones: every token passes the independent check."""
    keys = KeySet.generate(alg)  # type: ignore[arg-type]
    now = int(time.time())
    alice = Principal("alice", "password", scope=("read", "admin"))
    default = JWTIssuer(keys).issue(alice, now=now)
    configured = JWTIssuer(
        keys, issuer="https://auth.example", audience="https://api.example", client_id="web",
        extra_claims=lambda p: {"roles": ["admin"], "tenant": {"id": 7}},
    ).issue(Principal("billing", "api_key", "k1"), now=now)  # fmt: skip
    first = judge(
        node, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, keys=keys, tokens=[default.token]
    )
    second = judge(
        node, issuer="https://auth.example", audience="https://api.example", keys=keys,
        tokens=[configured.token],
    )  # fmt: skip
    assert [r["ok"] for r in first + second] == [True, True], first + second
    assert first[0]["claims"] == default.claims.to_json()
    assert second[0]["claims"]["client_id"] == "web"
    assert second[0]["claims"]["tenant"] == {"id": 7}


def test_oauth4webapi_is_a_real_judge(node: str) -> None:
    """The checker refuses what it should: another audience, another issuer, another key."""
    keys = KeySet.generate("ES256")
    token = JWTIssuer(keys).issue(Principal("alice", "password"), now=int(time.time())).token
    verdicts = [
        judge(node, issuer=DEFAULT_ISSUER, audience="elsewhere", keys=keys, tokens=[token]),
        judge(node, issuer="https://other", audience=DEFAULT_AUDIENCE, keys=keys, tokens=[token]),
        judge(
            node, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE,
            keys=KeySet.generate("ES256"), tokens=[token],
        ),
    ]  # fmt: skip
    assert [v[0]["ok"] for v in verdicts] == [False, False, False], verdicts
