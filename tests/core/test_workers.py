"""Recognising a server that runs several workers, from its command line."""

from __future__ import annotations

import pytest

from tokenauth._workers import _workers_of


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["/app/.venv/bin/python", "/app/.venv/bin/gunicorn", "app:app", "-w", "4"],
            ("gunicorn", 4),
        ),
        (["python", "-m", "gunicorn", "--workers=3", "app:app"], ("gunicorn", 3)),
        (["gunicorn", "-w2", "app:app"], ("gunicorn", 2)),
        (["uvicorn", "app:app", "--workers", "2"], ("uvicorn", 2)),
        (["uvicorn", "app:app"], ("uvicorn", 1)),
        (["python", "-m", "pytest", "-w", "5"], None),
        (["bash"], None),
        ([], None),
        (["gunicorn", "--workers", "many"], None),
    ],
)
def test_server_and_worker_count(argv: list[str], expected: tuple[str, int] | None) -> None:
    assert _workers_of(argv) == expected


def test_web_concurrency_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert _workers_of(["uvicorn", "app:app"]) == ("uvicorn", 3)
    assert _workers_of(["uvicorn", "app:app", "--workers", "1"]) == ("uvicorn", 1)
