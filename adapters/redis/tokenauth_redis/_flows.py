"""The store's logic, written once as generators that yield Redis commands (sans-IO).

Each store operation is a generator: it yields the commands it needs (values of
the small classes below), receives each reply, and returns its result. The
synchronous and the asynchronous store only run these generators against
redis-py's clients; a failed command is thrown back into the generator as a
:class:`~tokenauth.StoreError`, so a best-effort step can choose to carry on.

Layout, for a key prefix ``P`` (``tokenauth:`` by default)::

    P t:<jti>            the record: a string, JSON, with a Redis TTL ending MAX_LEEWAY
                         (300 s) after expires_at
    P s:<digest>         the subject's index: a sorted set of "<nonce><jti>" members,
                         each scored by its record's expires_at
    P u:<digest>         the subject's last uses (last-use tracking only): a hash from
                         "<nonce><jti>" to a Unix time, expiring with the index

``<digest>`` is the first 128 bits of SHA-256 of the subject, in hex: subjects
may hold any character (``{`` and ``}`` included, which would change Cluster
hash tags) and may be personal data, so they never appear in key names.
``<nonce>`` is 16 random hex digits drawn by each ``add``; the record holds it too,
so an index entry names one stored instance of a record, never a later record
that happens to reuse its jti.

Guarantees, in a single Redis and in Redis Cluster alike (no command touches
two keys, so the record and its index may live on different nodes):

- The record key is the truth. ``add`` is ``SET NX PXAT`` (create only if
  absent, expiring ``MAX_LEEWAY`` after the token, so that a token inside the
  core's leeway is judged as on every other store), ``get`` is one ``GET``, ``remove`` is one
  ``GETDEL``: each atomic, and of concurrent removals exactly one sees the record.
- Every stored record is in its subject's index: ``add`` writes the index entry
  before the record, and an entry is only deleted after its own record is gone
  (by the caller that removed it, or once it is more than a minute past its
  record's Redis expiry). The index may hold stale entries (a removal whose cleanup failed, a
  refused duplicate, a crash between two steps); readers skip any entry whose
  record is missing or carries another nonce, so stale entries cost space, never
  correctness.
- ``remove_subject`` and ``purge_expired`` delete each record with a
  compare-and-delete script on its own key, so a record replaced in between is
  never deleted by mistake. They are not one atomic step across records: a record
  added while they run may survive them, as if it had been added just after.
- ``add_capped`` never leaves a subject more than its cap of live records: a
  script on the index key alone admits the new entry only while the index holds
  fewer live entries (score above ``now``) than the cap, and the record is
  written after its entry. Since every stored record has its entry, the index
  counts at least the live records. A stale entry counts too, until its token's
  expiry has passed: a failure can refuse a login early, never let one past
  the cap. Evictions delete the oldest live records (compare-and-delete, then
  their entries) and ask the script again.
- Last uses are kept per index member, so a jti removed and stored again starts
  with no use; a touch is a script on the subject's last-use hash alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tokenauth import (
    MAX_LEEWAY,
    CapOutcome,
    CapPolicy,
    DuplicateTokenError,
    LoginMethod,
    Session,
    StoreError,
    TokenRecord,
)

__all__ = [
    "NONCE_LENGTH",
    "Batch",
    "Call",
    "Flow",
    "Keyspace",
    "MultiGet",
    "Op",
    "Pause",
    "RunScript",
    "ScanKeys",
    "Script",
    "add",
    "add_capped",
    "get",
    "list_sessions",
    "list_subject",
    "purge_expired",
    "remove",
    "remove_subject",
    "touch",
]

T = TypeVar("T")

#: Length of the random nonce (hex digits) that starts each index member.
NONCE_LENGTH = 16
#: Seconds a record outlives its token in Redis: the core's largest leeway, so a
#: token inside any leeway still finds its record (the store contract's expiry rule).
RECORD_GRACE = MAX_LEEWAY
#: Seconds past expiry before an index entry is pruned: the record's grace, plus a
#: minute for clock skew between the node holding the index and the one holding the record.
PRUNE_SLACK = RECORD_GRACE + 60
#: The record format; bumped if the JSON layout ever changes. Version 2 adds the
#: client address and User-Agent, and is written only for records that carry one,
#: so a store without last-use tracking writes what earlier versions read.
FORMAT_VERSION = 1
FORMAT_SESSIONS = 2
#: Version 3 adds the login session of refresh tokens (after client and User-Agent),
#: written only for records that carry one.
FORMAT_REFRESH = 3
#: The jti of a token of a login session, as the built-in issuer makes it:
#: ``<session>.<random>``, 22 characters each. Its record key carries the session
#: as a Cluster hash tag, ``t:{<session>}.<random>``, so that every key of a
#: session lives in one slot and ends in one script (see ``_refresh``).
SESSION_JTI_LENGTH = 45
_SESSION_PART = 22
#: Rounds of "evict, then ask again" a capped add makes before it gives up.
CAP_ROUNDS = 8
#: The first pause, in seconds, of a capped add that finds only entries whose
#: records are still being written (other logins of the subject); it doubles.
CAP_PAUSE = 0.002


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, run by its SHA-1 digest when the server has it cached."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # Used to identify the script to the server, not for security.
        digest = hashlib.sha1(self.text.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


@dataclass(frozen=True, slots=True)
class Call:
    """One Redis command, named by its redis-py method; replies with that method's result."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunScript:
    """Run a script on ``keys`` (one key: each script touches a single slot)."""

    script: Script
    keys: tuple[bytes, ...]
    args: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class MultiGet:
    """``MGET``, split by slot in Cluster; replies with a list of values or None."""

    keys: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Several commands in one pipeline (not a transaction); replies with their results."""

    ops: tuple[Call | RunScript, ...]


@dataclass(frozen=True, slots=True)
class ScanKeys:
    """Every key matching a ``SCAN`` pattern, on every primary; replies with a list."""

    pattern: bytes


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds`` (off the event loop's back for the async store); replies None."""

    seconds: float


