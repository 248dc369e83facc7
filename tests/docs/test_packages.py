"""Every distribution builds as a wheel and an sdist with clean metadata, and installs cleanly.

The wheels go into a virtualenv that has nothing else, where the README's
embedding example runs; the quickstart's install-from-a-clone lines run in
another. Installing pulls the dependencies from the package index (or pip's
cache), as a user's install would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.docs.markdown import PYTHON, ROOT, blocks, shell_commands

#: Each project folder and the distribution it builds.
DISTRIBUTIONS = {
    ROOT: "tokenauth-core",
    ROOT / "adapters" / "asgi": "tokenauth-asgi",
    ROOT / "adapters" / "wsgi": "tokenauth-wsgi",
    ROOT / "adapters" / "sqlalchemy": "tokenauth-sqlalchemy",
    ROOT / "adapters" / "redis": "tokenauth-redis",
}
QUICKSTART = "docs/quickstart.md"
README_CHECK = """
import base64, json
basic = "Basic " + base64.b64encode(b"alice:correct horse battery staple").decode()
status, headers, body = handle("/token", basic)
assert status == 200, body
token = json.loads(body)["token"]
assert handle("/me", f"Bearer {token}")[2] == b"hello alice"
assert handle("/me", None)[0] == 401
import tokenauth
from tokenauth import open_store
open_store("memory://")
open_store("sqlite://")  # the SQL adapter's entry point, from its wheel
import tokenauth_asgi, tokenauth_wsgi, tokenauth_redis
print("installed from", tokenauth.__file__)
"""


def _run(command: list[str | Path], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_venv(folder: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for project in DISTRIBUTIONS:
        # Without isolation: the build backend comes from the project's own .venv.
        _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, project])
    return out


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def test_every_distribution_builds_a_wheel_and_an_sdist(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    for name in DISTRIBUTIONS.values():
        assert f"{_normal(name)}-0.1.0-py3-none-any.whl" in names, names
        assert f"{_normal(name)}-0.1.0.tar.gz" in names, names


def test_metadata_passes_twine_check(dist: Path) -> None:
    files = sorted(dist.iterdir())
    out = _run([sys.executable, "-m", "twine", "check", "--strict", *files])
    assert out.count("PASSED") == len(files), out


def test_adapters_depend_on_the_core_by_its_distribution_name(dist: Path) -> None:
    for wheel in dist.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            (meta,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
            headers = Parser().parsestr(archive.read(meta).decode())
        if headers["Name"] == "tokenauth-core":
            assert headers["Summary"]
            continue
        requires = headers.get_all("Requires-Dist") or []
        assert "tokenauth-core" in requires, (headers["Name"], requires)
        assert not any(r.split()[0] == "tokenauth" for r in requires)


def test_wheels_install_into_a_clean_venv_and_run_the_readme_example(
    dist: Path, tmp_path: Path
) -> None:
    python = _clean_venv(tmp_path / "venv")
    wheels = sorted(dist.glob("*.whl"))
    _run([python, "-m", "pip", "install", "-q", "--find-links", dist, *wheels])
    example = next(b for b in blocks(ROOT / "README.md") if b.lang in PYTHON)
    script = tmp_path / "readme_example.py"
    script.write_text(example.code + README_CHECK)
    # Run outside the clone, so that nothing but the installed wheels is importable.
    out = _run([python, script], cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert str(tmp_path / "venv") in out, out
    _run([tmp_path / "venv" / "bin" / "tokenauth", "--help"], cwd=tmp_path)


def test_the_quickstart_install_lines_work_from_a_clone(tmp_path: Path) -> None:
    """The quickstart's pip lines, run as written from the folder that holds the clone."""
    python = _clean_venv(tmp_path / "venv")
    (tmp_path / "tokenauth").symlink_to(ROOT)
    lines = shell_commands(QUICKSTART, "pip install")
    assert len(lines) == 4, lines
    path = f"{python.parent}{os.pathsep}{os.environ['PATH']}"
    for line in lines:
        _run(
            ["bash", "-euo", "pipefail", "-c", line], cwd=tmp_path, env={**os.environ, "PATH": path}
        )
    out = _run([python, "-m", "pip", "list", "--format=freeze"], cwd=tmp_path, env={"PATH": path})
    installed = {line.split("==")[0].lower() for line in out.split()}
    assert set(DISTRIBUTIONS.values()) | {"gunicorn"} <= installed, installed
