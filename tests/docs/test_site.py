"""The docs build as a site with no warnings: a broken link or anchor or API reference fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.markdown import PAGES, ROOT, relative


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", tmp_path / "site"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    built = {p.relative_to(tmp_path / "site") for p in (tmp_path / "site").rglob("index.html")}
    for page in PAGES:
        if page.parent == ROOT / "docs":
            name = page.stem
            expected = Path("index.html") if name == "index" else Path(name) / "index.html"
            assert expected in built, f"{relative(page)} is not in the site (add it to mkdocs.yml)"
