"""The demo's throttle option parsers: Hypothesis properties, no server."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import Limit
from tokenauth_asgi._demo_cli import parse_limit_option, parse_wait_option


@given(st.integers(1, 10**6), st.integers(1, 86_400))
def test_every_valid_limit_reads_back(attempts: int, window: int) -> None:
    assert parse_limit_option(f"{attempts}/{window}") == Limit(attempts, window)


@given(st.text(max_size=20))
def test_any_text_is_a_limit_off_or_a_usage_error(text: str) -> None:
    """Never another exception: argparse turns ArgumentTypeError into a usage message."""
    try:
        parsed = parse_limit_option(text)
    except argparse.ArgumentTypeError as exc:
        message = str(exc)
        assert "N/SECONDS" in message
        return
    if parsed is None:
        assert text.strip().lower() == "off"
    else:
        attempts, _, window = text.partition("/")
        assert parsed == Limit(int(attempts), int(window))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_wait_is_a_positive_finite_number(seconds: float) -> None:
    text = repr(seconds)
    if seconds > 0 and math.isfinite(seconds):
        assert parse_wait_option(text) == seconds
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="positive number of seconds"):
            parse_wait_option(text)


@given(st.text(max_size=12))
def test_any_text_is_a_wait_none_or_a_usage_error(text: str) -> None:
    try:
        parsed = parse_wait_option(text)
    except argparse.ArgumentTypeError:
        return
    assert parsed is None or (parsed > 0 and math.isfinite(parsed))
