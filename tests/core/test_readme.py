"""The README's embedding example runs and answers the contract as it claims."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs() -> None:
    """The example is under 20 lines and serves login, secured path and refusals."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no python example"
    code = blocks[0]
    assert len([line for line in code.splitlines() if line.strip()]) < 20
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    handle = namespace["handle"]
    basic = "Basic " + base64.b64encode(b"alice:correct horse battery staple").decode()
    status, headers, body = handle("/token", basic)
    assert status == 200
    assert ("Cache-Control", "no-store") in headers
    token = json.loads(body)["token"]
    assert handle("/me", f"Bearer {token}") == (
        200,
        [("Content-Type", "text/plain")],
        b"hello alice",
    )
    assert handle("/me", None, f"token={token}")[0] == 200
    status, headers, _ = handle("/me", None)
    assert status == 401
    assert ("WWW-Authenticate", 'Bearer realm="api"') in headers
    assert handle("/token", None)[0] == 400
    assert handle("/token", basic.replace("Y", "Z", 1))[0] in (400, 401)
