"""Signing keys: one algorithm per key, RFC 7638 thumbprints as ``kid``, key sets and JWKS.

A :class:`Key` is bound to exactly one JWS algorithm when it is made, and the
validator takes the algorithm from the key it finds by ``kid``, never from the
token (RFC 8725 section 3.1). Parsed key objects live in the :class:`Key`, so
nothing is parsed again per call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast, get_args

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from ._errors import ConfigurationError, WeakKeyError

if TYPE_CHECKING:
    from _hashlib import HASH

__all__ = ["JWKS_MAX_AGE", "STAGE_DELAY", "Algorithm", "Key", "KeySet"]

#: The JWS algorithms tokenauth signs and verifies with (RFC 7518, RFC 8037).
Algorithm: TypeAlias = Literal["RS256", "ES256", "EdDSA", "HS256"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)

MIN_RSA_BITS = 2048
#: Seconds the JWKS document may be cached (its ``Cache-Control: max-age``), and so
#: the least delay before a newly published key may sign (see :meth:`KeySet.rotate`).
JWKS_MAX_AGE = 300
#: The default delay of a staged rotation: the JWKS max-age, plus a minute for
#: servers to load the new key file and for clock skew.
STAGE_DELAY = JWKS_MAX_AGE + 60
#: RFC 9864 section 2 names the fully-specified algorithm of an EdDSA key on
#: Ed25519 ``Ed25519``; a JWK may carry either label.
_ALG_ALIASES = {"Ed25519": "EdDSA"}
MIN_HMAC_BYTES = 32

_PrivateKey: TypeAlias = (
    "rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey"
)
_PublicKey: TypeAlias = "rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey"
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(hashes.SHA256())
#: SHA-256's block size: the length of HMAC's padded key (RFC 2104 section 2).
_SHA256_BLOCK = 64
_IPAD = bytes([0x36]) * _SHA256_BLOCK
_OPAD = bytes([0x5C]) * _SHA256_BLOCK
# Standard base64 to base64url (RFC 4648 section 5).
_TO_URLSAFE_ALPHABET = bytes.maketrans(b"+/", b"-_")


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Key:
    """One signing or verifying key, bound to one algorithm, named by its thumbprint.

    Make keys with :meth:`generate`, :meth:`from_pem`, :meth:`from_jwk` or
    :meth:`from_secret`; the constructor is not public.

    Attributes:
        alg: The one algorithm this key is used with.
        kid: The RFC 7638 JWK thumbprint (SHA-256) of the public key.
        not_after: Unix time after which the key no longer verifies, or None.
        signs_from: For a key published ahead of use (see :meth:`KeySet.rotate`),
            the Unix time from which it signs; None otherwise.
    """

    __slots__ = (
        "_hmac_pads", "_private", "_public", "_secret", "alg", "kid", "not_after", "signs_from",
    )  # fmt: skip

    def __init__(
        self,
        *,
        alg: Algorithm,
        private: _PrivateKey | None = None,
        public: _PublicKey | None = None,
        secret: bytes | None = None,
        not_after: int | None = None,
    ) -> None:
        """Bind key material to an algorithm; use the ``from_*`` constructors instead."""
        self.alg: Algorithm = alg
        self._secret = secret
        self._private = private
        self._public = public if public is not None or private is None else private.public_key()
        self.not_after = not_after
        self.signs_from: int | None = None
        self._check_strength()
        self.kid = self._thumbprint()
        self._hmac_pads: tuple[HASH, HASH] | None = None if secret is None else _hmac_pads(secret)

    # -- construction -------------------------------------------------------------

    @classmethod
    def generate(cls, alg: Algorithm = "RS256") -> Key:
        """Generate a fresh key for ``alg`` (RSA 2048, P-256, Ed25519, or 32 random bytes)."""
        if alg == "RS256":
            return cls(alg=alg, private=rsa.generate_private_key(65537, 2048))
        if alg == "ES256":
            return cls(alg=alg, private=ec.generate_private_key(ec.SECP256R1()))
        if alg == "EdDSA":
            return cls(alg=alg, private=ed25519.Ed25519PrivateKey.generate())
        if alg == "HS256":
            return cls(alg=alg, secret=secrets.token_bytes(32))
        raise ConfigurationError(f"unsupported algorithm {alg!r}; use one of {ALGORITHMS}")

    @classmethod
    def from_secret(cls, secret: bytes) -> Key:
        """An HS256 key from a shared secret of at least 32 bytes."""
        return cls(alg="HS256", secret=bytes(secret))

    @classmethod
    def from_pem(cls, data: bytes | str, *, password: bytes | None = None) -> Key:
        """Load a PEM private key (to sign) or public key (to verify only).

        The algorithm follows from the key type: RSA is RS256, P-256 is ES256,
        Ed25519 is EdDSA.

        Raises:
            ConfigurationError: The PEM is unreadable or of an unsupported type.
            WeakKeyError: The key is too weak (RSA under 2048 bits).
        """
        raw = data.encode() if isinstance(data, str) else data
        loaded: object
        try:
            if b"PRIVATE KEY" in raw:
                loaded = serialization.load_pem_private_key(raw, password=password)
            else:
                loaded = serialization.load_pem_public_key(raw)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigurationError(f"cannot load the PEM key: {exc}") from exc
        return cls._from_object(loaded)

    @classmethod
    def _from_object(cls, loaded: object, not_after: int | None = None) -> Key:
        if isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            alg = cls._alg_of(loaded.public_key())
            return cls(alg=alg, private=loaded, not_after=not_after)
        if isinstance(loaded, ed25519.Ed25519PrivateKey):
            return cls(alg="EdDSA", private=loaded, not_after=not_after)
        if isinstance(loaded, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return cls(alg=cls._alg_of(loaded), public=loaded, not_after=not_after)
        if isinstance(loaded, ed25519.Ed25519PublicKey):
            return cls(alg="EdDSA", public=loaded, not_after=not_after)
        raise ConfigurationError(
            f"unsupported key type {type(loaded).__name__}; use RSA, P-256 or Ed25519"
        )

    @staticmethod
    def _alg_of(public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> Algorithm:
        if isinstance(public, rsa.RSAPublicKey):
            return "RS256"
        if isinstance(public.curve, ec.SECP256R1):
            return "ES256"
        raise ConfigurationError(f"unsupported curve {public.curve.name}; ES256 needs P-256")

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str) -> Key:
        """Load a key from a JWK (RFC 7517), private or public.

        An ``alg`` member, when present, must match the key type; ``kid`` is
        ignored and recomputed as the thumbprint.

        Raises:
            ConfigurationError: The JWK is malformed or of an unsupported type.
        """
        data: Mapping[str, Any] = json.loads(jwk) if isinstance(jwk, str) else jwk
        if not isinstance(data, Mapping):
            raise ConfigurationError("a JWK must be a JSON object")
        kty = data.get("kty")
        not_after = data.get("not_after")
        if not_after is not None and type(not_after) is not int:
            raise ConfigurationError("a JWK's not_after must be an integer Unix time")
        signs_from = data.get("signs_from")
        if signs_from is not None and type(signs_from) is not int:
            raise ConfigurationError("a JWK's signs_from must be an integer Unix time")
        try:
            if kty == "oct":
                key = cls(alg="HS256", secret=_b64url_decode(str(data["k"])), not_after=not_after)
            elif kty == "RSA":
                key = cls._from_object(RSAAlgorithm.from_jwk(dict(data)), not_after)
            elif kty == "EC":
                key = cls._from_object(ECAlgorithm.from_jwk(dict(data)), not_after)
            elif kty == "OKP":
                key = cls._from_object(OKPAlgorithm.from_jwk(dict(data)), not_after)
            else:
                raise ConfigurationError(f"unsupported JWK key type {kty!r}")
        except (PyJWTError, KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"cannot load the JWK: {exc}") from exc
        declared = data.get("alg")
        if declared is not None and _ALG_ALIASES.get(declared, declared) != key.alg:
            raise ConfigurationError(f"the JWK says alg {declared!r} but holds a {key.alg} key")
        if signs_from is not None:
            key = key.staged_from(signs_from)
        return key

    # -- checks and identity ---------------------------------------------------------

    def _check_strength(self) -> None:
        if self.alg == "HS256":
            if self._secret is None:
                raise ConfigurationError("an HS256 key needs a secret")
            if len(self._secret) < MIN_HMAC_BYTES:
                raise WeakKeyError(f"an HS256 secret must be at least {MIN_HMAC_BYTES} bytes")
            return
        public = self._public
        if public is None:
            raise ConfigurationError(f"a {self.alg} key needs a private or public key")
        if self.alg == "RS256":
            if not isinstance(public, rsa.RSAPublicKey):
                raise ConfigurationError("RS256 needs an RSA key")
            if public.key_size < MIN_RSA_BITS:
                raise WeakKeyError(f"RSA keys must be at least {MIN_RSA_BITS} bits")
        elif self.alg == "ES256":
            if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(
                public.curve, ec.SECP256R1
            ):
                raise ConfigurationError("ES256 needs a P-256 key")
        elif self.alg == "EdDSA":
            if not isinstance(public, ed25519.Ed25519PublicKey):
                raise ConfigurationError("EdDSA needs an Ed25519 key")
        else:
            raise ConfigurationError(f"unsupported algorithm {self.alg!r}")

    def _thumbprint(self) -> str:
        # RFC 7638 section 3: the required members, sorted, no whitespace, SHA-256.
        jwk = self._jwk(private=False, secret_ok=True)
        required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
        members = required.get(
            jwk["kty"], ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("k", "kty")
        )
        canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        return b64url(hashlib.sha256(canonical.encode()).digest())

    @property
    def symmetric(self) -> bool:
        """True for HS256 keys, whose one secret both signs and verifies."""
        return self.alg == "HS256"

    @property
    def can_sign(self) -> bool:
        """True when this key holds private (or secret) material."""
        return self._private is not None or self._secret is not None

    def _copy(self) -> Key:
        clone = object.__new__(Key)
        for name in Key.__slots__:
            object.__setattr__(clone, name, getattr(self, name))
        return clone

    def retiring_at(self, not_after: int | None) -> Key:
        """A copy of this key that stops verifying after ``not_after``."""
        clone = self._copy()
        clone.not_after = not_after
        return clone

    def staged_from(self, signs_from: int | None) -> Key:
        """A copy of this key that signs only from ``signs_from`` (None: whenever it signs)."""
        clone = self._copy()
        clone.signs_from = signs_from
        return clone

    def __repr__(self) -> str:
        """Name the algorithm and kid, never the key material."""
        return f"<Key {self.alg} kid={self.kid}{' signing' if self.can_sign else ''}>"

    def __eq__(self, other: object) -> bool:
        """Keys are equal when they have the same algorithm, thumbprint and material."""
        if not isinstance(other, Key):
            return NotImplemented
        return (
            self.alg == other.alg
            and self.kid == other.kid
            and self.not_after == other.not_after
            and self.signs_from == other.signs_from
            and self.can_sign == other.can_sign
        )

    def __hash__(self) -> int:
        """Hash by algorithm and thumbprint."""
        return hash((self.alg, self.kid))

    # -- signatures -----------------------------------------------------------------

    def _hmac(self, data: bytes) -> bytes:
        # HMAC-SHA256 (RFC 2104) from the two hash states made with the key, copied
        # rather than rebuilt: hmac.digest hashes the padded key again on every call,
        # which is more than half of its cost on a token-sized message.
        pads = self._hmac_pads
        if pads is None:  # pragma: no cover - only called for HS256 keys
            raise ConfigurationError(f"key {self.kid} is not an HS256 key")
        inner = pads[0].copy()
        inner.update(data)
        outer = pads[1].copy()
        outer.update(inner.digest())
        return outer.digest()

    def _verify_hmac_encoded(self, signing_input: bytes, signature: bytes) -> bool:
        """Check an HS256 signature given as its base64url text, in constant time.

        The same decision as decoding ``signature`` strictly (canonical, unpadded
        base64url) and comparing the bytes: each byte string has exactly one
        canonical encoding, so the text matches the encoding of the expected MAC
        exactly when it is canonical and decodes to that MAC. Comparing the texts
        saves the decoding.
        """
        pads = self._hmac_pads
        if pads is None:  # pragma: no cover - only called for HS256 keys
            return False
        # _hmac written out: this runs on every first sight of an HS256 token.
        inner = pads[0].copy()
        inner.update(signing_input)
        outer = pads[1].copy()
        outer.update(inner.digest())
        expected = binascii.b2a_base64(outer.digest(), newline=False)
        # 32 bytes encode to 43 characters and one "=" of padding, which JWS leaves out.
        return hmac.compare_digest(expected[:-1].translate(_TO_URLSAFE_ALPHABET), signature)

    def sign(self, signing_input: bytes) -> bytes:
        """Sign ``signing_input`` the JWS way for this key's algorithm."""
        if self._secret is not None:
            return self._hmac(signing_input)
        private = self._private
        if private is None:
            raise ConfigurationError(f"key {self.kid} is a public key and cannot sign")
        if isinstance(private, rsa.RSAPrivateKey):
            return private.sign(signing_input, _PKCS1, _SHA256)
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(signing_input, _ECDSA))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return private.sign(signing_input)

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Check a JWS signature in constant time where it matters (HMAC)."""
        if self._secret is not None:
            return hmac.compare_digest(self._hmac(signing_input), signature)
        # _check_strength tied the key type to the algorithm when the key was made,
        # so the algorithm's name picks the call (cheaper than isinstance on the ABCs).
        alg = self.alg
        public: Any = self._public
        try:
            if alg == "RS256":
                public.verify(signature, signing_input, _PKCS1, _SHA256)
            elif alg == "ES256":
                # RFC 7518 section 3.4: R and S as 32-byte big-endian integers.
                if len(signature) != 64:
                    return False
                r = int.from_bytes(signature[:32], "big")
                s = int.from_bytes(signature[32:], "big")
                public.verify(encode_dss_signature(r, s), signing_input, _ECDSA)
            elif alg == "EdDSA":
                public.verify(signature, signing_input)
            else:  # pragma: no cover - _check_strength makes this unreachable
                return False
        except InvalidSignature:
            return False
        return True

    # -- export -------------------------------------------------------------------

    def _jwk(self, *, private: bool, secret_ok: bool = False) -> dict[str, Any]:
        if self._secret is not None:
            if not (private or secret_ok):
                raise ConfigurationError("an HS256 key has no public form")
            return {"kty": "oct", "k": b64url(self._secret)}
        material: object = self._private if private and self._private is not None else self._public
        if isinstance(material, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(material, as_dict=True)
        elif isinstance(material, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(material, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(
                cast("ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey", material),
                as_dict=True,
            )
        return {k: v for k, v in jwk.items() if k not in ("key_ops", "alg", "kid")}

    def to_jwk(self, *, private: bool = False) -> dict[str, Any]:
        """This key as a JWK with ``kid``, ``alg`` and ``use``.

        Args:
            private: Include the private (or secret) material. Never publish that.

        Raises:
            ConfigurationError: ``private=False`` for an HS256 key, which has no public form.
        """
        jwk = self._jwk(private=private)
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        if self.not_after is not None and private:
            jwk["not_after"] = self.not_after
        if self.signs_from is not None and private:
            jwk["signs_from"] = self.signs_from
        return jwk

    def to_pem(self, *, private: bool = False, password: bytes | None = None) -> bytes:
        """This key in PEM: PKCS#8 private (optionally encrypted) or SubjectPublicKeyInfo."""
        if self._secret is not None:
            raise ConfigurationError("HS256 keys have no PEM form; save the key set as JSON")
        if private:
            if self._private is None:
                raise ConfigurationError("this key has no private part")
            encryption: serialization.KeySerializationEncryption = (
                serialization.BestAvailableEncryption(password)
                if password
                else serialization.NoEncryption()
            )
            return self._private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
        if self._public is None:  # pragma: no cover - _check_strength rules this out
            raise ConfigurationError("this key has no public part")
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _hmac_pads(secret: bytes) -> tuple[HASH, HASH]:
    """SHA-256 states that have hashed the key XOR ipad and the key XOR opad (RFC 2104)."""
    if len(secret) > _SHA256_BLOCK:
        secret = hashlib.sha256(secret).digest()
    padded = secret.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(a ^ b for a, b in zip(padded, _IPAD, strict=True)))
    outer = hashlib.sha256(bytes(a ^ b for a, b in zip(padded, _OPAD, strict=True)))
    return inner, outer


