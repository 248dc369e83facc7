"""Read the code blocks of README.md and docs/*.md, with the directives that say how each runs.

The convention (also in docs/contributing-docs.md):

- A fenced block in ``python`` runs, in order, in one namespace per page, in a
  fresh temporary folder that is the working directory. Top-level ``await``
  works (one event loop per page).
- A fenced block in ``sh`` or ``console`` is command lines (in ``console``,
  the lines after ``$ `` are commands and the rest is their output). Every such
  block carries a directive: ``run`` (the harness runs it in the page's folder,
  after the page's Python blocks, with the project's ``.venv/bin`` first on
  PATH) or ``exercised-by`` (a named test runs it, reading it from the page).
- Other fences (``text``, ``json``, ``toml``, ``ini``) are not code.
- Indented code blocks are not allowed: they have no language, so nothing
  could tell how to check them.

A directive is an HTML comment just before its block (invisible on the site):

    <!-- docs: fragment: REASON -->     compiled but not run; the reason is required
    <!-- docs: file: PATH -->           written to PATH in the page's folder, not run
    <!-- docs: setup: CODE -->          hidden Python run just before the block
    <!-- docs: run -->                  (shell) run by the harness
    <!-- docs: exercised-by: TEST -->   (shell) the test file TEST runs these lines
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The pages whose blocks are checked: the README and every page of the site.
PAGES: tuple[Path, ...] = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))

PYTHON = frozenset({"python", "py"})
SHELL = frozenset({"sh", "console", "bash", "shell"})
PROSE = frozenset({"text", "json", "toml", "ini", "yaml", "http", "jinja", "html"})
KINDS = frozenset({"fragment", "file", "setup", "run", "exercised-by"})

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_DIRECTIVE = re.compile(r"<!--\s*docs:\s*(?P<kind>[a-z-]+)\s*(?::\s*(?P<arg>.*?))?\s*-->", re.S)
_CONTINUED = re.compile(r"\\\s*$")


class DocsError(Exception):
    """A page breaks the docs-testing convention; the message says where and how to fix it."""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page and the directive in front of it."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    kind: str | None = None  # the directive, if any
    arg: str = ""  # its argument (reason, path, code or test)

    @property
    def where(self) -> str:
        """``docs/page.md:LINE``, for messages."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """The command lines of a shell block, continuation lines joined."""
        lines = self.code.splitlines()
        if self.lang == "console":
            commands: list[str] = []
            continuing = False
            for line in lines:
                if continuing:
                    commands[-1] += "\n" + line
                elif line.startswith("$ "):
                    commands.append(line[2:])
                else:
                    continue
                continuing = bool(_CONTINUED.search(line))
            return commands
        joined: list[str] = []
        continuing = False
        for line in lines:
            if continuing:
                joined[-1] += "\n" + line
            elif line.strip() and not line.lstrip().startswith("#"):
                joined.append(line)
            else:
                continue
            continuing = bool(_CONTINUED.search(line))
        return joined

    def console(self) -> list[tuple[str, str]]:
        """A ``console`` block's commands, each with the output the page shows for it."""
        pairs: list[tuple[str, str]] = []
        commands = iter(self.commands())
        for line in self.code.splitlines():
            if line.startswith("$ "):
                pairs.append((next(commands), ""))
            elif pairs and not pairs[-1][0].endswith(line) and not line.startswith(" "):
                command, shown = pairs[-1]
                pairs[-1] = (command, f"{shown}{line}\n")
        return pairs


def relative(page: Path) -> str:
    """The page's path from the repository root, as tests name it."""
    return str(page.relative_to(ROOT))


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, with its directive.

    Raises:
        DocsError: An indented code block, an unclosed fence or an unknown directive.
    """
    lines = page.read_text().splitlines()
    found: list[Block] = []
    pending: tuple[str, str, int] | None = None  # a directive waiting for its block
    i = 0
    blank_before = True
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker, info = fence["fence"], fence["info"].lower()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(marker):
                body.append(lines[j][len(fence["indent"]) :])
                j += 1
            if j == len(lines):
                raise DocsError(f"{relative(page)}:{i + 1}: a code fence that is never closed")
            kind, arg = (pending[0], pending[1]) if pending else (None, "")
            found.append(Block(page, i + 1, info, "\n".join(body) + "\n", kind, arg))
            pending = None
            i, blank_before = j + 1, False
            continue
        if line.lstrip().startswith("<!--") and "docs:" in line:
            end = i
            while "-->" not in lines[end]:
                end += 1
            text = "\n".join(lines[i : end + 1])
            match = _DIRECTIVE.search(text)
            if not match or match["kind"] not in KINDS:
                raise DocsError(
                    f"{relative(page)}:{i + 1}: unknown docs directive {text!r}; "
                    f"the kinds are {', '.join(sorted(KINDS))}"
                )
            pending = (match["kind"], (match["arg"] or "").strip(), i + 1)
            i, blank_before = end + 1, True
            continue
        if blank_before and line.startswith("    ") and line.strip() and not _in_list(lines, i):
            raise DocsError(
                f"{relative(page)}:{i + 1}: an indented code block; fence it with a language "
                "(```python, ```sh, ```console or ```text) so the docs tests know what it is"
            )
        if pending and line.strip():
            raise DocsError(
                f"{relative(page)}:{pending[2]}: a docs directive must stand just before "
                "its code block"
            )
        blank_before = not line.strip()
        i += 1
    if pending:
        raise DocsError(f"{relative(page)}:{pending[2]}: a docs directive with no block after it")
    return found


def _in_list(lines: list[str], index: int) -> bool:
    """Whether an indented line continues a list item (then it is not a code block)."""
    for previous in reversed(lines[:index]):
        if not previous.strip():
            continue
        stripped = previous.lstrip()
        if re.match(r"([-*+]|\d+\.)\s", stripped):
            return True
        if not previous.startswith(" "):
            return False
    return False


def shell_commands(page: str, contains: str = "") -> list[str]:
    """The command lines of ``page``'s shell blocks (those with ``contains`` in them).

    A test that runs a page's commands reads them through this, so that what it
    runs is what the page says.
    """
    return [
        command
        for block in blocks(ROOT / page)
        if block.lang in SHELL
        for command in block.commands()
        if contains in command
    ]


def files(page: str) -> dict[str, str]:
    """The ``file:`` blocks of ``page``, path to text."""
    return {b.arg: b.code for b in blocks(ROOT / page) if b.kind == "file"}
