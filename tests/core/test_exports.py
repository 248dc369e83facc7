"""The public surface: __all__ names exactly what the packages export."""

from __future__ import annotations

import importlib
import types

import pytest


def _private(module: types.ModuleType) -> list[str]:
    return [
        n
        for n in dir(module)
        if n.startswith("_") and isinstance(getattr(module, n), types.ModuleType)
    ]


@pytest.mark.parametrize("name", ["tokenauth", "tokenauth.testing", "tokenauth.testing.strategies"])
def test_all_is_complete(name: str) -> None:
    """Every name in __all__ exists, and every public object defined there is in __all__.

    (Its order is checked by ruff's RUF022.)
    """
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__)
    for item in exported:
        assert hasattr(module, item), item
    defined_here = {
        n for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
        and getattr(v, "__module__", "") in {name, *(f"{name}.{m}" for m in _private(module))}
    }  # fmt: skip
    assert defined_here <= exported, defined_here - exported


def test_public_objects_have_docstrings() -> None:
    """Every exported class and function of the core is documented."""
    import tokenauth

    for item in tokenauth.__all__:
        value = getattr(tokenauth, item)
        if issubclass(type(value), types.GenericAlias):  # an alias (Python 3.10 calls it a type)
            continue
        if isinstance(value, type) or (callable(value) and hasattr(value, "__code__")):
            assert value.__doc__, item


def test_py_typed_is_shipped() -> None:
    """The package carries py.typed, so users' type checkers read its annotations."""
    import tokenauth

    assert tokenauth.__file__ is not None
    assert (__import__("pathlib").Path(tokenauth.__file__).parent / "py.typed").exists()