Op = Call | RunScript | MultiGet | Batch | ScanKeys | Pause
Flow = Generator[Op, Any, T]

#: Adds an index entry, first pruning entries long past their expiry, and keeps
#: the index alive as long as its latest record. TIME makes the script
#: non-deterministic; replicate_commands (a no-op since Redis 7) allows that on 6.2.
INDEX_ADD = Script(
    """
redis.replicate_commands()
local now = tonumber(redis.call('TIME')[1])
local slack = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - slack))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], tonumber(last[2]) + slack)
return 1
"""
)

#: INDEX_ADD under a cap: the entry is added only while fewer than ARGV[4] entries
#: score above ARGV[5] (expire after now). Replies {1, live} when added, {0, live} not.
CAP_ADD = Script(
    """
redis.replicate_commands()
local now = tonumber(redis.call('TIME')[1])
local slack = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - slack))
local live = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[5], '+inf')
if live >= tonumber(ARGV[4]) then
  return {0, live}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], tonumber(last[2]) + slack)
return {1, live}
"""
)

#: Keeps the later of the stored and the given last use of ARGV[1], and keeps the
#: hash at least until ARGV[3] (the token's expiry and the slack).
TOUCH = Script(
    """
redis.replicate_commands()
local current = redis.call('HGET', KEYS[1], ARGV[1])
if (not current) or tonumber(current) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
local until_at = tonumber(ARGV[3])
local ttl = redis.call('TTL', KEYS[1])
local now = tonumber(redis.call('TIME')[1])
if ttl < 0 or now + ttl < until_at then
  redis.call('EXPIREAT', KEYS[1], until_at)
end
return 1
"""
)


def keep_until(until: str) -> str:
    """Lua that keeps KEYS[1] at least until the Unix time in ms ``until`` (a Lua expression).

    It reads the server's TIME: the script must call ``redis.replicate_commands()`` first.
    """
    return f"""
local pttl = redis.call('PTTL', KEYS[1])
local t = redis.call('TIME')
local nowms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if pttl < 0 or nowms + pttl < tonumber({until}) then
  redis.call('PEXPIREAT', KEYS[1], {until})
end
"""


#: Names an access token in its session's hash (ARGV[1], "a:<jti>"), and keeps the
#: hash at least until ARGV[2] (ms): as long as the token's record.
NOTE_ACCESS = Script(
    """
redis.replicate_commands()
redis.call('HSET', KEYS[1], ARGV[1], '1')
"""
    + keep_until("ARGV[2]")
    + """
return 1
"""
)

#: Deletes a key only if it still holds the value the caller read.
DELETE_IF_EQUAL = Script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)


def _text(value: str) -> bytes:
    # surrogatepass: a str that is not valid Unicode still maps to one key, never an error.
    return value.encode("utf-8", "surrogatepass")


def _digest(subject: str) -> bytes:
    return hashlib.sha256(_text(subject)).hexdigest()[:32].encode()


