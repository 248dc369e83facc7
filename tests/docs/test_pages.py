"""Every code block of README.md and docs/ runs as written, or says why it does not.

The convention is described in tests/docs/markdown.py and docs/contributing-docs.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown import (
    PAGES,
    PROSE,
    PYTHON,
    ROOT,
    SHELL,
    Block,
    DocsError,
    blocks,
    relative,
)

_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_PAGE_IDS = [relative(p) for p in PAGES]


def _problems(block: Block) -> list[str]:
    where = block.where
    if block.lang not in PYTHON | SHELL | PROSE:
        return [f"{where}: a fence without a known language ({block.lang or 'none'})"]
    if block.kind in {"fragment"} and not block.arg:
        return [f"{where}: a fragment needs a reason: <!-- docs: fragment: WHY -->"]
    if block.kind == "file" and not block.arg:
        return [f"{where}: name the file: <!-- docs: file: PATH -->"]
    if block.kind == "setup" and block.lang not in PYTHON:
        return [f"{where}: setup code goes before a Python block"]
    if block.lang in SHELL:
        if block.kind not in {"run", "exercised-by", "fragment", "file"}:
            return [
                f"{where}: command lines must be exercised: put <!-- docs: run --> before "
                "the block, or <!-- docs: exercised-by: tests/PATH.py --> naming the test "
                "that runs them (it reads them with tests.docs.markdown.shell_commands)"
            ]
        if block.kind == "exercised-by":
            test = ROOT / block.arg
            if not test.is_file():
                return [f"{where}: {block.arg} does not exist"]
            if relative(block.page) not in test.read_text():
                return [f"{where}: {block.arg} does not read {relative(block.page)}"]
        if not block.commands() and block.kind != "file":
            return [f"{where}: a shell block with no command line; fence it as text"]
    if block.kind in {"run", "exercised-by"} and block.lang not in SHELL:
        return [f"{where}: {block.kind} is for shell blocks"]
    return []


@pytest.mark.parametrize("page", PAGES, ids=_PAGE_IDS)
def test_every_block_follows_the_convention(page: Path) -> None:
    """Each block has a known language; fragments give a reason; commands are exercised."""
    try:
        found = blocks(page)
    except DocsError as exc:
        pytest.fail(str(exc))
    problems = [p for block in found for p in _problems(block)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_PAGE_IDS)
def test_relative_links_resolve(page: Path) -> None:
    """A link to another file of the repository points at one that exists."""
    broken = []
    for match in _LINK.finditer(page.read_text()):
        target = match["target"].split("#", 1)[0]
        if not target or re.match(r"[a-z]+:", target):
            continue
        if not (page.parent / target).exists():
            broken.append(target)
    assert not broken, f"{relative(page)} links to missing files: {broken}"


def _runs_anything(page: Path) -> bool:
    try:
        found = blocks(page)
    except DocsError:
        return True  # run it, so that the failure shows
    return any(
        (b.lang in PYTHON and b.kind not in {"fragment", "file"}) or b.kind == "run" for b in found
    )


@pytest.mark.parametrize("page", [p for p in PAGES if _runs_anything(p)], ids=lambda p: relative(p))
def test_page_runs(page: Path, tmp_path: Path) -> None:
    """The page's Python blocks, in order, then its ``run`` commands, succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.docs.run_page", str(page), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
