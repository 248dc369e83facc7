"""The flows of the HTTP contract, and the sync and async front doors that run them.

:class:`TokenAuth` and :class:`AsyncTokenAuth` share every decision: each
public method builds a flow (see ``tokenauth._drivers``) from the same code and
only the driver differs.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import argon2

if TYPE_CHECKING:
    from typing_extensions import Unpack

from ._authenticators import (
    ApiKeyAuthenticator,
    Authenticator,
    BasicAuthenticator,
    PasswordAuthenticator,
    api_key_digest,
    default_password_hasher,
    generate_api_key,
    is_well_formed_api_key,
    new_user,
)
from ._claims import Claims, Principal, principal_of
from ._clock import Clock, system_clock
from ._drivers import Call, Flow, awaitable, call_of, run_async, run_sync
from ._errors import ConfigurationError, StoreError
from ._events import EventHook, EventKind, SecurityEvent, emit, heard
from ._health import Health, OutageLog, describe, health_flow
from ._http import (
    TrustedProxies,
    carries_no_query_token,
    exposed_credentials,
    extract_bearer,
    is_secure,
    parse_basic,
)
from ._jwt import (
    ExtraClaims,
    IssuedToken,
    JWTIssuer,
    JWTValidator,
    TokenIssuer,
    TokenRejected,
    TokenValidator,
)
from ._keys import Key, KeySet
from ._refresh import (
    DEFAULT_REFRESH_TTL,
    DEFAULT_SESSION_LIFETIME,
    RefreshRecord,
    Sessions,
    missing_refresh_methods,
    parse_token_form,
    token_session,
)
from ._registry import (
    ApiKeyRecord,
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncUserRegistry,
    UserRecord,
    UserRegistry,
)
from ._request import Request, RequestFields, _make_request
from ._results import (
    Authenticated,
    AuthResult,
    BadRequest,
    Granted,
    HttpsRequired,
    InsufficientScope,
    InvalidGrant,
    LoggedOut,
    LoginResult,
    LogoutResult,
    Overloaded,
    Reason,
    RefreshResult,
    StepUpRequired,
    StoreUnavailable,
    TokenLimitReached,
    TooManyRequests,
    Unauthorized,
    authenticated_of,
)
from ._scopes import ScopeRequirement
from ._shedding import HashQueue
from ._stepup import LoginAgeRequirement
from ._store import (
    CAP_METHODS,
    SESSION_METHODS,
    AsyncTokenStore,
    CapOutcome,
    CapPolicy,
    Session,
    TokenRecord,
    TokenStore,
    require_methods,
    sanitize_client,
    sanitize_user_agent,
)
from ._throttle import Limit, LoginThrottle, client_address
from ._workers import warn_if_per_process

__all__ = ["AsyncTokenAuth", "TokenAuth"]

R = TypeVar("R")
_Refusal = TypeVar("_Refusal", TooManyRequests, Overloaded)
_log = logging.getLogger("tokenauth")
#: Failures of a store call that mean "the store is not there": fail closed with 503.
_STORE_FAILURES = (StoreError, OSError)
#: Distinct scope requirements a front door keeps built (see _Flows.requirement).
_REQUIREMENTS_MAX = 1024
#: Authorization headers the front door remembers its answer for (see _Flows._recent).
_RECENT_MAX = 10_000
#: Distinct requirements a front door remembers (routes declare a handful).
_REQUIREMENTS_MAX = 1024


def _default_hash_slots(hasher: argon2.PasswordHasher | None) -> int:
    """Hashes at once that keep argon2's threads within the core count (at least one hash).

    Each argon2 hash runs ``parallelism`` threads; more busy threads than cores
    leave the event loop (or the server's other threads) waiting for a core,
    and every token check with it.
    """
    lanes = (hasher or default_password_hasher()).parallelism
    return max(1, (os.cpu_count() or 1) // max(1, lanes))


_BOTH_FORMS = "pass either a Request alone or the keyword form (header, secure=...), not both"


def _keyword_request(authorization: object, fields: dict[str, Any]) -> Request:
    """The :class:`Request` of the front doors' keyword form, with errors that say what to pass."""
    if "secure" not in fields:
        raise TypeError(
            "say whether the connection is HTTPS: pass secure=True or secure=False "
            "(or a tokenauth.Request)"
        )
    if authorization is not None and not isinstance(authorization, str):
        raise TypeError(
            f"the Authorization header must be a str or None, not {type(authorization).__name__}"
        )
    if len(fields) == 1:
        # The usual call, authenticate(header, secure=...): Request's defaults for the
        # rest, through the cheap maker (a test holds it to Request(...)).
        return _make_request(authorization, "", fields["secure"], None, None, None, None)
    return Request(authorization=authorization, **fields)


def _sessions(
    store: object, refresh_ttl: int | bool | None, lifetime: int | None, pepper: bytes | None
) -> Sessions | None:
    """The refresh settings of a front door, None when refresh is off; checks the store."""
    if refresh_ttl is None or refresh_ttl is False:
        if lifetime is not None:
            raise ConfigurationError("session_lifetime needs refresh tokens: pass refresh_ttl too")
        return None
    missing = missing_refresh_methods(store)
    if missing:
        raise ConfigurationError(
            f"refresh tokens need a store that keeps them; {type(store).__name__} lacks "
            f"{', '.join(missing)} (see tokenauth.RefreshStore), or leave refresh_ttl unset"
        )
    ttl = DEFAULT_REFRESH_TTL if refresh_ttl is True else refresh_ttl
    return Sessions(ttl, DEFAULT_SESSION_LIFETIME if lifetime is None else lifetime, pepper)


class _Flows:
    """Configuration and the flows; the drivers live in the subclasses."""

    # The settings live in slots: every request reads a dozen of them, and with
    # more than 30 attributes CPython's instance dictionary stops sharing its keys,
    # after which every attribute read and method lookup takes the generic road.
    # The __dict__ stays, empty, for whatever an application or a test sets on an
    # instance (a replaced method, a note); tests/core/test_cheap_paths.py checks
    # that __init__ sets nothing outside the slots.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_clock",
        "_ends_sessions",
        "_hasher",
        "_hashes",
        "_keys",
        "_leeway",
        "_login_ages",
        "_next_touch",
        "_no_token",
        "_outages",
        "_pepper",
        "_recent",
        "_requirements",
        "_time",
        "_touch_lock",
        "allow_query_token",
        "api_keys",
        "authenticator",
        "cap_policy",
        "issuer",
        "last_use_interval",
        "max_tokens_per_subject",
        "on_event",
        "realm",
        "revoke_exposed_api_keys",
        "sessions",
        "store",
        "throttle",
        "trusted_proxies",
        "users",
        "validator",
    )

    def __init__(
        self,
        *,
        keys: KeySet,
        store: Any,
        users: Any = None,
        api_keys: Any = None,
        pepper: bytes | None = None,
        authenticator: Authenticator | None = None,
        hasher: argon2.PasswordHasher | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        ttl: int = 3600,
        leeway: int = 5,
        realm: str = "api",
        allow_query_token: bool = True,
        revoke_exposed_api_keys: bool = False,
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        clock: Clock = system_clock,
        on_event: EventHook | None = None,
        token_issuer: TokenIssuer | None = None,
        token_validator: TokenValidator | None = None,
        client_id: str | None = None,
        extra_claims: ExtraClaims | None = None,
        throttle: LoginThrottle | None = None,
        refresh_ttl: int | bool | None = None,
        session_lifetime: int | None = None,
        max_tokens_per_subject: int | None = None,
        cap_policy: CapPolicy = "refuse",
        track_last_use: bool = False,
        last_use_interval: int = 60,
        max_concurrent_hashes: int | None = None,
        max_login_wait: float | None = 3.0,
    ) -> None:
        if any(c in realm for c in '\r\n"\\') or not realm.isprintable():
            raise ConfigurationError("the realm must be printable, without quotes or backslashes")
        if api_keys is not None and pepper is None and authenticator is None:
            raise ConfigurationError("API keys need a pepper: a server-side secret of 32+ bytes")
        self._keys = keys
        self.store = store
        self.users = users
        self.api_keys = api_keys
        self._pepper = pepper
        self._hasher = hasher
        self.realm = realm
        self.allow_query_token = allow_query_token
        self.revoke_exposed_api_keys = revoke_exposed_api_keys
        self.trusted_proxies = TrustedProxies.of(trusted_proxies)
        self.clock = clock
        self.on_event = on_event
        self._leeway = leeway
        self.issuer: TokenIssuer = token_issuer or JWTIssuer(
            keys, ttl=ttl, issuer=issuer, audience=audience, client_id=client_id,
            extra_claims=extra_claims,
        )  # fmt: skip
        self.validator: TokenValidator = token_validator or JWTValidator(
            keys, issuer=issuer, audience=audience, leeway=leeway, max_lifetime=max(ttl, 60)
        )
        if authenticator is None and (users is not None or api_keys is not None):
            authenticator = BasicAuthenticator(
                passwords=None if users is None else PasswordAuthenticator(users, hasher=hasher),
                api_keys=None
                if api_keys is None
                else ApiKeyAuthenticator(api_keys, pepper=pepper or b""),
            )
        self.authenticator = authenticator
        self.throttle = throttle
        self.sessions = _sessions(store, refresh_ttl, session_lifetime, pepper)
        # The store keeps refresh tokens (whether refresh is on or not): revoking a
        # subject or an API key then ends their sessions too.
        self._ends_sessions = not missing_refresh_methods(store)
        passwords = getattr(authenticator, "passwords", None)
        self._hashes = HashQueue(
            _default_hash_slots(hasher) if max_concurrent_hashes is None else max_concurrent_hashes,
            max_wait=max_login_wait,
            estimate=getattr(passwords, "hash_seconds", None) or 0.1,
        )
        warn_if_per_process(keys, store)
        self._outages = OutageLog()
        self._no_token = Unauthorized.no_token(realm)
        # (scopes, any_of) -> its requirement, built once: see requirement().
        self._requirements: dict[tuple[str | tuple[str, ...], bool], ScopeRequirement] = {}
        # Authorization header -> the Authenticated result it last produced. A repeat
        # of the header skips parsing and the flow driver, never a check: see _recent_hit.
        self._recent: dict[str, Authenticated] = {}
        # max_age -> its requirement, built once per value a route declares.
        self._login_ages: dict[int, LoginAgeRequirement] = {}
        self._configure_sessions(
            store, max_tokens_per_subject, cap_policy, track_last_use, last_use_interval
        )

    def _configure_sessions(
        self,
        store: Any,
        max_tokens: int | None,
        policy: CapPolicy,
        track_last_use: bool,
        interval: int,
    ) -> None:
        """Check and keep the per-subject cap and the last-use tracking settings."""
        if max_tokens is not None:
            if type(max_tokens) is not int or max_tokens < 1:
                raise ConfigurationError(
                    f"max_tokens_per_subject must be a whole number of at least 1, or None "
                    f"for no cap, not {max_tokens!r}"
                )
            require_methods(store, CAP_METHODS, "max_tokens_per_subject")
        if policy not in ("refuse", "evict_oldest"):
            raise ConfigurationError(
                f"cap_policy must be 'refuse' or 'evict_oldest', not {policy!r}"
            )
        self.max_tokens_per_subject = max_tokens
        self.cap_policy: CapPolicy = policy
        # jti -> when this process may write its last use again; None when tracking is off.
        self._next_touch: dict[str, int] | None = None
        if track_last_use:
            if type(interval) is not int or not 1 <= interval <= 86_400:
                raise ConfigurationError(
                    f"last_use_interval must be whole seconds from 1 to 86400, not {interval!r}"
                )
            require_methods(store, SESSION_METHODS, "track_last_use")
            self._next_touch = {}
        self._touch_lock = threading.Lock()
        self.last_use_interval = interval

    # -- helpers ----------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """Returns the current Unix time; replace it (e.g. with a frozen clock) in tests."""
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = clock
        # The system clock is time.time itself: one call less on every request.
        self._time = time.time if clock is system_clock else clock

    def _now(self) -> int:
        return int(self._time())

    def _emit(self, kind: EventKind, now: int, **fields: Any) -> None:
        hook = self.on_event
        if heard(kind, hook):
            emit(SecurityEvent(kind, now, **fields), hook)

    def _guarded(self, flow: Flow[R], now: int, client: str | None) -> Flow[R | StoreUnavailable]:
        try:
            return (yield from flow)
        except _STORE_FAILURES as exc:
            return self._unavailable(exc, now, client)

    def _reported(self, health: Health) -> Health:
        """``health``, its cause logged (once per cause) when it is not ok."""
        if health.detail is not None:
            self._outages.report(health.detail, self._now())
        return health

    @staticmethod
    def _ready(health: Health) -> Health:
        """``health``, after raising for a store that answered but is not set up."""
        if not health.ok and health.reachable:
            raise ConfigurationError(f"the token store is not ready: {health.detail}")
        return health

    def _unavailable(self, exc: BaseException, now: int, client: str | None) -> StoreUnavailable:
        detail = describe(exc)
        self._outages.report(detail, now)  # once per cause, not once per request
        self._emit(EventKind.STORE_UNAVAILABLE, now, client=client, detail=detail)
        return StoreUnavailable.make()

    def _refused(self, result: _Refusal, now: int, who: str | None, client: str | None) -> _Refusal:
        """Emit the refusal event for a login turned away before its password was checked."""
        self._emit(EventKind.LOGIN_REFUSED, now, subject=who, reason=result.reason, client=client)
        return result

    @property
    def max_concurrent_hashes(self) -> int:
        """How many password hashes may run at once (in worker or server threads)."""
        return self._hashes.slots

    @property
    def hash_queue(self) -> HashQueue:
        """The password-hash queue: its slots, its pending logins and its learned hash time."""
        return self._hashes

    def _admit_hash(self) -> int:
        """0 to let a password login hash now, else the seconds for ``Retry-After``."""
        return self._hashes.admit()

    def _release_hash(self) -> None:
        """An admitted password login is done (see :meth:`_admit_hash`)."""
        self._hashes.release()

    # -- the repeat of a header -----------------------------------------------------
    #
    # A request whose Authorization header produced an Authenticated result before
    # gets that same result, after these checks, which are every check the full
    # flow would make of it: the query string adds no token (so the header alone
    # decides which token the request carries, and extract_bearer gave this one);
    # the request is HTTPS; the validator, asked again at this instant, answers
    # with the very Claims object of the result (its cache of verified tokens
    # answers only inside the token's span of validity and forgets everything
    # when the keys change, and any other answer means the full flow decides);
    # and the store still holds the token's record, with the subject, login
    # method and API key the principal was built from. Any miss takes the full
    # flow, which gives the reason and the events.

    def _recent_hit(self, request: Request, https: bool, now: int) -> Authenticated | None:
        """The remembered result for this header, if all but the store check pass again."""
        authorization = request.authorization
        if authorization is None:
            return None
        result = self._recent.get(authorization)
        if result is None:
            return None
        query = request.query
        if (query and not carries_no_query_token(query)) or not https:
            return None
        if self.validator.validate(result.token, now=now) is not result.claims:
            self._recent.pop(authorization, None)
            return None
        return result

    def _still_stored(
        self, result: Authenticated, record: TokenRecord | None, authorization: str | None
    ) -> bool:
        """Whether ``record`` is the one ``result``'s principal was built from.

        When it is not (revoked, or stored anew for someone else), the header is
        forgotten and the full flow gives the answer.
        """
        principal = result.principal
        if (
            record is not None
            and record.subject == principal.subject
            and record.method == principal.method
            and record.api_key_id == principal.api_key_id
        ):
            return True
        self._recent.pop(authorization or "", None)
        return False

    def _claim_touch(self, due: dict[str, int], jti: str, now: int) -> bool:
        """Claim this token's last-use write for this process: False if another request has.

        Taken only when a write looks due (once per token per interval), under a
        lock, so that of concurrent requests exactly one writes.
        """
        with self._touch_lock:
            if due.get(jti, 0) > now:
                return False
            if len(due) >= _RECENT_MAX:
                with contextlib.suppress(KeyError, StopIteration):
                    del due[next(iter(due))]
            due[jti] = now + self.last_use_interval
            return True

    def _touch_failed(self, jti: str, exc: BaseException) -> None:
        """A last-use write failed: the request goes on, and the write is tried again next time."""
        if self._next_touch is not None:
            self._next_touch.pop(jti, None)
        _log.warning("could not record a token's last use: %s", describe(exc))

    def _remember(self, request: Request, result: AuthResult) -> None:
        """Remember a header's Authenticated result, when a repeat can be recognised."""
        authorization = request.authorization
        query = request.query
        if (
            authorization is None
            or type(result) is not Authenticated
            or (query and not carries_no_query_token(query))
            # Only the built-in validator's cache answers with the same Claims object.
            or not isinstance(self.validator, JWTValidator)
            or not self.validator.cache_size
        ):
            return
        recent = self._recent
        if len(recent) >= _RECENT_MAX:
            # Another thread may change it meanwhile: then the bound holds roughly.
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del recent[next(iter(recent))]
        recent[authorization] = result

    def login_age_requirement(self, max_age: int) -> LoginAgeRequirement:
        """The requirement for a login at most ``max_age`` seconds old, in this realm.

        Bindings build it once, where a route is declared, so that a bad value
        fails at start-up; :meth:`require_recent_login` looks it up per call.

        Raises:
            ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
        """
        found = self._login_ages.get(max_age)
        if found is None:
            found = LoginAgeRequirement.of(max_age, realm=self.realm)
            if len(self._login_ages) < _REQUIREMENTS_MAX:
                self._login_ages[max_age] = found
        return found

    def require_recent_login(
        self, result: Authenticated, *, max_age: int
    ) -> Authenticated | StepUpRequired:
        """Whether an authenticated request's login is at most ``max_age`` seconds old (RFC 9470).

        The one place the step-up decision is made, so every binding answers
        alike. No I/O: the login time is the token's own (``auth_time``, or
        ``iat`` for a token straight from a login).

        Args:
            result: The request's :class:`Authenticated` result.
            max_age: The most seconds since the login the path accepts.

        Returns:
            ``result`` itself, or :class:`StepUpRequired` (401) to render as it says.
        """
        now = self._now()
        outcome = self.login_age_requirement(max_age).check(result, now=now)
        if outcome is not result:
            self._emit(
                EventKind.ACCESS_DENIED, now, subject=result.claims.sub, jti=result.claims.jti,
                reason=Reason.LOGIN_TOO_OLD,
            )  # fmt: skip
        return outcome

    def is_https(self, request: Request) -> bool:
        """Whether ``request`` counts as HTTPS: the one place this is decided.

        The connection's own answer holds unless the peer is a trusted proxy,
        whose ``Forwarded`` or ``X-Forwarded-Proto`` then decides (see
        :func:`~tokenauth.is_secure`). Bindings use it for endpoints of their
        own (a JWKS document, a 405) so that every path refuses plain HTTP the
        same way; the front doors decide it once per request.
        """
        proxies = self.trusted_proxies
        client = request.client
        if not proxies.networks or client is None:
            return request.secure
        # The proxies' verdict on this peer, remembered by TrustedProxies.__contains__,
        # read here without the call on the request path.
        trusted = proxies._decided.get(client)
        if not (trusted if trusted is not None else client in proxies):
            return request.secure
        if request.forwarded_proto == "https" and request.forwarded is None:
            # The usual proxied request, decided as is_secure decides it, in one step.
            return True
        return is_secure(
            secure=request.secure,
            client=client,
            forwarded_proto=request.forwarded_proto,
            forwarded=request.forwarded,
            trusted_proxies=proxies,
        )

    def requirement(self, scopes: str | Iterable[str], *, any_of: bool = False) -> ScopeRequirement:
        """The requirement for ``scopes`` (all of them, or ``any_of``) in this realm.

        Bindings build it once, where a route is declared, so that a bad scope
        name fails at start-up; :meth:`authorize` looks it up per call.

        Raises:
            ConfigurationError: No scope, or a name that is not an RFC 6749 scope token.
        """
        key = (scopes if isinstance(scopes, str) else tuple(scopes), any_of)
        found = self._requirements.get(key)
        if found is None:
            found = ScopeRequirement.of(key[0], realm=self.realm, any_of=any_of)
            if len(self._requirements) < _REQUIREMENTS_MAX:
                self._requirements[key] = found
        return found

    def authorize(
        self,
        result: Authenticated,
        scopes: str | Iterable[str] | None = None,
        *,
        any_of: bool = False,
        max_age: int | None = None,
    ) -> Authenticated | InsufficientScope | StepUpRequired:
        """Whether an authenticated request may do what its path needs: scopes, a recent login.

        The one place the decision is made: every binding's check calls this (or
        the ``check`` of :meth:`requirement` and :meth:`login_age_requirement`),
        so all answer alike. No I/O: the scopes and the login time are the token's own.
        Scopes are checked first: a token that lacks one gets 403 whatever its
        age, since a fresh login would not give it the scope.

        Args:
            result: The request's :class:`Authenticated` result.
            scopes: The scopes the path needs: a list, or a space-separated string;
                None when it needs none.
            any_of: Any one of them is enough (default: all are needed).
            max_age: The most seconds since the login the path accepts (RFC 9470
                step-up); None when any login will do.

        Returns:
            ``result`` itself, :class:`InsufficientScope` (403) or
            :class:`StepUpRequired` (401), to render as it says.
        """
        if scopes is not None:
            outcome = self.requirement(scopes, any_of=any_of).check(result)
            if outcome is not result:
                self._emit(
                    EventKind.ACCESS_DENIED, self._now(), subject=result.claims.sub,
                    jti=result.claims.jti, reason=Reason.INSUFFICIENT_SCOPE,
                )  # fmt: skip
                return outcome
        if max_age is not None:
            return self.require_recent_login(result, max_age=max_age)
        return result

    @property
    def keys(self) -> KeySet:
        """The key set tokens are signed and verified with."""
        return self._keys

    def _set_keys(self, keys: KeySet) -> None:
        self._keys = keys
        for part in (self.issuer, self.validator):
            if isinstance(part, JWTIssuer | JWTValidator):
                part.keys = keys

    def rotate_keys(
        self, new_key: Key | None = None, *, staged: bool = False, delay: int | None = None
    ) -> KeySet:
        """Sign with ``new_key`` (or a fresh key of the same algorithm), now or after a delay.

        The old signing key keeps verifying until every token it signed has
        expired; keys retired before now are dropped. No token stops working.

        Verifiers that cache the JWKS (``Cache-Control: max-age``, 300 s here;
        PyJWT's ``PyJWKClient`` and others also wait before refetching for an
        unknown ``kid``) refuse tokens signed by a key they have not fetched
        yet. A staged rotation publishes the new key at once and signs with it
        only after ``delay`` seconds, so that every cache has it by then.

        Args:
            new_key: The key to sign with; a fresh one of the same algorithm if None.
            staged: Publish first, sign after ``delay`` (implied by ``delay``).
            delay: Seconds between publishing and signing (implies ``staged``);
                :data:`~tokenauth.STAGE_DELAY` (the JWKS max-age and a minute) by default.

        Returns:
            The new key set (save it if your keys live in a file).

        Raises:
            ConfigurationError: ``delay`` is negative.
        """
        now = self._now()
        fresh = new_key or Key.generate(self._keys.signer(now).alg)
        lifetime = self.issuer.ttl + self._leeway
        self._set_keys(
            self._keys.rotated(fresh, now=now, lifetime=lifetime, staged=staged, delay=delay)
        )
        return self._keys

    # -- flows ----------------------------------------------------------------------

    def _login(self, request: Request, https: bool, now: int) -> Flow[LoginResult]:
        client = request.client
        authorization = request.authorization
        if not https:
            return (yield from self._refuse_plain_http(request, now))
        credentials = parse_basic(authorization)
        if isinstance(credentials, BadRequest):
            self._emit(EventKind.LOGIN_REFUSED, now, reason=credentials.reason, client=client)
            return credentials
        # An API key travels as the username: never log it.
        who = None if credentials.is_api_key else credentials.username
        throttle = self.throttle
        counted: tuple[tuple[str, Limit], ...] = ()
        if throttle is not None:
            # Counted before any hashing: a throttled login costs a counter step, no argon2.
            address = client_address(client, request.forwarded, self.trusted_proxies)
            counted = throttle.keys(who, address)
            wait = yield from throttle.check(counted, now=now)
            if wait:
                return self._refused(TooManyRequests.login(wait), now, who, client)
        outcome: Principal | Reason = Reason.UNKNOWN_USER
        if self.authenticator is not None:
            hashes = not credentials.is_api_key
            if hashes:
                wait = self._admit_hash()
                if wait:
                    if throttle is not None:
                        yield from throttle.unchecked(counted, now=now)
                    return self._refused(Overloaded.login(wait), now, who, client)
            try:
                outcome = yield from self.authenticator.authenticate(credentials, now=now)
            finally:
                if hashes:
                    self._release_hash()
        if isinstance(outcome, Reason):
            self._emit(EventKind.LOGIN_REFUSED, now, subject=who, reason=outcome, client=client)
            return Unauthorized.login(self.realm, outcome)
        if throttle is not None:
            yield from throttle.succeeded(counted, now=now)
        sessions = self.sessions
        session = None if sessions is None else sessions.new_id()
        ends = None if sessions is None else now + sessions.lifetime
        issued = self._issue(outcome, now, session, not_after=ends)
        record = self._stamped(issued.record, request)
        limit = self.max_tokens_per_subject
        if limit is None:
            yield Call(self.store.add, (record,))
        else:
            capped: CapOutcome = yield Call(
                self.store.add_capped, (record, limit, self.cap_policy, now)
            )
            for evicted in capped.evicted:
                self._emit(
                    EventKind.TOKEN_REVOKED, now, subject=evicted.subject, jti=evicted.jti,
                    reason=Reason.EVICTED, client=client,
                )  # fmt: skip
            if not capped.added:
                self._emit(
                    EventKind.LOGIN_REFUSED, now, subject=outcome.subject,
                    api_key_id=outcome.api_key_id, reason=Reason.TOKEN_LIMIT, client=client,
                )  # fmt: skip
                return TokenLimitReached.make(limit)
        refresh_token: str | None = None
        if sessions is not None and session is not None:
            refresh_token, first = sessions.first(session, outcome, now)
            yield Call(self.store.start_session, (first,))
        if outcome.api_key_id is not None and self.api_keys is not None:
            # A revocation may have raced this login: look again now that the token
            # is stored, so that either we see the revocation or it sees our token.
            key: ApiKeyRecord | None = yield Call(self.api_keys.get_key, (outcome.api_key_id,))
            if key is None or not key.active:
                yield Call(self.store.remove, (issued.record.jti,))
                if session is not None:
                    yield Call(self.store.revoke_session, (session,))
                self._emit(
                    EventKind.LOGIN_REFUSED, now, api_key_id=outcome.api_key_id,
                    reason=Reason.API_KEY_REVOKED, client=client,
                )  # fmt: skip
                return Unauthorized.login(self.realm, Reason.API_KEY_REVOKED)
        self._emit(
            EventKind.LOGIN_GRANTED, now, subject=outcome.subject,
            api_key_id=outcome.api_key_id, client=client,
        )  # fmt: skip
        self._emit(
            EventKind.TOKEN_ISSUED, now, subject=outcome.subject, jti=issued.claims.jti,
            api_key_id=outcome.api_key_id, client=client,
        )  # fmt: skip
        # An access token never outlives its session (see _issue).
        expires_in = self.issuer.ttl if ends is None else issued.record.expires_at - now
        return Granted(
            issued.token, expires_in, outcome, issued.claims, refresh_token=refresh_token
        )

    def _stamped(self, record: TokenRecord, request: Request) -> TokenRecord:
        """``record`` with the client and ``User-Agent`` when last use is tracked."""
        if self._next_touch is None:
            return record
        client = client_address(request.client, request.forwarded, self.trusted_proxies)
        return replace(
            record,
            client=sanitize_client(client),
            user_agent=sanitize_user_agent(request.user_agent),
        )

    def _issue(
        self,
        principal: Principal,
        now: int,
        session: str | None,
        auth_time: int | None = None,
        not_after: int | None = None,
    ) -> IssuedToken:
        """A new access token for ``principal``, of ``session`` when refresh is on.

        The built-in issuer also ends the token with its session (``not_after``);
        a token issuer of your own keeps its own lifetimes.
        """
        issuer = self.issuer
        if isinstance(issuer, JWTIssuer):
            return issuer.issue(
                principal, now=now, auth_time=auth_time, session=session, not_after=not_after
            )
        issued = issuer.issue(principal, now=now)
        if session is None:
            return issued
        return replace(issued, record=replace(issued.record, session=session))

    def _refresh(
        self, request: Request, https: bool, now: int, body: bytes, content_type: str | None
    ) -> Flow[RefreshResult]:
        client = request.client
        if not https:
            refused = yield from self._refuse_plain_http(request, now)
            yield from self._revoke_exposed_refresh(body, content_type, now, client)
            return refused
        grant = parse_token_form(body, content_type)
        sessions = self.sessions
        if isinstance(grant, BadRequest) or sessions is None:
            bad = grant if isinstance(grant, BadRequest) else BadRequest.token_request(
                "unsupported_grant_type", Reason.REFRESH_DISABLED,
                "Refresh tokens are not enabled on this server.",
            )  # fmt: skip
            self._emit(EventKind.REFRESH_REFUSED, now, reason=bad.reason, client=client)
            return bad
        found = yield from self._refresh_record(grant.refresh_token)
        if found is None:
            return self._refused_grant(Reason.UNKNOWN_REFRESH_TOKEN, now, None, client)
        digest, record = found
        if record.used:
            # RFC 9700 section 4.14.2: a rotated-out token came back, from its
            # holder or from a thief; the session cannot tell which, so it ends.
            return (yield from self._end_session(record, Reason.REFRESH_TOKEN_REUSED, now, client))
        if record.expires_at <= now:
            return self._refused_grant(Reason.REFRESH_TOKEN_EXPIRED, now, record, client)
        scope = yield from self._session_scope(record)
        if scope is None:
            return (yield from self._end_session(record, Reason.SESSION_ENDED, now, client))
        if grant.scope is not None:
            if not set(grant.scope) <= set(scope):
                wider = BadRequest.token_request(
                    "invalid_scope", Reason.INVALID_SCOPE,
                    "The scope asked for is wider than the session's.",
                )  # fmt: skip
                self._emit(
                    EventKind.REFRESH_REFUSED, now, subject=record.subject,
                    reason=wider.reason, client=client, session=record.session,
                )  # fmt: skip
                return wider
            scope = grant.scope
        principal = Principal(record.subject, record.method, record.api_key_id, scope)
        issued = self._issue(
            principal, now, record.session, record.auth_time, record.session_expires_at
        )
        token, successor = sessions.successor(record, now)
        access = self._stamped(issued.record, request)
        won = yield Call(self.store.rotate_refresh, (digest, successor, access, now))
        if not won:
            # Another request traded it first (or the session ended meanwhile): the
            # same token presented twice is reuse, whichever came first.
            return (yield from self._end_session(record, Reason.REFRESH_TOKEN_REUSED, now, client))
        self._emit(
            EventKind.TOKEN_REFRESHED, now, subject=record.subject, jti=issued.claims.jti,
            api_key_id=record.api_key_id, client=client, session=record.session,
        )  # fmt: skip
        return Granted(
            issued.token, issued.record.expires_at - now, principal, issued.claims,
            refresh_token=token,
        )  # fmt: skip

    def _refresh_record(self, token: str) -> Flow[tuple[str, RefreshRecord] | None]:
        """The digest and record of a refresh token, if it is one the store knows."""
        sessions = self.sessions
        if sessions is None or token_session(token) is None:
            return None
        digest = sessions.digest(token)
        record: RefreshRecord | None = yield Call(self.store.get_refresh, (digest,))
        if record is None or not hmac.compare_digest(record.digest, digest):
            return None
        return digest, record

    def _session_scope(self, record: RefreshRecord) -> Flow[tuple[str, ...] | None]:
        """The scope a session still has, or None when its login would now be refused.

        A disabled or deleted user, or a revoked API key, ends the session even if
        the revocation did not reach the store; and the session keeps only the
        scopes its user or key still has.
        """
        current: tuple[str, ...] | None = None
        if record.method == "password" and self.users is not None:
            user: UserRecord | None = yield Call(self.users.get_user, (record.subject,))
            if user is None or user.disabled:
                return None
            current = user.scope
        elif record.api_key_id is not None and self.api_keys is not None:
            key: ApiKeyRecord | None = yield Call(self.api_keys.get_key, (record.api_key_id,))
            if key is None or not key.active or key.subject != record.subject:
                return None
            current = key.scope
        if current is None:
            return record.scope
        return tuple(s for s in record.scope if s in current)

    def _refused_grant(
        self, reason: Reason, now: int, record: RefreshRecord | None, client: str | None
    ) -> InvalidGrant:
        self._emit(
            EventKind.REFRESH_REFUSED, now, reason=reason, client=client,
            subject=None if record is None else record.subject,
            session=None if record is None else record.session,
        )  # fmt: skip
        return InvalidGrant.make(reason)

    def _end_session(
        self, record: RefreshRecord, reason: Reason, now: int, client: str | None
    ) -> Flow[InvalidGrant]:
        """End ``record``'s session (every token of its login) and refuse the grant."""
        count: int = yield Call(self.store.revoke_session, (record.session,))
        self._emit(
            EventKind.SESSION_REVOKED, now, subject=record.subject, reason=reason,
            api_key_id=record.api_key_id, client=client, count=count, session=record.session,
        )  # fmt: skip
        return self._refused_grant(reason, now, record, client)

    def _revoke_exposed_refresh(
        self, body: bytes, content_type: str | None, now: int, client: str | None
    ) -> Flow[None]:
        """End the session of a refresh token sent over plain HTTP: it has been exposed."""
        grant = parse_token_form(body, content_type)
        if isinstance(grant, BadRequest):
            return
        try:
            found = yield from self._refresh_record(grant.refresh_token)
            if found is not None:
                record = found[1]
                count: int = yield Call(self.store.revoke_session, (record.session,))
                self._emit(
                    EventKind.SESSION_REVOKED, now, subject=record.subject,
                    reason=Reason.HTTPS_REQUIRED, client=client, count=count,
                    session=record.session,
                )  # fmt: skip
        except _STORE_FAILURES:
            _log.error("could not revoke a refresh token sent over plain HTTP: store unavailable")

    def _check_token(self, token: str, now: int, client: str | None) -> Flow[AuthResult]:
        result = self.validator.validate(token, now=now)
        if isinstance(result, TokenRejected):
            if result.reason is Reason.EXPIRED and result.claims is not None:
                # The contract: an expired token is removed when validation meets it.
                # Only a token whose signature checked out gets here, so nobody can
                # delete another token by sending a forged jti.
                removed = yield Call(self.store.remove, (result.claims.jti,))
                if removed:
                    self._emit(
                        EventKind.TOKEN_EXPIRED_REMOVED, now, subject=result.claims.sub,
                        jti=result.claims.jti, client=client,
                    )  # fmt: skip
            self._emit(EventKind.TOKEN_REJECTED, now, reason=result.reason, client=client)
            return Unauthorized.invalid_token(self.realm, result.reason, result.description)
        record = yield call_of(self.store.get, (result.jti,))
        if record is None or record.subject != result.sub:
            self._emit(
                EventKind.TOKEN_REJECTED, now, subject=result.sub, jti=result.jti,
                reason=Reason.REVOKED, client=client,
            )  # fmt: skip
            return Unauthorized.invalid_token(
                self.realm, Reason.REVOKED, "The token has been revoked."
            )
        principal = principal_of(
            record.subject, record.method, record.api_key_id, result.scope, result.extra
        )
        due = self._next_touch
        if due is not None and due.get(record.jti, 0) <= now:
            yield from self._touch(record, now)
        return authenticated_of(principal, result, token)

    def _touch(self, record: TokenRecord, now: int) -> Flow[None]:
        """Write a token's last use, once its interval has passed; a failure is only logged.

        The callers test ``_next_touch.get(jti, 0) <= now`` themselves: on a warm
        token, that lookup and comparison is all it costs.
        """
        due = self._next_touch
        if due is None or not self._claim_touch(due, record.jti, now):
            return
        try:
            yield Call(self.store.touch, (record, now))
        except _STORE_FAILURES as exc:
            self._touch_failed(record.jti, exc)

    def _list_sessions(self, subject: str) -> Flow[tuple[Session, ...]]:
        now = self._now()
        store = self.store
        if callable(getattr(store, "list_sessions", None)):
            sessions: list[Session] = yield Call(store.list_sessions, (subject,))
        else:
            records: list[TokenRecord] = yield Call(store.list_subject, (subject,))
            sessions = [Session.of(r) for r in records]
        # Tokens past the leeway are refused: they are no session any more.
        return tuple(s for s in sessions if s.expires_at + self._leeway > now)

    def _refuse_plain_http(self, request: Request, now: int) -> Flow[HttpsRequired]:
        """Refuse a plain-HTTP request, revoking every credential it exposed.

        RFC 6750 section 5.3: a bearer token sent in clear is compromised, so each
        candidate the request carries (see ``tokenauth._http.exposed_credentials``;
        whatever shape the request has, on every path) is revoked if it validates.
        An API key found among them is named by its id in the event, and revoked
        too when ``revoke_exposed_api_keys`` is set.
        """
        client = request.client
        candidates = exposed_credentials(request.authorization, request.query)
        key_ids: list[str] = []
        for candidate in candidates:
            if is_well_formed_api_key(candidate):
                key_id = yield from self._exposed_api_key(candidate)
                if key_id is not None:
                    key_ids.append(key_id)
        self._emit(
            EventKind.HTTPS_VIOLATION, now, client=client,
            api_key_id=key_ids[0] if key_ids else None,
        )  # fmt: skip
        for candidate in candidates:
            if not is_well_formed_api_key(candidate):
                yield from self._revoke_exposed(candidate, now, client)
        if self.revoke_exposed_api_keys:
            for key_id in key_ids:
                try:
                    yield from self._revoke_api_key(key_id)
                except (*_STORE_FAILURES, ConfigurationError):
                    _log.error("could not revoke an API key sent over plain HTTP")
        return HttpsRequired.make()

    def _exposed_api_key(self, key: str) -> Flow[str | None]:
        """The id of the registered API key ``key``, if it is one."""
        if self.api_keys is None or self._pepper is None:
            return None
        digest = api_key_digest(key, self._pepper)
        try:
            record: ApiKeyRecord | None = yield Call(self.api_keys.find_by_digest, (digest,))
        except _STORE_FAILURES:
            _log.error("could not look up an API key sent over plain HTTP: registry unavailable")
            return None
        if record is None or not hmac.compare_digest(record.digest, digest):
            return None
        return record.key_id

    def _revoke_exposed(self, token: str, now: int, client: str | None) -> Flow[None]:
        result = self.validator.validate(token, now=now)
        claims = result if isinstance(result, Claims) else result.claims
        if claims is None:
            return
        try:
            removed = yield Call(self.store.remove, (claims.jti,))
        except _STORE_FAILURES:
            _log.error("could not revoke a token sent over plain HTTP: the store is unavailable")
            return
        if removed:
            self._emit(
                EventKind.TOKEN_REVOKED, now, subject=claims.sub, jti=claims.jti,
                reason=Reason.HTTPS_REQUIRED, client=client,
            )  # fmt: skip

    def _authenticate(self, request: Request, https: bool, now: int) -> Flow[AuthResult]:
        client = request.client
        token = extract_bearer(
            request.authorization,
            request.query,
            realm=self.realm,
            allow_query=self.allow_query_token,
        )
        if not https:
            return (yield from self._refuse_plain_http(request, now))
        if isinstance(token, BadRequest):
            self._emit(EventKind.TOKEN_REJECTED, now, reason=token.reason, client=client)
            return token
        if token is None:
            return self._no_token
        return (yield from self._check_token(token, now, client))

    def _logout(self, token: str) -> Flow[LogoutResult]:
        now = self._now()
        result = yield from self._check_token(token, now, None)
        if not isinstance(result, Authenticated):
            return result
        removed = yield Call(self.store.remove, (result.claims.jti,))
        if removed:
            self._emit(
                EventKind.TOKEN_REVOKED, now, subject=result.claims.sub, jti=result.claims.jti
            )
        return LoggedOut(result.claims)

    def _revoke(self, jti: str) -> Flow[bool]:
        removed: bool = yield Call(self.store.remove, (jti,))
        if removed:
            self._emit(EventKind.TOKEN_REVOKED, self._now(), jti=jti)
        return removed

    def _revoke_subject(self, subject: str) -> Flow[int]:
        count: int = yield Call(self.store.remove_subject, (subject,))
        if self._ends_sessions:
            # After the access tokens: a refresh racing this ends with its session.
            yield Call(self.store.revoke_sessions, (subject,))
        self._emit(EventKind.SUBJECT_REVOKED, self._now(), subject=subject, count=count)
        return count

    def _revoke_sessions(self, subject: str) -> Flow[int]:
        if not self._ends_sessions:
            return 0
        count: int = yield Call(self.store.revoke_sessions, (subject,))
        self._emit(EventKind.SESSION_REVOKED, self._now(), subject=subject, count=count)
        return count

    def _disable_user(self, username: str) -> Flow[int]:
        if self.users is None:
            raise ConfigurationError("no user registry is configured")
        found: bool = yield Call(self.users.set_disabled, (username, True))
        if not found:
            raise ConfigurationError(f"no user named {username!r}")
        # Disabled first, then the tokens: a login racing this is refused, or its
        # token is among those removed here.
        return (yield from self._revoke_subject(username))

    def _revoke_api_key(self, key_id: str) -> Flow[int]:
        registry = self.api_keys
        if registry is None:
            raise ConfigurationError("no API-key registry is configured")
        now = self._now()
        key: ApiKeyRecord | None = yield Call(registry.get_key, (key_id,))
        if key is None:
            raise ConfigurationError(f"no API key with id {key_id!r}")
        yield Call(registry.revoke_key, (key_id, now))
        # Revoked first, then its tokens: a login racing this either sees the
        # revocation when it looks again (see _login) or left a token we find here.
        records = yield Call(self.store.list_subject, (key.subject,))
        count = 0
        for record in records:
            if record.api_key_id == key_id:
                count += bool((yield Call(self.store.remove, (record.jti,))))
        if self._ends_sessions:
            yield Call(self.store.revoke_sessions, (key.subject, key_id))
        self._emit(
            EventKind.API_KEY_REVOKED, now, subject=key.subject, api_key_id=key_id, count=count
        )
        return count

    def _require_api_keys(self) -> tuple[Any, bytes]:
        if self.api_keys is None or self._pepper is None:
            raise ConfigurationError("no API-key registry is configured")
        return self.api_keys, self._pepper

    def _create_api_key(
        self, subject: str, name: str, scope: tuple[str, ...]
    ) -> Flow[tuple[str, ApiKeyRecord]]:
        registry, pepper = self._require_api_keys()
        key, record = generate_api_key(
            subject=subject, name=name, pepper=pepper, now=self._now(), scope=scope
        )
        yield Call(registry.add_key, (record,))
        return key, record

    def _add_user(self, username: str, password: str, scope: tuple[str, ...]) -> Flow[UserRecord]:
        if self.users is None:
            raise ConfigurationError("no user registry is configured")
        record: UserRecord = yield Call(self._new_user, (username, password, scope), blocking=True)
        yield Call(self.users.add_user, (record,))
        return record

    def _new_user(self, username: str, password: str, scope: tuple[str, ...]) -> UserRecord:
        return new_user(username, password, now=self._now(), scope=scope, hasher=self._hasher)

    def _purge_expired(self) -> Flow[int]:
        # Past the leeway only: a token inside it is still accepted, so its record stays.
        count: int = yield Call(self.store.purge_expired, (self._now() - self._leeway,))
        if self._ends_sessions:
            # Refresh tokens have no leeway: an expired one is refused at once.
            yield Call(self.store.purge_refresh, (self._now(),))
        return count


