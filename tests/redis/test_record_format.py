"""The stored record formats round-trip, whichever optional fields a record carries."""

from __future__ import annotations

import json
import string

from hypothesis import given
from hypothesis import strategies as st

from tokenauth import TokenRecord
from tokenauth._store import sanitize_user_agent
from tokenauth_redis._flows import FORMAT_VERSION, decode, encode

_IDS = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=64)


@st.composite
def records(draw: st.DrawFn) -> TokenRecord:
    issued = draw(st.integers(0, 2**40))
    by_key = draw(st.booleans())
    agent = sanitize_user_agent(draw(st.none() | st.text(max_size=300)))
    return TokenRecord(
        jti=draw(_IDS),
        subject=draw(st.text(min_size=1, max_size=255)),
        issued_at=issued,
        expires_at=issued + draw(st.integers(0, 2**30)),
        method="api_key" if by_key else "password",
        api_key_id=draw(_IDS) if by_key else None,
        client=draw(st.none() | st.sampled_from(["203.0.113.7", "2001:db8::/64", "_p"])),
        user_agent=agent,
        session=draw(st.none() | _IDS),
    )


@given(records(), st.text("0123456789abcdef", min_size=16, max_size=16))
def test_every_record_round_trips(record: TokenRecord, nonce: str) -> None:
    raw = encode(record, nonce.encode())
    assert raw.isascii()
    assert decode(record.jti.encode(), raw) == (nonce.encode(), record)


@given(records())
def test_a_record_without_the_new_fields_keeps_the_first_format(record: TokenRecord) -> None:
    """What versions before last-use tracking read: seven fields, format 1."""
    plain = TokenRecord(
        record.jti, record.subject, record.issued_at, record.expires_at, record.method,
        record.api_key_id,
    )  # fmt: skip
    fields = json.loads(encode(plain, b"0123456789abcdef"))
    assert fields[0] == FORMAT_VERSION
    assert len(fields) == 7
