"""Keys: one algorithm each, RFC 7638 kids, weak keys refused, PEM/JWK/JWKS, rotation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tokenauth import ConfigurationError, Key, KeySet, WeakKeyError
from tokenauth._keys import ALGORITHMS


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_sign_and_verify(alg: str) -> None:
    """Each algorithm's key verifies its own signature and rejects a changed message."""
    key = Key.generate(alg)  # type: ignore[arg-type]
    signature = key.sign(b"message")
    assert key.verify(b"message", signature)
    assert not key.verify(b"messagf", signature)
    assert not key.verify(b"message", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert key.alg == alg


def test_rfc7638_thumbprint_example() -> None:
    """The kid is the RFC 7638 thumbprint: the RFC's own example key and value."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
            "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
            "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
            "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert Key.from_jwk(jwk).kid == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_weak_keys_are_refused() -> None:
    """RSA under 2048 bits and HMAC secrets under 32 bytes raise WeakKeyError."""
    small = rsa.generate_private_key(65537, 1024)
    with pytest.raises(WeakKeyError):
        Key(alg="RS256", private=small)
    with pytest.raises(WeakKeyError):
        Key.from_secret(b"x" * 31)
    Key.from_secret(b"x" * 32)


def test_wrong_curve_and_mismatched_alg_refused() -> None:
    """ES256 needs P-256; a JWK whose alg contradicts its key type is refused."""
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ConfigurationError, match="P-256"):
        Key(alg="ES256", private=p384)
    jwk = Key.generate("ES256").to_jwk()
    jwk["alg"] = "RS256"
    with pytest.raises(ConfigurationError, match="says alg"):
        Key.from_jwk(jwk)


def test_key_set_refuses_duplicates_mixes_and_public_signers() -> None:
    """Duplicate kids, symmetric mixed with asymmetric, and a public-only signer are refused."""
    key = Key.generate("ES256")
    with pytest.raises(ConfigurationError, match="duplicate kid"):
        KeySet(key, [Key.from_jwk(key.to_jwk())])
    with pytest.raises(ConfigurationError, match="mix"):
        KeySet(key, [Key.generate("HS256")])
    with pytest.raises(ConfigurationError, match="private"):
        KeySet(Key.from_jwk(key.to_jwk()))


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_pem_and_jwk_round_trips(alg: str) -> None:
    """Private and public keys survive PEM and JWK round trips with the same kid."""
    key = Key.generate(alg)  # type: ignore[arg-type]
    again = Key.from_pem(key.to_pem(private=True))
    assert again.kid == key.kid
    assert again.can_sign
    assert Key.from_pem(key.to_pem()).kid == key.kid
    assert not Key.from_pem(key.to_pem()).can_sign
    assert Key.from_jwk(key.to_jwk(private=True)).verify(b"m", key.sign(b"m"))
    public = Key.from_jwk(json.dumps(key.to_jwk()))
    assert public.verify(b"m", key.sign(b"m"))
    encrypted = key.to_pem(private=True, password=b"hunter22")
    assert Key.from_pem(encrypted, password=b"hunter22").kid == key.kid


def test_public_jwk_has_no_private_members() -> None:
    """Exported public JWKs and the JWKS carry no private material; HS256 is never published."""
    keys = KeySet(Key.generate("RS256"), [Key.generate("RS256")])
    for jwk in keys.jwks()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(jwk)
        assert jwk["use"] == "sig"
        assert jwk["alg"] == "RS256"
    assert KeySet.generate("HS256").jwks() == {"keys": []}
    with pytest.raises(ConfigurationError):
        Key.generate("HS256").to_jwk()


def test_reprs_never_show_material() -> None:
    """repr() of keys and key sets names kids only."""
    key = Key.generate("HS256")
    text = repr(key) + repr(KeySet(key))
    assert key.to_jwk(private=True)["k"] not in text


def test_bad_pem_and_jwk_are_configuration_errors() -> None:
    """Garbage key material raises ConfigurationError, not a library's own exception."""
    with pytest.raises(ConfigurationError):
        Key.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError):
        Key.from_jwk({"kty": "RSA", "n": "AQAB"})
    with pytest.raises(ConfigurationError):
        Key.from_jwk({"kty": "dragon"})


def test_save_and_load_are_private_and_atomic(tmp_path: Path) -> None:
    """A saved key set is readable by its owner only and loads back identically."""
    keys = KeySet(Key.generate("EdDSA"), [Key.generate("EdDSA").retiring_at(123)])
    path = tmp_path / "keys.json"
    keys.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = KeySet.load(path, now=100)
    assert [k.kid for k in loaded.keys] == [k.kid for k in keys.keys]
    assert loaded.keys[1].not_after == 123
    assert loaded.signing.verify(b"m", keys.signing.sign(b"m"))
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]
    with pytest.raises(ConfigurationError):
        KeySet.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"keys": []}')
    with pytest.raises(ConfigurationError):
        KeySet.load(tmp_path / "bad.json")


def test_rotation_keeps_old_key_until_retired() -> None:
    """After a rotation the old key verifies until retire_after, then prune drops it."""
    old = KeySet.generate("ES256")
    new_key = Key.generate("ES256")
    rotated = old.rotate(new_key, retire_after=1000)
    assert rotated.signing is new_key
    retired = rotated.get(old.signing.kid)
    assert retired is not None
    assert retired.not_after == 1000
    assert rotated.prune(1000).get(old.signing.kid) is not None
    assert rotated.prune(1001).get(old.signing.kid) is None
