"""Every class built by tokenauth._frozen.maker comes out as its own __init__ builds it."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from tokenauth import Authenticated, Claims, Principal, Request
from tokenauth._frozen import MADE, maker
from tokenauth.extend import Call
from tokenauth_asgi import TokenCredentials, TokenUser

_PRINCIPAL = Principal("alice", "api_key", "k1", ("read", "write"))
_CLAIMS = Claims("alice", "j1", 10, 20, "iss", ("aud",), ("read",), 5)

#: One instance of every class that has a maker, built the plain way.
SAMPLES: list[Any] = [
    Request(authorization="Bearer t", query="a=1", secure=True, client="::1", user_agent="ua"),
    Call(len, ("ab",), False),
    _PRINCIPAL,
    _CLAIMS,
    Authenticated(_PRINCIPAL, _CLAIMS, "t.o.k"),
    TokenUser(_PRINCIPAL, _CLAIMS),
    TokenCredentials(("read",)),
]


def test_every_class_with_a_maker_has_a_sample() -> None:
    assert set(MADE) <= {type(sample) for sample in SAMPLES}


@pytest.mark.parametrize("plain", SAMPLES, ids=lambda sample: type(sample).__name__)
def test_a_made_object_is_the_plain_one(plain: Any) -> None:
    cls = type(plain)
    fields = [getattr(plain, f.name) for f in dataclasses.fields(cls)]
    made = MADE[cls](*fields)
    assert type(made) is cls
    assert made == plain
    assert repr(made) == repr(plain)
    assert hash(made) == hash(plain)
    assert copy.deepcopy(made) == plain
    assert pickle.loads(pickle.dumps(made)) == plain  # noqa: S301 - our own bytes
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(cls)[0].name, None)
    assert not hasattr(made, "__dict__")


def test_only_frozen_slotted_dataclasses_get_a_maker() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    class Plain:
        pass

    for cls in (NoSlots, NotFrozen, Plain):
        with pytest.raises(TypeError):
            maker(cls)
