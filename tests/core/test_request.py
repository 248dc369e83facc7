"""The request value: one object per request, and the keyword form that builds it."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    HttpsRequired,
    MemoryUserRegistry,
    Request,
    Unauthorized,
)
from tokenauth._frontdoor import _keyword_request
from tokenauth.extend import is_secure
from tokenauth.testing import strategies as ts

from .conftest import KEYS, Setup, basic

texts = st.none() | st.text(max_size=12)
queries = (
    st.none() | st.text(max_size=12) | st.dictionaries(st.text(max_size=4), st.text(max_size=4))
)


@given(texts, queries, st.booleans(), texts, texts, texts, texts)
def test_of_builds_what_the_constructor_builds(
    authorization: str | None,
    query: str | None,
    secure: bool,
    client: str | None,
    forwarded_proto: str | None,
    forwarded: str | None,
    user_agent: str | None,
) -> None:
    fast = Request.of(authorization, query, secure, client, forwarded_proto, forwarded, user_agent)
    plain = Request(
        authorization=authorization,
        query=query,
        secure=secure,
        client=client,
        forwarded_proto=forwarded_proto,
        forwarded=forwarded,
        user_agent=user_agent,
    )
    assert type(fast) is Request
    assert fast == plain
    assert repr(fast) == repr(plain)
    if not isinstance(query, dict):
        assert hash(fast) == hash(plain)
        assert pickle.loads(pickle.dumps(fast)) == plain  # noqa: S301 - our own bytes
    assert copy.copy(fast) == plain


def test_request_is_immutable_and_secure_is_required() -> None:
    request = Request(authorization="Bearer x", secure=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.secure = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="secure"):
        Request(authorization="Bearer x")  # type: ignore[call-arg]
    assert request.query == ""
    assert request.client is None


def test_the_keyword_form_and_the_request_give_the_same_answers(setup: Setup) -> None:
    token = setup.login_token()
    auth = setup.auth
    whole = auth.authenticate(Request(authorization=f"Bearer {token}", secure=True))
    keywords = auth.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(whole, Authenticated)
    assert whole == keywords
    login = auth.login(Request(authorization=basic("alice", "correct horse"), secure=True))
    assert login.status == 200
    assert auth.login(Request(authorization=None, secure=True)).status == 400


def test_the_keyword_form_needs_secure(setup: Setup) -> None:
    with pytest.raises(TypeError, match="secure=True or secure=False"):
        setup.auth.authenticate("Bearer x")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="secure=True or secure=False"):
        setup.auth.login(basic("alice", "correct horse"))  # type: ignore[call-overload]


def test_a_request_and_keywords_together_are_refused(setup: Setup) -> None:
    request = Request(authorization="Bearer x", secure=True)
    with pytest.raises(TypeError, match="not both"):
        setup.auth.authenticate(request, secure=True)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="not both"):
        setup.auth.login(request, client="10.0.0.1")  # type: ignore[call-overload]


def test_a_header_that_is_not_text_is_named(setup: Setup) -> None:
    with pytest.raises(TypeError, match="must be a str or None, not bytes"):
        setup.auth.authenticate(b"Bearer x", secure=True)  # type: ignore[call-overload]


def test_the_trusted_proxy_decision_is_the_request_s(setup: Setup) -> None:
    auth = setup.auth  # trusts 10.0.0.0/8
    proxied = Request(secure=False, client="10.1.2.3", forwarded_proto="https")
    assert auth.is_https(proxied)
    assert not auth.is_https(dataclasses.replace(proxied, client="192.0.2.1"))
    assert not auth.is_https(dataclasses.replace(proxied, forwarded="proto=http"))
    assert auth.is_https(Request(secure=True, client="192.0.2.1", forwarded_proto="http"))
    # A trusted proxy's word decides even over a TLS hop.
    assert not auth.is_https(Request(secure=True, client="10.0.0.9", forwarded_proto="http"))


#: A front door that trusts 10.0.0.0/8 and ::1 as proxies.
PROXIED = AsyncTokenAuth(keys=KEYS, store=AsyncMemoryStore(), trusted_proxies=["10.0.0.0/8", "::1"])
proxy_headers = st.none() | st.sampled_from(
    ["https", "http", "HTTPS", "http, https", "https, http", " https ", "proto=https", ""]
)
forwarded_headers = st.none() | st.sampled_from(
    ["proto=https", "proto=http", 'for=1.2.3.4;proto="https"', "proto=http, proto=https", "by=x"]
)


@given(
    st.booleans(),
    st.none() | st.sampled_from(["10.1.2.3", "192.0.2.1", "::1", "not-an-address"]),
    proxy_headers,
    forwarded_headers,
)
def test_is_https_decides_as_is_secure_decides(
    secure: bool,
    client: str | None,
    forwarded_proto: str | None,
    forwarded: str | None,
) -> None:
    request = Request(
        secure=secure, client=client, forwarded_proto=forwarded_proto, forwarded=forwarded
    )
    assert PROXIED.is_https(request) == is_secure(
        secure=secure,
        client=client,
        forwarded_proto=forwarded_proto,
        forwarded=forwarded,
        trusted_proxies=PROXIED.trusted_proxies,
    )


def test_async_front_door_takes_the_request_whole() -> None:
    auth = AsyncTokenAuth(
        keys=KEYS, store=AsyncMemoryStore(), users=MemoryUserRegistry(), hasher=ts.fast_hasher()
    )

    async def scenario() -> None:
        await auth.add_user("alice", "pw")
        granted = await auth.login(Request(authorization=basic("alice", "pw"), secure=True))
        assert granted.status == 200
        token = granted.token  # type: ignore[union-attr]
        header = f"Bearer {token}"
        for _ in range(2):  # the second answer comes from the repeat path
            result = await auth.authenticate(Request(authorization=header, secure=True))
            assert isinstance(result, Authenticated)
        refused = await auth.authenticate(Request(authorization=header, secure=False))
        assert isinstance(refused, HttpsRequired)
        revoked = await auth.authenticate(header, secure=True)
        assert isinstance(revoked, Unauthorized)
        with pytest.raises(TypeError, match="not both"):
            await auth.login(Request(secure=True), secure=True)  # type: ignore[call-overload]

    asyncio.run(scenario())


_FIELD_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "secure": st.booleans(),
        "query": st.none() | st.text(max_size=6) | st.just({"token": ["x"]}),
        "client": st.none() | st.sampled_from(["127.0.0.1", "::1"]),
        "forwarded_proto": st.none() | st.sampled_from(["https", "http"]),
        "forwarded": st.none() | st.just("proto=https"),
        "user_agent": st.none() | st.text(max_size=6),
    },
)


@given(st.none() | st.text(max_size=8), _FIELD_VALUES)
def test_the_keyword_form_builds_what_request_builds(
    authorization: str | None, fields: dict[str, object]
) -> None:
    if "secure" not in fields:
        with pytest.raises(TypeError, match="secure="):
            _keyword_request(authorization, fields)
        return
    built = _keyword_request(authorization, fields)
    assert type(built) is Request
    assert built == Request(authorization=authorization, **fields)  # type: ignore[arg-type]


def test_the_keyword_form_names_an_unknown_keyword() -> None:
    with pytest.raises(TypeError, match="secur"):
        _keyword_request(None, {"secure": True, "secur": True})