class Keyspace:
    """Names the keys of one store: records by jti, indexes by subject digest."""

    __slots__ = ("_prefix",)

    def __init__(self, prefix: str) -> None:
        """Use ``prefix`` in front of every key."""
        self._prefix = _text(prefix)

    @property
    def prefix(self) -> bytes:
        """The key prefix, encoded."""
        return self._prefix

    def record(self, jti: bytes) -> bytes:
        """The key of the record with this (encoded) jti (tagged by its session, if any)."""
        if len(jti) == SESSION_JTI_LENGTH and jti[_SESSION_PART] == 46:  # b"."
            return self._prefix + b"t:{" + jti[:_SESSION_PART] + b"}" + jti[_SESSION_PART:]
        return self._prefix + b"t:" + jti

    def family(self, session: str) -> bytes:
        """The key of a login session's hash: its refresh tokens and access-token jtis."""
        return self._prefix + b"f:{" + _text(session) + b"}"

    def pointer(self, digest: str) -> bytes:
        """The key naming the session of the refresh token with this digest."""
        return self._prefix + b"r:" + _text(digest)

    def sessions(self, subject: str) -> bytes:
        """The key of this subject's sessions: a sorted set scored by their end."""
        return self._prefix + b"ss:" + _digest(subject)

    def family_pattern(self) -> bytes:
        """A SCAN pattern that matches every session hash of this store and nothing else."""
        return self._escaped() + b"f:*"

    def index(self, subject: str) -> bytes:
        """The key of this subject's index."""
        return self._prefix + b"s:" + _digest(subject)

    def uses(self, subject: str) -> bytes:
        """The key of this subject's last-use hash."""
        return self._prefix + b"u:" + _digest(subject)

    def _escaped(self) -> bytes:
        return bytes(b for c in self._prefix for b in ((92, c) if c in b"*?[]\\^" else (c,)))

    def index_pattern(self) -> bytes:
        """A SCAN pattern that matches every index of this store and nothing else."""
        return self._escaped() + b"s:*"


def jti_of_key(suffix: bytes) -> bytes:
    """The jti whose record key ends with ``suffix`` (what follows ``<prefix>t:``)."""
    if len(suffix) == SESSION_JTI_LENGTH + 2 and suffix[:1] == b"{":
        end = _SESSION_PART + 1
        if suffix[end : end + 2] == b"}.":
            return suffix[1:end] + suffix[end + 1 :]
    return suffix


def encode(record: TokenRecord, nonce: bytes) -> bytes:
    """The stored form of ``record``: compact ASCII JSON (the jti is in the key)."""
    seen = record.client is not None or record.user_agent is not None
    version = FORMAT_SESSIONS if seen else FORMAT_VERSION
    fields: list[Any] = [
        FORMAT_REFRESH if record.session is not None else version,
        nonce.decode("ascii"),
        record.subject,
        record.issued_at,
        record.expires_at,
        record.method,
        record.api_key_id,
    ]
    if record.session is not None:
        fields += [record.client, record.user_agent, record.session]
    elif seen:
        fields += [record.client, record.user_agent]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def decode(jti: bytes, raw: bytes) -> tuple[bytes, TokenRecord]:
    """Read a stored record back; returns its nonce and the record.

    Raises:
        StoreError: The value is not a record this module wrote.
    """
    try:
        fields = json.loads(raw)
        version, nonce, subject, issued_at, expires_at, method, api_key_id = fields[:7]
        client = user_agent = session = None
        if version == FORMAT_SESSIONS:
            client, user_agent = fields[7:]
        elif version == FORMAT_REFRESH:
            client, user_agent, session = fields[7:]
        elif version != FORMAT_VERSION or len(fields) != 7:
            raise ValueError("unknown record format")
        if not isinstance(nonce, str):
            raise ValueError("unknown record format")
        login: LoginMethod
        if method == "password":
            login = "password"
        elif method == "api_key":
            login = "api_key"
        else:
            raise ValueError("unknown login method")
        record = TokenRecord(
            jti=jti.decode("utf-8", "surrogatepass"),
            subject=subject,
            issued_at=issued_at,
            expires_at=expires_at,
            method=login,
            api_key_id=api_key_id,
            client=client,
            user_agent=user_agent,
            session=session,
        )
        return nonce.encode("ascii"), record
    except (ValueError, TypeError) as exc:
        # json.JSONDecodeError and UnicodeError are ValueErrors; bad unpacking is too.
        raise StoreError("a key in the token store's prefix holds no token record") from exc


