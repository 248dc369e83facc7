"""Dependencies point inward: nothing in the core imports an adapter (``tokenauth_*``)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import tokenauth

CORE = Path(tokenauth.__file__).resolve().parent

# Imports the core and every one of its modules, builds the command's parser with no
# plug-in commands installed (plug-ins are loaded by design: the ASGI adapter's `demo`),
# then reports which modules were loaded.
PROBE = """
import importlib, json, pkgutil, sys
import tokenauth
for info in pkgutil.walk_packages(tokenauth.__path__, "tokenauth."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
import tokenauth.cli
tokenauth.cli.entry_points = lambda **kwargs: []
tokenauth.cli.build_parser()
print(json.dumps(sorted(sys.modules)))
"""


def _adapter(module: str) -> bool:
    return module.split(".")[0].startswith("tokenauth_")


def test_importing_every_core_module_loads_no_adapter() -> None:
    """Importing all of ``tokenauth`` and building its command's parser loads no adapter."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(result.stdout)
    assert "tokenauth.cli._tokens" in loaded
    assert [m for m in loaded if _adapter(m)] == []


def _imported_names(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def test_no_core_source_names_an_adapter_in_an_import() -> None:
    """No ``import``, ``from ... import`` or ``import_module("...")`` in the core names one."""
    sources = sorted(CORE.rglob("*.py"))
    assert CORE / "cli" / "__init__.py" in sources
    found = {
        str(path.relative_to(CORE)): [n for n in _imported_names(ast.parse(path.read_text()))
                                      if _adapter(n)]
        for path in sources
    }  # fmt: skip
    assert {path: names for path, names in found.items() if names} == {}


def test_the_static_check_sees_each_kind_of_import() -> None:
    """The check above can fail: it finds an adapter in every form of import."""
    code = (
        "import tokenauth_asgi\n"
        "from tokenauth_redis._store import X\n"
        "importlib.import_module('tokenauth_wsgi')\n"
        "__import__('tokenauth_sqlalchemy')\n"
        "from . import _near\n"
    )
    names = _imported_names(ast.parse(code))
    assert [n for n in names if _adapter(n)] == [
        "tokenauth_asgi", "tokenauth_redis._store", "tokenauth_wsgi", "tokenauth_sqlalchemy",
    ]  # fmt: skip
