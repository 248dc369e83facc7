"""Run one page's code blocks in order, in a folder of its own.

Usage: ``python -m tests.docs.run_page PAGE DIR``.

Python blocks share one namespace and one event loop; ``file:`` blocks are
written into DIR; ``run`` shell blocks run there with bash. A failure prints the
page and line of the block (tracebacks point into the page itself) and exits 1.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import subprocess
import sys
import traceback
import types
import warnings
from pathlib import Path
from typing import Any

from tests.docs.markdown import PYTHON, SHELL, Block, blocks

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _compile(code: str, block: Block, line: int) -> Any:
    tree = ast.parse(code, str(block.page))
    ast.increment_lineno(tree, line)
    return compile(tree, str(block.page), "exec", flags=_FLAGS)


def _execute(code: str, block: Block, line: int, namespace: dict[str, Any], loop: Any) -> None:
    result = eval(_compile(code, block, line), namespace)  # noqa: S307 - the page's own example
    if inspect.iscoroutine(result):
        loop.run_until_complete(result)


def _shell(block: Block, folder: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in block.commands():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"{block.where}: command failed with exit code {done.returncode}:\n"
                f"$ {command}\n{done.stdout}{done.stderr}"
            )


def run(page: Path, folder: Path) -> None:
    """Run every block of ``page`` in ``folder``."""
    # An example that uses a name tokenauth has renamed, or that tokenauth warns
    # about (workers that cannot share keys), is an example to fix.
    warnings.filterwarnings("error", message=r".*tokenauth", category=DeprecationWarning)
    warnings.filterwarnings("error", category=RuntimeWarning, module=r"tokenauth")
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    # A real module, since frameworks look handlers' modules up in sys.modules.
    module = types.ModuleType("__docs__")
    module.__file__ = str(page)
    sys.modules[module.__name__] = module
    namespace: dict[str, Any] = module.__dict__
    loop = asyncio.new_event_loop()
    for block in blocks(page):
        if block.kind == "file":
            target = folder / block.arg
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code)
            if block.lang in PYTHON:
                _compile(block.code, block, block.line)
            continue
        if block.lang in SHELL:
            if block.kind == "run":
                _shell(block, folder)
            continue
        if block.lang not in PYTHON:
            continue
        if block.kind == "fragment":
            _compile(block.code, block, block.line)
            continue
        if block.kind == "setup":
            _execute(block.arg, block, block.line - 2, namespace, loop)
        _execute(block.code, block, block.line, namespace, loop)
    loop.close()


def main() -> None:
    page, folder = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    try:
        run(page, folder)
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
