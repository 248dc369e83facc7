"""KeySet.load_or_create: one key set for every worker process, however they race at start-up."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from tokenauth import ConfigurationError, KeySet

WORKERS = 8


def _start_worker(path: str, ready: multiprocessing.synchronize.Barrier) -> str:
    ready.wait()  # every process calls load_or_create at the same moment
    return KeySet.load_or_create(path, "ES256").signing.kid


def test_racing_processes_all_get_the_same_key(tmp_path: Path) -> None:
    """Eight processes starting together create one file and all sign with its key."""
    path = tmp_path / "keys.json"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        ready = manager.Barrier(WORKERS)
        with context.Pool(WORKERS) as pool:
            kids = pool.starmap(_start_worker, [(str(path), ready)] * WORKERS)
    assert len(set(kids)) == 1
    assert KeySet.load(path).signing.kid == kids[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"], "temporary files left behind"


def test_an_existing_file_is_loaded_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = KeySet.load_or_create(path)
    assert first.signing.alg == "RS256"
    again = KeySet.load_or_create(path, "EdDSA")
    assert again.signing.kid == first.signing.kid


def test_a_broken_file_is_an_error_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not JSON"):
        KeySet.load_or_create(path)
    assert path.read_text() == "{not json"


def test_a_missing_folder_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot create the key set file"):
        KeySet.load_or_create(tmp_path / "absent" / "keys.json")
