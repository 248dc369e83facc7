"""Refresh tokens in Redis: login sessions, each in one Cluster slot (sans-IO flows).

Layout, for a key prefix ``P`` and a session ``S`` (see ``_flows`` for records)::

    P f:{S}          the session's hash: "m" its login (JSON), "e" its end (Unix
                     seconds), "r:<digest>" each refresh token ("<used>:<issued>:
                     <expires>"), "a:<jti>" each access token; expires with the
                     last of them
    P t:{S}.<rand>   an access token of the session (its jti is "S.<rand>")
    P r:<digest>     the session of a refresh token: its lookup by digest
    P ss:<digest>    a subject's sessions, scored by their end

``{S}`` is a Cluster hash tag: a session's hash and its access tokens' records
share one slot, so a rotation (mark the token used, add its successor and the
new access token) and a session's end (delete every access token and the hash)
are each one script, atomic in one Redis and in Redis Cluster alike. The
pointer and the subject's sessions live elsewhere and are written first; a
pointer whose session is gone, or that names no token of it, reads as none.
Access tokens whose jti does not carry the session (from an issuer of your
own) are deleted one by one after the script, not atomically with it.
"""

from __future__ import annotations

import json
from typing import Any

from tokenauth import DuplicateTokenError, RefreshRecord, StoreError, TokenRecord

from ._flows import (
    INDEX_ADD,
    PRUNE_SLACK,
    RECORD_GRACE,
    SESSION_JTI_LENGTH,
    Call,
    Flow,
    Keyspace,
    RunScript,
    ScanKeys,
    Script,
    _forget,
    _text,
    decode,
    encode,
    keep_until,
    remove,
)

__all__ = [
    "get_refresh",
    "purge_refresh",
    "revoke_session",
    "revoke_sessions",
    "rotate_refresh",
    "start_session",
]

#: Starts a session: ARGV meta, end, "r:<digest>", its value, the hash's expiry (ms).
START = Script(
    """
redis.replicate_commands()
if redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1 then return 0 end
redis.call('HSETNX', KEYS[1], 'm', ARGV[1])
redis.call('HSETNX', KEYS[1], 'e', ARGV[2])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
"""
    + keep_until("ARGV[5]")
    + """
return 1
"""
)

#: Trades "r:<digest>" (ARGV[1]) at now (ARGV[2]) for ARGV[3] = ARGV[4] and the access
#: token "a:<jti>" (ARGV[5]) whose record (KEYS[2], when in this slot) is ARGV[6],
#: kept until ARGV[7] ms. 1: traded; 0: not (unknown, used, expired, session ended).
ROTATE = Script(
    """
redis.replicate_commands()
local now = tonumber(ARGV[2])
local ends = redis.call('HGET', KEYS[1], 'e')
if (not ends) or tonumber(ends) <= now then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local used, issued, expires = string.match(old, '^(%d):(%d+):(%d+)$')
if used ~= '0' or tonumber(expires) <= now then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1 then return -1 end
if KEYS[2] then
  if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
  redis.call('SET', KEYS[2], ARGV[6], 'PXAT', ARGV[7])
end
redis.call('HSET', KEYS[1], ARGV[1], '1:' .. issued .. ':' .. expires, ARGV[3], ARGV[4],
           ARGV[5], '1')
"""
    + keep_until("ARGV[7]")
    + """
return 1
"""
)

#: Ends a session: deletes its access tokens' records (those in this slot; ARGV[1] is
#: "<prefix>t:") and its hash. Replies {count, {jti...}, {jti, record, ...}}: the jtis
#: of records in other slots, for the caller to delete, and each deleted record with
#: its jti, for the caller to drop from its subject's index (another slot); {-1} when
#: there is no such session.
REVOKE = Script(
    """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local fields = redis.call('HKEYS', KEYS[1])
local count = 0
local foreign = {}
local gone = {}
for _, name in ipairs(fields) do
  local kind = string.sub(name, 1, 2)
  if kind == 'r:' then
    count = count + 1
  elseif kind == 'a:' then
    local jti = string.sub(name, 3)
    if #jti == tonumber(ARGV[2]) and string.sub(jti, 23, 23) == '.' then
      local key = ARGV[1] .. '{' .. string.sub(jti, 1, 22) .. '}' .. string.sub(jti, 23)
      local raw = redis.call('GET', key)
      if raw then
        redis.call('DEL', key)
        count = count + 1
        gone[#gone + 1] = jti
        gone[#gone + 1] = raw
      end
    else
      foreign[#foreign + 1] = jti
    end
  end
end
redis.call('DEL', KEYS[1])
return {count, foreign, gone}
"""
)

#: Deletes the refresh tokens of a session's hash that expire at or before ARGV[1].
PURGE = Script(
    """
local now = tonumber(ARGV[1])
local count = 0
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(name, 1, 2) == 'r:' then
    local value = redis.call('HGET', KEYS[1], name)
    local expires = string.match(value or '', ':(%d+)$')
    if expires and tonumber(expires) <= now then
      redis.call('HDEL', KEYS[1], name)
      count = count + 1
    end
  end
end
return count
"""
)


def _field(digest: str) -> bytes:
    return b"r:" + _text(digest)


def _state(record: RefreshRecord) -> bytes:
    return f"{int(record.used)}:{record.issued_at}:{record.expires_at}".encode("ascii")


def _meta(record: RefreshRecord) -> bytes:
    fields = [
        record.subject, record.method, record.api_key_id, list(record.scope), record.auth_time,
    ]  # fmt: skip
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _point(keys: Keyspace, record: RefreshRecord) -> Call:
    until = (record.expires_at + RECORD_GRACE) * 1000
    return Call("set", (keys.pointer(record.digest), _text(record.session)), {"pxat": until})