class KeySet:
    """One signing key and any number of verifying keys, each found by ``kid``.

    One of the verifying keys may be *staged*: published (it verifies, and is in
    the JWKS) but signing only from its ``signs_from`` time, so that verifiers
    which cache the JWKS have it before the first token it signs reaches them.

    Args:
        signing: The key new tokens are signed with; it also verifies.
        verifying: Older keys that still verify (e.g. after a rotation), and at
            most one staged key (one with ``signs_from`` set).

    Raises:
        ConfigurationError: The signing key cannot sign, two keys share a ``kid``,
            symmetric and asymmetric keys are mixed, or more than one key is staged.
    """

    __slots__ = ("_by_kid", "_in_process", "signing", "staged")

    def __init__(self, signing: Key, verifying: Iterable[Key] = ()) -> None:
        """Check and index the keys."""
        if not signing.can_sign:
            raise ConfigurationError("the signing key has no private part")
        keys = [signing, *verifying]
        by_kid: dict[str, Key] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ConfigurationError(f"duplicate kid {key.kid} in the key set")
            by_kid[key.kid] = key
        if len({key.symmetric for key in keys}) > 1:
            raise ConfigurationError(
                "a key set cannot mix HS256 secrets with public-key algorithms"
            )
        staged = [key for key in keys[1:] if key.signs_from is not None]
        if len(staged) > 1:
            raise ConfigurationError("a key set can stage one key at a time")
        if staged and not staged[0].can_sign:
            raise ConfigurationError("the staged key has no private part")
        self.signing = signing
        #: The key published ahead of signing, or None.
        self.staged: Key | None = staged[0] if staged else None
        self._by_kid = by_kid
        # True only for a set made by generate() and kept nowhere but this process.
        self._in_process = False

    @classmethod
    def generate(cls, alg: Algorithm = "RS256") -> KeySet:
        """A key set with one freshly generated signing key, known to this process only.

        Several worker processes each generating one would each sign with their
        own key; use :meth:`load_or_create` for them.
        """
        created = cls(Key.generate(alg))
        created._in_process = True
        return created

    @property
    def keys(self) -> tuple[Key, ...]:
        """Every key, the signing key first."""
        return tuple(self._by_kid.values())

    def get(self, kid: str) -> Key | None:
        """The key with this ``kid``, or None."""
        return self._by_kid.get(kid)

    def signer(self, now: int) -> Key:
        """The key that signs at Unix time ``now``: the staged key once its time has come."""
        staged = self.staged
        if staged is not None and staged.signs_from is not None and now >= staged.signs_from:
            return staged
        return self.signing

    def rotate(
        self, new_signing: Key, *, retire_after: int, signs_from: int | None = None
    ) -> KeySet:
        """A key set that signs with ``new_signing``, now or from ``signs_from``.

        The old signing key verifies until ``retire_after``: pass the time it
        stops signing plus the longest token lifetime (and the leeway), so that
        every token it signed can be verified until it expires.

        With ``signs_from``, the new key is staged: it is in the set (and the
        JWKS) at once but signs only from then; until then the old key signs.
        Choose ``signs_from`` at least :data:`JWKS_MAX_AGE` seconds after the
        new set is published, so that verifiers caching the JWKS have the new
        key before they meet a token it signed. A key staged before and not yet
        signing is dropped.

        Raises:
            ConfigurationError: ``retire_after`` is before ``signs_from``.
        """
        if signs_from is not None and retire_after < signs_from:
            raise ConfigurationError("the old key must verify at least until the new one signs")
        old = self.signing.retiring_at(retire_after)
        others = [k for k in self.keys[1:] if k.kid != new_signing.kid and k.signs_from is None]
        if signs_from is None:
            signing = (
                new_signing if new_signing.signs_from is None else new_signing.staged_from(None)
            )
            return KeySet(signing, [old, *others])
        return KeySet(old, [new_signing.staged_from(signs_from), *others])

    def rotated(
        self,
        new_signing: Key,
        *,
        now: int,
        lifetime: int,
        staged: bool = False,
        delay: int | None = None,
    ) -> KeySet:
        """The key set after a rotation at ``now``: what ``rotate_keys`` and the CLI do.

        Args:
            new_signing: The key to sign with.
            now: The current Unix time.
            lifetime: The longest token lifetime plus the leeway: how long the
                old key verifies after it stops signing.
            staged: Publish the new key now and sign with it after ``delay``.
            delay: Seconds from publishing to signing (implies ``staged``);
                :data:`STAGE_DELAY` by default.

        Raises:
            ConfigurationError: ``delay`` is negative.
        """
        if delay is not None and delay < 0:
            raise ConfigurationError("the rotation delay cannot be negative")
        signs_from = None
        if staged or delay is not None:
            signs_from = now + (STAGE_DELAY if delay is None else delay)
        current = self.prune(now)
        retire_after = (now if signs_from is None else signs_from) + lifetime
        return current.rotate(new_signing, retire_after=retire_after, signs_from=signs_from).prune(
            now
        )

    def prune(self, now: int) -> KeySet:
        """This key set as of ``now``: a staged key whose time has come signs, retired keys go.

        Verifying keys whose ``not_after`` has passed are dropped (and so leave
        the JWKS).
        """
        signing, staged = self.signing, self.staged
        rest = [k for k in self.keys[1:] if k is not staged]
        if staged is not None and staged.signs_from is not None and now >= staged.signs_from:
            rest.insert(0, signing)
            signing, staged = staged.staged_from(None), None
        keep = [k for k in rest if k.not_after is None or k.not_after >= now]
        return KeySet(signing, keep if staged is None else [*keep, staged])

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWKS document (RFC 7517 section 5); HS256 sets publish no keys."""
        return {"keys": [k.to_jwk() for k in self.keys if not k.symmetric]}

    def to_json(self) -> str:
        """Serialise every key with its private material, signing key first. Keep it secret."""
        return json.dumps({"keys": [k.to_jwk(private=True) for k in self.keys]}, indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> KeySet:
        """Load a key set written by :meth:`to_json`; the first key signs."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"the key set is not JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
            raise ConfigurationError(
                'a key set is a JSON object {"keys": [...]} with a signing key'
            )
        keys = [Key.from_jwk(item) for item in data["keys"]]
        return cls(keys[0], keys[1:])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path`` atomically, readable by the owner only."""
        target = Path(path)
        tmp = _private_file_beside(target, self.to_json())
        try:
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, now: int | None = None) -> KeySet:
        """Read a key set saved with :meth:`save`, as of ``now`` (see :meth:`prune`).

        Keys retired before ``now`` (default: the current time) are left out, so
        they are not published in the JWKS; a staged key whose time has come is
        the signing key.
        """
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the key set file {path}: {exc}") from exc
        return cls.from_json(text).prune(int(time.time()) if now is None else now)

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str], alg: Algorithm = "RS256") -> KeySet:
        """Load the key set at ``path``, or create it there if there is none yet.

        Safe when several worker processes start at once: each writes a complete
        candidate to a private temporary file (mode 0600) and links it into
        place, which succeeds for exactly one of them; every other process, and
        every later start, loads the file that won. No process ever reads a
        half-written file, and all of them end up signing with the same key.

        Args:
            path: The key set file (JSON with private keys; keep it secret).
            alg: The algorithm of the key created when the file does not exist.

        Returns:
            The key set stored at ``path``.

        Raises:
            ConfigurationError: The file exists but cannot be read or is not a
                key set, or its folder cannot be written to create it.
        """
        target = Path(path)
        if target.exists():
            return cls.load(target)
        created = cls(Key.generate(alg))
        try:
            tmp = _private_file_beside(target, created.to_json())
        except OSError as exc:
            raise ConfigurationError(f"cannot create the key set file {path}: {exc}") from exc
        try:
            # link() fails if the name exists: the atomic create-if-absent of a
            # complete file (O_EXCL on the final name would expose a partial one).
            os.link(tmp, target)
        except FileExistsError:
            return cls.load(target)
        except OSError as exc:
            raise ConfigurationError(f"cannot create the key set file {path}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return created

    def __repr__(self) -> str:
        """List the kids, never the key material."""
        return f"<KeySet signing={self.signing.kid} keys={len(self._by_kid)}>"


def _private_file_beside(target: Path, text: str) -> Path:
    """Write ``text`` to a new temporary file in ``target``'s folder, mode 0600."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        tmp.chmod(0o600)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
