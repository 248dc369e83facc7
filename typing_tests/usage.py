"""Type-checked (never run) use of the public API: mypy --strict must accept it as written."""

from __future__ import annotations

from typing_extensions import assert_type

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    AuthResult,
    BadRequest,
    Claims,
    Failure,
    Granted,
    HttpsRequired,
    KeySet,
    LoginResult,
    MemoryStore,
    MemoryUserRegistry,
    StoreUnavailable,
    TokenAuth,
    TokenStore,
    Unauthorized,
    open_store,
)

auth = TokenAuth(keys=KeySet.generate("ES256"), store=MemoryStore(), users=MemoryUserRegistry())
login = auth.login("Basic YTpi", secure=True)
assert_type(login, LoginResult)
match login:
    case Granted(token=token, expires_in=seconds):
        assert_type(token, str)
        assert_type(seconds, int)
    case BadRequest() | Unauthorized() | HttpsRequired() | StoreUnavailable() as failure:
        assert_type(failure.status, int)
        assert_type(failure.headers, tuple[tuple[str, str], ...])
        assert_type(failure.body, bytes)

result = auth.authenticate("Bearer x", query="a=1", secure=True, client="127.0.0.1")
assert_type(result, AuthResult)
if isinstance(result, Authenticated):
    assert_type(result.claims, Claims)
    assert_type(result.principal.subject, str)
    assert_type(result.claims.scope, tuple[str, ...])
else:
    assert_type(result, BadRequest | Unauthorized | HttpsRequired | StoreUnavailable)
    as_failure: Failure = result

store: TokenStore = open_store("memory://")
count: int = auth.revoke_subject("alice")


async def asynchronous() -> None:
    door = AsyncTokenAuth(keys=KeySet.generate(), store=AsyncMemoryStore())
    checked = await door.authenticate(None, secure=True)
    assert_type(checked, AuthResult)
