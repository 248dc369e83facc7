#!/usr/bin/env python3
"""Project tasks, from a fresh clone with nothing but Python 3.10+.

    python3 dev.py demo [tokenauth demo options]   run the HTTPS demo server
    python3 dev.py test [pytest options]           lint, type-check and run every test
    python3 dev.py lint                            ruff and mypy only
    python3 dev.py bench [options]                 run the benchmarks

Each command first makes sure `.venv` exists at the repository root and holds the
core and every adapter under `adapters/` as editable installs with their `dev`
extras. The install is redone only when a `pyproject.toml` or this file changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".tokenauth-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
#: Lowest branch coverage (percent) a full test run accepts.
COVERAGE_FLOOR = 85


def _adapters() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "adapters").glob("*/pyproject.toml"))


def _fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in [
        ROOT / "pyproject.toml",
        Path(__file__).resolve(),
        *(a / "pyproject.toml" for a in _adapters()),
    ]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run(*args: str | Path) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT)


def ensure_venv() -> None:
    """Create or refresh `.venv` so that it matches the project's declared dependencies."""
    if sys.version_info < (3, 10):
        sys.exit("tokenauth needs Python 3.10 or newer")
    fingerprint = _fingerprint()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    if not PYTHON.exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("installing tokenauth and its adapters into .venv ...", file=sys.stderr)
    pip: list[str | Path] = [PYTHON, "-m", "pip", "--disable-pip-version-check", "-q"]
    if _run(*pip, "install", "--upgrade", "pip") != 0:
        sys.exit("could not upgrade pip in .venv")
    # The core was once distributed as "tokenauth", a name that belongs to an
    # unrelated project on the package index; drop a stale install of it.
    _run(*pip, "uninstall", "-y", "tokenauth")
    targets: list[str | Path] = ["-e", f"{ROOT}[dev]"]
    for adapter in _adapters():
        targets += ["-e", f"{adapter}[dev]"]
    if _run(*pip, "install", *targets) != 0:
        sys.exit("installing the project into .venv failed (see the pip output above)")
    STAMP.write_text(fingerprint)


def _typed_paths() -> list[str]:
    paths = ["tokenauth", "tests", "typing_tests", "benchmarks", "dev.py"]
    paths += [str(p.relative_to(ROOT)) for a in _adapters() for p in a.glob("tokenauth_*")]
    return [p for p in paths if (ROOT / p).is_file() or any((ROOT / p).rglob("*.py"))]


def lint() -> int:
    """Run ruff (lint and format check) and mypy --strict over all code."""
    checks: list[list[str | Path]] = [
        [BIN / "ruff", "check", "."],
        [BIN / "ruff", "format", "--check", "."],
        [BIN / "mypy", "--strict", *_typed_paths()],
    ]
    failed = 0
    for check in checks:
        print("+", " ".join(str(c) for c in check), file=sys.stderr, flush=True)
        failed |= _run(*check)
    return failed


def main(argv: list[str]) -> int:
    """Dispatch a task; returns the process exit code."""
    if not argv or argv[0] not in {"demo", "test", "lint", "bench"}:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "demo":
        return _run(BIN / "tokenauth", "demo", *rest)
    if command == "bench":
        return _run(PYTHON, "-m", "benchmarks", *rest)
    failed = lint()
    if command == "lint":
        return failed
    # The full run also measures branch coverage and holds it above a floor; a
    # narrowed run (any pytest arguments) does not, since it covers less on purpose.
    coverage = [] if rest else ["--cov", "--cov-branch", "--cov-report=term:skip-covered"]
    coverage += [f"--cov-fail-under={COVERAGE_FLOOR}"] if coverage else []
    tests = _run(PYTHON, "-m", "pytest", *coverage, *rest)
    if failed:
        print("lint or type check failed (see above)", file=sys.stderr)
    return tests or failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
