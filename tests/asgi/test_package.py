"""The binding's public surface, and its promise to import no framework."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import tokenauth_asgi


def test_exported_members_exist_and_public_names_are_exported() -> None:
    public = {
        name
        for name, value in vars(tokenauth_asgi).items()
        if not name.startswith("_") and name != "annotations" and not isinstance(value, ModuleType)
    }
    assert public == set(tokenauth_asgi.__all__)
    for name in tokenauth_asgi.__all__:
        assert hasattr(tokenauth_asgi, name), name


def test_the_binding_imports_with_no_framework_or_server_installed() -> None:
    blocked = ["starlette", "fastapi", "litestar", "uvicorn", "httpx", "anyio"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import tokenauth_asgi\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{blocked!r} and sys.modules[m] is not None))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
