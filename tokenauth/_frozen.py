"""Cheap construction of frozen, slotted dataclasses, for the request path.

A frozen dataclass's ``__init__`` stores each field through
``object.__setattr__``, which costs about three times a plain attribute store.
The request path builds a few such objects per request (the request value, a
``Call`` per store lookup, the principal, the result), so :func:`maker` gives
each of those classes a second constructor that takes every field
positionally and builds the same object for less.

On CPython the maker fills an instance of a *draft* class that has the same
slots (so the same memory layout) with plain stores, then assigns its
``__class__``, which CPython allows between classes of identical layout. Where
that is not possible, the maker stores each field through the slot's own
descriptor instead, which any Python with ``__slots__`` supports. Either way
the object is an ordinary instance of the public class: the same equality,
hash, repr, immutability and pickling as one built by its ``__init__``; the
test suite checks this for every class that has a maker.
"""

from __future__ import annotations

import dataclasses
import keyword
import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["maker"]

T = TypeVar("T")

#: Every class given a maker, and its maker, so that one test can hold each to its ``__init__``.
MADE: dict[type[Any], Callable[..., Any]] = {}


def _fields(cls: type[Any]) -> tuple[str, ...]:
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    names = tuple(f.name for f in dataclasses.fields(cls))
    if getattr(cls, "__slots__", None) != names or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} must have slots=True and no base class")
    if any(keyword.iskeyword(name) or not name.isidentifier() for name in names):
        raise TypeError(f"{cls.__name__} has a field name that is not an identifier")
    return names


def maker(cls: type[T]) -> Callable[..., T]:
    """A constructor for ``cls`` that takes every field positionally, cheaper than ``cls(...)``.

    Args:
        cls: A dataclass made with ``frozen=True, slots=True`` and no base class.

    Returns:
        A function of one positional argument per field, in declaration order,
        returning an instance equal to ``cls(*arguments)``. Defaults are not
        applied and ``__post_init__`` does not run: pass every field.

    Raises:
        TypeError: ``cls`` is not such a dataclass.
    """
    names = _fields(cls)
    params = ", ".join(names)
    namespace: dict[str, Any] = {"_cls": cls}
    if sys.implementation.name == "cpython":
        namespace["_Draft"] = type(f"_{cls.__name__}Draft", (), {"__slots__": names})
        body = "".join(f"    d.{name} = {name}\n" for name in names)
        source = (
            f"def make({params}):\n    d = _Draft()\n{body}    d.__class__ = _cls\n    return d\n"
        )
    else:  # pragma: no cover - exercised on other Pythons only
        for i, name in enumerate(names):
            namespace[f"_set{i}"] = getattr(cls, name).__set__
        body = "".join(f"    _set{i}(d, {name})\n" for i, name in enumerate(names))
        source = f"def make({params}):\n    d = _new(_cls)\n{body}    return d\n"
        namespace["_new"] = object.__new__
    exec(source, namespace)  # noqa: S102 - the source is built from the class's own field names
    make: Callable[..., T] = namespace["make"]
    make.__name__ = make.__qualname__ = f"make_{cls.__name__}"
    make.__doc__ = f"``{cls.__name__}(...)`` with every field given positionally, built cheaply."
    MADE[cls] = make
    return make