def add(keys: Keyspace, record: TokenRecord, nonce: bytes) -> Flow[None]:
    """Store a new record, index first; raises DuplicateTokenError if its jti is taken."""
    jti = _text(record.jti)
    value = encode(record, nonce)
    index = keys.index(record.subject)
    member = nonce + jti
    yield RunScript(INDEX_ADD, (index,), (record.expires_at, member, PRUNE_SLACK))
    yield from _set_record(keys.record(jti), value, record.expires_at, index, member)
    yield from _note_in_session(keys, record, jti)


def _note_in_session(keys: Keyspace, record: TokenRecord, jti: bytes) -> Flow[None]:
    """Name a login's token in its session's hash, so that the session's end deletes it."""
    if record.session is not None:
        until = (record.expires_at + RECORD_GRACE) * 1000
        yield RunScript(NOTE_ACCESS, (keys.family(record.session),), (b"a:" + jti, until))


def _set_record(
    key: bytes, value: bytes, expires_at: int, index: bytes, member: bytes
) -> Flow[None]:
    """Write a record whose index entry is in place; raises DuplicateTokenError if taken."""
    # PXAT: Redis forgets the record RECORD_GRACE after the token expires.
    expiry = {"nx": True, "pxat": (expires_at + RECORD_GRACE) * 1000}
    created = yield Call("set", (key, value), expiry)
    if created:
        return
    # Refused: the jti is taken, unless a retried SET finds the record its first try wrote.
    current = yield Call("get", (key,))
    if current == value:
        return
    yield from _forget(index, [member])
    raise DuplicateTokenError("a token with this jti is already stored")


def add_capped(
    keys: Keyspace, record: TokenRecord, nonce: bytes, limit: int, policy: CapPolicy, now: int
) -> Flow[CapOutcome]:
    """Store a new record unless its subject then holds more than ``limit`` live ones.

    See the module's guarantees: the index entry is admitted by a script on the
    index key (so the count and the admission are one step), then the record is
    written. With ``"evict_oldest"``, the oldest live records are deleted and the
    script asked again, at most ``CAP_ROUNDS`` times.
    """
    jti = _text(record.jti)
    key = keys.record(jti)
    if (yield Call("exists", (key,))):
        raise DuplicateTokenError("a token with this jti is already stored")
    index = keys.index(record.subject)
    member = nonce + jti
    evicted: list[TokenRecord] = []
    counted: int | None = None
    for attempt in range(CAP_ROUNDS):
        admitted, live = yield RunScript(
            CAP_ADD, (index,), (record.expires_at, member, PRUNE_SLACK, limit, now)
        )
        counted = int(live) if counted is None else counted
        if admitted:
            yield from _set_record(key, encode(record, nonce), record.expires_at, index, member)
            yield from _note_in_session(keys, record, jti)
            return CapOutcome(True, tuple(evicted), counted)
        if policy != "evict_oldest":
            break
        members = yield Call("zrange", (index, f"({now}", "+inf"), {"byscore": True})
        entries = yield from _resolve(keys, index, members)
        oldest = sorted(
            (e for e in entries if e.record.expires_at > now),
            key=lambda e: (e.record.issued_at, e.record.jti),
        )
        # Counted afresh: another login may have made room since the script's count.
        victims = oldest[: len(members) - limit + 1]
        if victims:
            evicted += [e.record for e in (yield from _delete_entries(index, victims))]
        elif len(members) >= limit:
            # Only entries whose records are not written yet (other logins of this
            # subject, mid-way): give them a moment.
            yield Pause(CAP_PAUSE * 2**attempt)
    return CapOutcome(False, tuple(evicted), counted or 0)


def touch(keys: Keyspace, record: TokenRecord, at: int) -> Flow[None]:
    """Keep ``at`` as the last use of the stored instance of ``record``, if it is stored."""
    jti = _text(record.jti)
    raw = yield Call("get", (keys.record(jti),))
    if raw is None:
        return
    nonce, stored = decode(jti, raw)
    yield RunScript(
        TOUCH,
        (keys.uses(stored.subject),),
        (nonce + jti, at, stored.expires_at + PRUNE_SLACK),
    )


def list_sessions(keys: Keyspace, subject: str) -> Flow[list[Session]]:
    """The subject's live records with their last uses, oldest first."""
    index = keys.index(subject)
    members = yield Call("zrange", (index, 0, -1))
    live = yield from _resolve(keys, index, members)
    uses = yield Call("hgetall", (keys.uses(subject),))
    sessions = [
        Session.of(e.record, None if e.member not in uses else int(uses[e.member])) for e in live
    ]
    return sorted(sessions, key=lambda s: (s.issued_at, s.jti))