def start_session(keys: Keyspace, record: RefreshRecord) -> Flow[None]:
    """The session's first refresh token: the subject's sessions, the pointer, the hash."""
    member = _text(record.session)
    yield RunScript(
        INDEX_ADD, (keys.sessions(record.subject),),
        (record.session_expires_at, member, PRUNE_SLACK),
    )  # fmt: skip
    until = (record.session_expires_at + RECORD_GRACE) * 1000
    pointer = keys.pointer(record.digest)
    expiry = {"nx": True, "pxat": (record.expires_at + RECORD_GRACE) * 1000}
    created = yield Call("set", (pointer, member), expiry)
    if not created:
        raise DuplicateTokenError("a refresh token with this digest is already stored")
    args = (_meta(record), record.session_expires_at, _field(record.digest), _state(record))
    started = yield RunScript(START, (keys.family(record.session),), (*args, until))
    if not started:
        raise DuplicateTokenError("a refresh token with this digest is already stored")


def get_refresh(keys: Keyspace, digest: str) -> Flow[RefreshRecord | None]:
    """The record of a refresh token: its pointer, then its session's hash."""
    session = yield Call("get", (keys.pointer(digest),))
    if session is None:
        return None
    name = session.decode("utf-8", "surrogatepass")
    meta, ends, state = yield Call("hmget", (keys.family(name), b"m", b"e", _field(digest)))
    if meta is None or ends is None or state is None:
        return None
    try:
        subject, method, api_key_id, scope, auth_time = json.loads(meta)
        used, issued, expires = state.decode("ascii").split(":")
        return RefreshRecord(
            digest=digest, session=name, subject=subject, method=method,
            api_key_id=api_key_id, scope=tuple(scope), auth_time=auth_time,
            issued_at=int(issued), expires_at=int(expires), session_expires_at=int(ends),
            used=used == "1",
        )  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise StoreError("a key in the token store's prefix holds no session") from exc


def rotate_refresh(
    keys: Keyspace,
    digest: str,
    successor: RefreshRecord,
    access: TokenRecord,
    now: int,
    nonce: bytes,
) -> Flow[bool]:
    """Trade a refresh token: pointer and index entry first, then one script on the slot."""
    if access.session != successor.session:
        raise ValueError("the successor and the access token belong to different sessions")
    jti = _text(access.jti)
    tagged = len(jti) == SESSION_JTI_LENGTH and jti.startswith(_text(successor.session) + b".")
    index = keys.index(access.subject)
    yield RunScript(INDEX_ADD, (index,), (access.expires_at, nonce + jti, PRUNE_SLACK))
    yield _point(keys, successor)
    until = (access.expires_at + RECORD_GRACE) * 1000
    record_keys = (keys.record(jti),) if tagged else ()
    args = (
        _field(digest), now, _field(successor.digest), _state(successor), b"a:" + jti,
        encode(access, nonce), until,
    )  # fmt: skip
    traded: Any = yield RunScript(ROTATE, (keys.family(successor.session), *record_keys), args)
    if traded == -1:
        raise DuplicateTokenError("the successor's digest or the jti is already stored")
    if traded != 1:
        return False
    if not tagged:
        # Not in the session's slot: written after the script, as an add is.
        created = yield Call("set", (keys.record(jti), encode(access, nonce)), {"pxat": until})
        return bool(created)
    return True


def _end_session(keys: Keyspace, session: str) -> Flow[int | None]:
    """One script on the session's slot, then what lives elsewhere; None: no such session.

    The script deletes the session's records; their subject's index entries (in
    another slot) are removed after it, so that they stop counting toward a cap
    at once, and access tokens outside the slot are deleted one by one.
    """
    reply = yield RunScript(REVOKE, (keys.family(session),), (keys.record(b""), SESSION_JTI_LENGTH))
    count = int(reply[0])
    if count < 0:
        return None
    foreign, gone = reply[1], reply[2]
    members: dict[bytes, list[bytes]] = {}
    for jti, raw in zip(gone[::2], gone[1::2], strict=True):
        nonce, record = decode(jti, raw)
        members.setdefault(keys.index(record.subject), []).append(nonce + jti)
    for index, entries in members.items():
        yield from _forget(index, entries)
    for jti in foreign:
        count += bool((yield from remove(keys, jti.decode("utf-8", "surrogatepass"))))
    return count


def revoke_session(keys: Keyspace, session: str) -> Flow[int]:
    """End a session: one script on its slot, then any access token outside it."""
    return (yield from _end_session(keys, session)) or 0


def revoke_sessions(keys: Keyspace, subject: str, api_key_id: str | None) -> Flow[int]:
    """End every session of ``subject`` (those of ``api_key_id`` only, when given)."""
    index = keys.sessions(subject)
    members = yield Call("zrange", (index, 0, -1))
    ended = 0
    for member in members:
        session = member.decode("utf-8", "surrogatepass")
        if api_key_id is not None:
            meta = yield Call("hget", (keys.family(session), b"m"))
            if meta is None or json.loads(meta)[2] != api_key_id:
                continue
        if (yield from _end_session(keys, session)) is not None:
            ended += 1
        yield Call("zrem", (index, member))
    return ended


def purge_refresh(keys: Keyspace, now: int) -> Flow[int]:
    """Delete every refresh token expired at ``now``, session by session; returns how many."""
    total = 0
    families = yield ScanKeys(keys.family_pattern())
    for family in families:
        total += int((yield RunScript(PURGE, (family,), (now,))))
    return total