class TokenAuth(_Flows):
    """The synchronous front door: log in, authenticate requests, revoke.

    Args:
        keys: The key set tokens are signed and verified with.
        store: Where issued tokens are recorded (see :func:`~tokenauth.open_store`).
        users: The user registry for password logins, if any.
        api_keys: The API-key registry for API-key logins, if any (needs ``pepper``).
        pepper: The server-side secret API-key digests are keyed with (32+ bytes).
        authenticator: Replaces the built-in password and API-key authenticators.
        hasher: The argon2 hasher for passwords (default: RFC 9106 low-memory).
        issuer: The ``iss`` claim to put in tokens and require (default
            :data:`~tokenauth.DEFAULT_ISSUER`).
        audience: The ``aud`` claim to put in tokens and require (default: the
            issuer when given, else :data:`~tokenauth.DEFAULT_AUDIENCE`).
        ttl: Token lifetime in seconds.
        leeway: Seconds of clock skew tolerated.
        realm: The realm named in ``WWW-Authenticate`` challenges.
        allow_query_token: Accept ``?token=`` (discouraged; on by default).
        revoke_exposed_api_keys: Revoke an API key (and its tokens) that a request
            sent over plain HTTP; by default it is only named, by key id, in the
            ``https_violation`` event.
        trusted_proxies: Addresses whose ``Forwarded``/``X-Forwarded-Proto`` count,
            or a :class:`~tokenauth.TrustedProxies` (to choose how conflicting
            headers are read).
        clock: Returns the current Unix time; inject a frozen one in tests.
        on_event: Called with every :class:`~tokenauth.SecurityEvent`.
        token_issuer: Replaces the built-in JWT issuer.
        token_validator: Replaces the built-in JWT validator.
        client_id: The ``client_id`` claim of tokens (RFC 9068; default
            :data:`~tokenauth.DEFAULT_CLIENT_ID`).
        extra_claims: Called with the principal at each login; returns the
            application's own claims for the token (see :class:`~tokenauth.JWTIssuer`).
        throttle: Counts failed logins per account and per client address and
            answers 429 past its limits, before any password is hashed (see
            :class:`~tokenauth.LoginThrottle`). None (the default) throttles nothing.
        refresh_ttl: Turns refresh tokens on (RFC 6749 section 6): each login
            answer then carries a ``refresh_token``, which :meth:`refresh` trades
            for a new token pair, once. The seconds each refresh token lives (60 s
            to a year), or True for :data:`~tokenauth.DEFAULT_REFRESH_TTL` (14
            days). None (the default) leaves refresh off. The store must keep
            refresh tokens (:class:`~tokenauth.RefreshStore`).
        session_lifetime: The most seconds a login session lasts, whatever the
            refreshes (default :data:`~tokenauth.DEFAULT_SESSION_LIFETIME`, 30 days).
        max_tokens_per_subject: The most live (unexpired) tokens one subject may
            hold at once; None (the default) caps nothing. Needs a store with
            ``add_capped`` (:class:`~tokenauth.CappedTokenStore`; every built-in one has it).
        cap_policy: At the cap, ``"refuse"`` the login (403
            :class:`~tokenauth.TokenLimitReached`) or ``"evict_oldest"``: revoke the
            subject's oldest live tokens to make room.
        track_last_use: Keep each token's last use, client address and
            ``User-Agent`` (see :meth:`list_sessions`). Needs a store with ``touch``
            and ``list_sessions`` (:class:`~tokenauth.SessionStore`). Off by default.
        last_use_interval: Seconds between two writes of one token's last use
            from this process (default 60): a request writes nothing unless its
            token's last write from this process is that old.
        max_concurrent_hashes: Password hashes allowed at once; a login beyond
            them waits in its server thread for a slot. By default, as many as
            keep argon2's threads (each hash runs ``parallelism`` lanes) within
            the machine's cores, and at least one: with the default profile (4
            lanes), 1 on up to 7 cores, 2 on 8.
        max_login_wait: The longest a password login may expect to wait for
            its hash, in seconds (default 3). A login expected to wait longer is
            answered 503 with ``Retry-After`` at once, instead of queueing (see
            :class:`~tokenauth.Overloaded`); token validations are never shed.
            None queues every login, however long the wait.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        keys: KeySet,
        store: TokenStore,
        users: UserRegistry | None = None,
        api_keys: ApiKeyRegistry | None = None,
        pepper: bytes | None = None,
        authenticator: Authenticator | None = None,
        hasher: argon2.PasswordHasher | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        ttl: int = 3600,
        leeway: int = 5,
        realm: str = "api",
        allow_query_token: bool = True,
        revoke_exposed_api_keys: bool = False,
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        clock: Clock = system_clock,
        on_event: EventHook | None = None,
        token_issuer: TokenIssuer | None = None,
        token_validator: TokenValidator | None = None,
        client_id: str | None = None,
        extra_claims: ExtraClaims | None = None,
        throttle: LoginThrottle | None = None,
        refresh_ttl: int | bool | None = None,
        session_lifetime: int | None = None,
        max_tokens_per_subject: int | None = None,
        cap_policy: CapPolicy = "refuse",
        track_last_use: bool = False,
        last_use_interval: int = 60,
        max_concurrent_hashes: int | None = None,
        max_login_wait: float | None = 3.0,
    ) -> None:
        """Configure; see the class docstring for the arguments."""
        super().__init__(
            keys=keys, store=store, users=users, api_keys=api_keys, pepper=pepper,
            authenticator=authenticator, hasher=hasher, issuer=issuer, audience=audience,
            ttl=ttl, leeway=leeway, realm=realm, allow_query_token=allow_query_token,
            revoke_exposed_api_keys=revoke_exposed_api_keys, trusted_proxies=trusted_proxies,
            clock=clock, on_event=on_event, token_issuer=token_issuer,
            token_validator=token_validator, throttle=throttle,
            client_id=client_id, extra_claims=extra_claims,
            refresh_ttl=refresh_ttl, session_lifetime=session_lifetime,
            max_tokens_per_subject=max_tokens_per_subject, cap_policy=cap_policy,
            track_last_use=track_last_use, last_use_interval=last_use_interval,
            max_concurrent_hashes=max_concurrent_hashes, max_login_wait=max_login_wait,
        )  # fmt: skip

    @overload
    def login(self, request: Request, /) -> LoginResult: ...

    @overload
    def login(
        self, authorization: str | None, /, **fields: Unpack[RequestFields]
    ) -> LoginResult: ...

    def login(self, request: Request | str | None, /, **fields: Any) -> LoginResult:
        """Trade Basic credentials for a token.

        Pass the request as a :class:`~tokenauth.Request`, or in keyword form:
        the ``Authorization`` header value (or None) and any other fields of
        :class:`~tokenauth.Request` as keywords, ``secure`` among them.

        Returns:
            :class:`Granted` (200), or a failure to render as it says.

        Raises:
            TypeError: Neither a Request nor ``secure=`` was given, or both.
        """
        if not isinstance(request, Request):
            request = _keyword_request(request, fields)
        elif fields:
            raise TypeError(_BOTH_FORMS)
        now = self._now()
        flow = self._login(request, self.is_https(request), now)
        return run_sync(self._guarded(flow, now, request.client), self._hashes)

    def refresh(
        self, request: Request, /, *, body: bytes, content_type: str | None
    ) -> RefreshResult:
        """Answer a token request: trade a refresh token for a new token pair.

        For ``POST /token`` with a form body (``grant_type=refresh_token&
        refresh_token=...``); see :func:`~tokenauth.parse_token_form` for what
        is accepted. The refresh token presented stops working; presenting it
        again ends its whole login session.

        Args:
            request: The request (its ``secure`` flag and client matter here).
            body: The request body, read with a limit: at most
                :data:`~tokenauth.MAX_FORM_BODY` + 1 bytes.
            content_type: The ``Content-Type`` header, or None.

        Returns:
            :class:`Granted` (200, with a new ``refresh_token``), or a failure to
            render as it says: :class:`BadRequest` and :class:`InvalidGrant`
            (400), :class:`HttpsRequired`, :class:`StoreUnavailable`.
        """
        now = self._now()
        flow = self._refresh(request, self.is_https(request), now, body, content_type)
        return run_sync(self._guarded(flow, now, request.client))

    @overload
    def authenticate(self, request: Request, /) -> AuthResult: ...

    @overload
    def authenticate(
        self, authorization: str | None, /, **fields: Unpack[RequestFields]
    ) -> AuthResult: ...

    def authenticate(self, request: Request | str | None, /, **fields: Any) -> AuthResult:
        """Check the token of a request to a secured path.

        Pass the request as a :class:`~tokenauth.Request`, or in keyword form:
        the ``Authorization`` header value (or None) and any other fields of
        :class:`~tokenauth.Request` as keywords, ``secure`` among them.

        Returns:
            :class:`Authenticated`, or a failure to render as it says.

        Raises:
            TypeError: Neither a Request nor ``secure=`` was given, or both.
        """
        if not isinstance(request, Request):
            request = _keyword_request(request, fields)
        elif fields:
            raise TypeError(_BOTH_FORMS)
        now = int(self._time())  # self._now(), without the call: this is the request path
        https = self.is_https(request)
        if self._recent:
            recent = self._recent_hit(request, https, now)
            if recent is not None:
                try:
                    record = self.store.get(recent.claims.jti)
                except _STORE_FAILURES as exc:
                    return self._unavailable(exc, now, request.client)
                if self._still_stored(recent, record, request.authorization):
                    due = self._next_touch
                    if due is not None and due.get(record.jti, 0) <= now:
                        run_sync(self._touch(record, now))
                    return recent
        flow = self._authenticate(request, https, now)
        result = run_sync(self._guarded(flow, now, request.client))
        self._remember(request, result)
        return result

    def logout(self, token: str) -> LogoutResult:
        """Revoke ``token`` after validating it; :class:`LoggedOut` renders 204."""
        return run_sync(self._guarded(self._logout(token), self._now(), None))

    def health(self) -> Health:
        """Ask the store and registries one cheap question each; never raises.

        Serve it as a health check: ``health.status``, ``health.headers`` and
        ``health.body`` (which never carries the ``detail``).
        """
        return self._reported(run_sync(health_flow(self.store, self.users, self.api_keys)))

    def check(self) -> Health:
        """Call at start-up: fail now, with the fix, if the store is not set up.

        Returns:
            The store's health. A store that does not answer is logged and
            returned, not raised: it may come up after this process.

        Raises:
            ConfigurationError: The store or a registry answered but cannot be
                used (tables missing, unknown database); the message names the fix.
        """
        return self._ready(self.health())

    def revoke(self, jti: str) -> bool:
        """Remove one token by ``jti``; True if it was stored. Raises StoreError on failure."""
        return run_sync(self._revoke(jti))

    def revoke_subject(self, subject: str) -> int:
        """Revoke every token of ``subject`` ("log out everywhere"); returns how many."""
        return run_sync(self._revoke_subject(subject))

    def list_sessions(self, subject: str) -> tuple[Session, ...]:
        """The subject's tokens that still work, oldest first, with their last use.

        ``last_used_at``, ``client`` and ``user_agent`` are filled in with
        ``track_last_use=True`` (on a store that keeps them), else None. Revoke
        one with :meth:`revoke` by its ``jti``. Raises StoreError on failure.
        """
        return run_sync(self._list_sessions(subject))

    def revoke_sessions(self, subject: str) -> int:
        """End every login session of ``subject``: its refresh tokens and their access tokens.

        Tokens issued without refresh tokens stay (see :meth:`revoke_subject` for all).
        Use it when a password changes but the tokens already issued may stay
        until they expire. A store without refresh tokens has none to end: 0.

        Returns:
            How many sessions were ended.
        """
        return run_sync(self._revoke_sessions(subject))

    def refuse_plain_http(self, request: Request) -> HttpsRequired:
        """Refuse a plain-HTTP request to a path of a binding's own (403), revoking what it exposed.

        :meth:`login` and :meth:`authenticate` do this themselves; a binding calls
        it for the rest (a JWKS document, a 405, a plain-HTTP listener), so that
        every path revokes the tokens (and reports the API keys) a request sent
        in clear, whatever its shape.
        """
        return run_sync(self._refuse_plain_http(request, self._now()))

    def disable_user(self, username: str) -> int:
        """Refuse ``username``'s logins from now on and revoke every token of theirs.

        Disabling through the registry alone (``users.set_disabled``) leaves
        the tokens already issued working until they expire; this does not.

        Returns:
            How many tokens were revoked.

        Raises:
            ConfigurationError: No user registry, or no such user.
        """
        return run_sync(self._disable_user(username))

    def revoke_api_key(self, key_id: str) -> int:
        """Revoke an API key and every token it issued; returns how many tokens."""
        return run_sync(self._revoke_api_key(key_id))

    def create_api_key(
        self, subject: str, name: str = "", *, scope: tuple[str, ...] = ()
    ) -> tuple[str, ApiKeyRecord]:
        """Create and register an API key; returns the key (shown once) and its record."""
        return run_sync(self._create_api_key(subject, name, scope))

    def add_user(self, username: str, password: str, *, scope: tuple[str, ...] = ()) -> UserRecord:
        """Hash the password and register a new user."""
        return run_sync(self._add_user(username, password, scope), self._hashes)

    def purge_expired(self) -> int:
        """Remove every token expired past the leeway from the store; returns how many."""
        return run_sync(self._purge_expired())


class AsyncTokenAuth(_Flows):
    """The asynchronous front door; the same decisions as :class:`TokenAuth`.

    Password hashing runs in worker threads, at most ``max_concurrent_hashes``
    at once, so a flood of logins can neither block the event loop nor starve
    token validation. The arguments are those of :class:`TokenAuth`
    (``max_concurrent_hashes`` and ``max_login_wait`` among them).
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        keys: KeySet,
        store: AsyncTokenStore,
        users: UserRegistry | AsyncUserRegistry | None = None,
        api_keys: ApiKeyRegistry | AsyncApiKeyRegistry | None = None,
        pepper: bytes | None = None,
        authenticator: Authenticator | None = None,
        hasher: argon2.PasswordHasher | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        ttl: int = 3600,
        leeway: int = 5,
        realm: str = "api",
        allow_query_token: bool = True,
        revoke_exposed_api_keys: bool = False,
        trusted_proxies: Iterable[str] | TrustedProxies = (),
        clock: Clock = system_clock,
        on_event: EventHook | None = None,
        token_issuer: TokenIssuer | None = None,
        token_validator: TokenValidator | None = None,
        client_id: str | None = None,
        extra_claims: ExtraClaims | None = None,
        throttle: LoginThrottle | None = None,
        max_tokens_per_subject: int | None = None,
        cap_policy: CapPolicy = "refuse",
        track_last_use: bool = False,
        last_use_interval: int = 60,
        max_concurrent_hashes: int | None = None,
        max_login_wait: float | None = 3.0,
        refresh_ttl: int | bool | None = None,
        session_lifetime: int | None = None,
    ) -> None:
        """Configure; see :class:`TokenAuth` for the arguments."""
        super().__init__(
            keys=keys, store=store, users=users, api_keys=api_keys, pepper=pepper,
            authenticator=authenticator, hasher=hasher, issuer=issuer, audience=audience,
            ttl=ttl, leeway=leeway, realm=realm, allow_query_token=allow_query_token,
            revoke_exposed_api_keys=revoke_exposed_api_keys, trusted_proxies=trusted_proxies,
            clock=clock, on_event=on_event, token_issuer=token_issuer,
            token_validator=token_validator, throttle=throttle,
            client_id=client_id, extra_claims=extra_claims,
            refresh_ttl=refresh_ttl, session_lifetime=session_lifetime,
            max_tokens_per_subject=max_tokens_per_subject, cap_policy=cap_policy,
            track_last_use=track_last_use, last_use_interval=last_use_interval,
            max_concurrent_hashes=max_concurrent_hashes, max_login_wait=max_login_wait,
        )  # fmt: skip

    @overload
    async def login(self, request: Request, /) -> LoginResult: ...

    @overload
    async def login(
        self, authorization: str | None, /, **fields: Unpack[RequestFields]
    ) -> LoginResult: ...

    async def login(self, request: Request | str | None, /, **fields: Any) -> LoginResult:
        """Trade Basic credentials for a token; see :meth:`TokenAuth.login`."""
        if not isinstance(request, Request):
            request = _keyword_request(request, fields)
        elif fields:
            raise TypeError(_BOTH_FORMS)
        now = self._now()
        flow = self._login(request, self.is_https(request), now)
        return await run_async(self._guarded(flow, now, request.client), self._hashes)

    async def refresh(
        self, request: Request, /, *, body: bytes, content_type: str | None
    ) -> RefreshResult:
        """Trade a refresh token for a new token pair; see :meth:`TokenAuth.refresh`."""
        now = self._now()
        flow = self._refresh(request, self.is_https(request), now, body, content_type)
        return await run_async(self._guarded(flow, now, request.client))

    @overload
    async def authenticate(self, request: Request, /) -> AuthResult: ...

    @overload
    async def authenticate(
        self, authorization: str | None, /, **fields: Unpack[RequestFields]
    ) -> AuthResult: ...

    async def authenticate(self, request: Request | str | None, /, **fields: Any) -> AuthResult:
        """Check the token of a request; see :meth:`TokenAuth.authenticate`."""
        if not isinstance(request, Request):
            request = _keyword_request(request, fields)
        elif fields:
            raise TypeError(_BOTH_FORMS)
        now = int(self._time())  # self._now(), without the call: this is the request path
        https = self.is_https(request)
        if self._recent:
            recent = self._recent_hit(request, https, now)
            if recent is not None:
                try:
                    record: Any = self.store.get(recent.claims.jti)
                    if type(record) is CoroutineType or awaitable(record):
                        record = await record
                except _STORE_FAILURES as exc:
                    return self._unavailable(exc, now, request.client)
                if self._still_stored(recent, record, request.authorization):
                    due = self._next_touch
                    if due is not None and due.get(record.jti, 0) <= now:
                        await run_async(self._touch(record, now))
                    return recent
        flow = self._authenticate(request, https, now)
        result = await run_async(self._guarded(flow, now, request.client))
        self._remember(request, result)
        return result

    async def logout(self, token: str) -> LogoutResult:
        """Revoke ``token`` after validating it; :class:`LoggedOut` renders 204."""
        return await run_async(self._guarded(self._logout(token), self._now(), None))

    async def health(self) -> Health:
        """Ask the store and registries one cheap question each; never raises."""
        return self._reported(await run_async(health_flow(self.store, self.users, self.api_keys)))

    async def check(self) -> Health:
        """Call at start-up: fail now, with the fix, if the store is not set up.

        Raises:
            ConfigurationError: The store or a registry answered but cannot be
                used (tables missing, unknown database); the message names the fix.
        """
        return self._ready(await self.health())

    async def revoke(self, jti: str) -> bool:
        """Remove one token by ``jti``; True if it was stored."""
        return await run_async(self._revoke(jti))

    async def revoke_subject(self, subject: str) -> int:
        """Revoke every token of ``subject``; returns how many."""
        return await run_async(self._revoke_subject(subject))

    async def list_sessions(self, subject: str) -> tuple[Session, ...]:
        """The subject's tokens that still work; see :meth:`TokenAuth.list_sessions`."""
        return await run_async(self._list_sessions(subject))

    async def revoke_sessions(self, subject: str) -> int:
        """End every login session of ``subject``; see :meth:`TokenAuth.revoke_sessions`."""
        return await run_async(self._revoke_sessions(subject))

    async def refuse_plain_http(self, request: Request) -> HttpsRequired:
        """Refuse a plain-HTTP request, revoking what it exposed.

        See :meth:`TokenAuth.refuse_plain_http`.
        """
        return await run_async(self._refuse_plain_http(request, self._now()))

    async def disable_user(self, username: str) -> int:
        """Refuse the user's logins and revoke their tokens; see :meth:`TokenAuth.disable_user`."""
        return await run_async(self._disable_user(username))

    async def revoke_api_key(self, key_id: str) -> int:
        """Revoke an API key and every token it issued; returns how many tokens."""
        return await run_async(self._revoke_api_key(key_id))

    async def create_api_key(
        self, subject: str, name: str = "", *, scope: tuple[str, ...] = ()
    ) -> tuple[str, ApiKeyRecord]:
        """Create and register an API key; returns the key (shown once) and its record."""
        return await run_async(self._create_api_key(subject, name, scope))

    async def add_user(
        self, username: str, password: str, *, scope: tuple[str, ...] = ()
    ) -> UserRecord:
        """Hash the password (off the loop) and register a new user."""
        return await run_async(self._add_user(username, password, scope), self._hashes)

    async def purge_expired(self) -> int:
        """Remove every token expired past the leeway from the store; returns how many."""
        return await run_async(self._purge_expired())