def get(keys: Keyspace, jti: str) -> Flow[TokenRecord | None]:
    """Read one record: a single GET, whatever the deployment."""
    encoded = _text(jti)
    raw = yield Call("get", (keys.record(encoded),))
    return None if raw is None else decode(encoded, raw)[1]


def remove(keys: Keyspace, jti: str) -> Flow[bool]:
    """Delete one record with GETDEL (one caller wins), then its index entry."""
    encoded = _text(jti)
    raw = yield Call("getdel", (keys.record(encoded),))
    if raw is None:
        return False
    nonce, record = decode(encoded, raw)
    yield from _forget(keys.index(record.subject), [nonce + encoded])
    return True


def list_subject(keys: Keyspace, subject: str) -> Flow[list[TokenRecord]]:
    """The subject's live records, oldest first; stale index entries are skipped."""
    index = keys.index(subject)
    members = yield Call("zrange", (index, 0, -1))
    live = yield from _resolve(keys, index, members)
    return sorted((entry.record for entry in live), key=lambda r: (r.issued_at, r.jti))


def list_all(keys: Keyspace) -> Flow[list[TokenRecord]]:
    """Every live record of the store, oldest first: an administrative scan, not a hot path."""
    records: list[TokenRecord] = []
    indexes = yield ScanKeys(keys.index_pattern())
    for index in indexes:
        members = yield Call("zrange", (index, 0, -1))
        records += [entry.record for entry in (yield from _resolve(keys, index, members))]
    return sorted(records, key=lambda r: (r.issued_at, r.jti))


def remove_subject(keys: Keyspace, subject: str) -> Flow[int]:
    """Delete each of the subject's records with a compare-and-delete; returns how many."""
    index = keys.index(subject)
    members = yield Call("zrange", (index, 0, -1))
    live = yield from _resolve(keys, index, members)
    return (yield from _delete(index, live))


def purge_expired(keys: Keyspace, now: int) -> Flow[int]:
    """Delete every record with ``expires_at <= now``, index by index; returns how many.

    Redis drops records by itself ``RECORD_GRACE`` seconds after they expire, so
    this finds only records expired within that grace (or ahead of Redis's clock).
    """
    total = 0
    indexes = yield ScanKeys(keys.index_pattern())
    for index in indexes:
        members = yield Call("zrange", (index, "-inf", now), {"byscore": True})
        live = yield from _resolve(keys, index, members)
        total += yield from _delete(index, [e for e in live if e.record.expires_at <= now])
    return total


@dataclass(frozen=True, slots=True)
class _Live:
    member: bytes
    key: bytes
    raw: bytes
    record: TokenRecord


def _resolve(keys: Keyspace, index: bytes, members: Sequence[bytes]) -> Flow[list[_Live]]:
    entries = [m for m in members if len(m) > NONCE_LENGTH]
    if not entries:
        return []
    record_keys = tuple(keys.record(m[NONCE_LENGTH:]) for m in entries)
    raws = yield MultiGet(record_keys)
    live = []
    for member, key, raw in zip(entries, record_keys, raws, strict=True):
        if raw is None:
            continue
        nonce, record = decode(member[NONCE_LENGTH:], raw)
        # Another nonce: the jti was removed and stored again, under its own entry.
        if nonce == member[:NONCE_LENGTH] and keys.index(record.subject) == index:
            live.append(_Live(member, key, raw, record))
    return live


def _delete(index: bytes, live: list[_Live]) -> Flow[int]:
    return len((yield from _delete_entries(index, live)))


def _delete_entries(index: bytes, live: list[_Live]) -> Flow[list[_Live]]:
    """Compare-and-delete each record, then its entry; returns those this call deleted."""
    if not live:
        return []
    replies = yield Batch(tuple(RunScript(DELETE_IF_EQUAL, (e.key,), (e.raw,)) for e in live))
    gone = [entry for entry, deleted in zip(live, replies, strict=True) if deleted == 1]
    if gone:
        yield from _forget(index, [entry.member for entry in gone])
    return gone


def _forget(index: bytes, members: list[bytes]) -> Flow[None]:
    """Remove index entries whose records are gone; a failure only leaves stale entries."""
    try:
        yield Call("zrem", (index, *members))
    except StoreError:
        # Readers skip entries without a live record, and INDEX_ADD prunes them once expired.
        return
