"""The instruction-count benchmark's command line refuses what it cannot measure, saying why."""

from __future__ import annotations

import shutil

import pytest

from benchmarks import instructions


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--endpoints", "flask"], "unknown endpoint flask: pick from asgi, starlette, fastapi"),
        (["--endpoints", ","], "pick from asgi, starlette, fastapi"),
        (["--requests", "99"], "--requests must be at least 100"),
    ],
)
def test_bad_arguments_are_refused_with_the_fix(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        instructions.main(argv)
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_without_valgrind_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert instructions.main(["--endpoints", "asgi"]) == 2
    assert "apt-get install -y valgrind" in capsys.readouterr().err


def test_the_ratio_is_unprotected_over_protected() -> None:
    count = instructions.Count("asgi", unprotected=100_000.0, protected=125_000.0)
    assert count.ratio == pytest.approx(0.8)
