from __future__ import annotations

import tokenauth_sqlalchemy


def test_exported_members() -> None:
    """The package exports exactly its public names, sorted, and each exists."""
    public = {
        name
        for name in vars(tokenauth_sqlalchemy)
        if not name.startswith("_") and name not in {"annotations"}
    }
    assert sorted(tokenauth_sqlalchemy.__all__, key=str.lower) == sorted(public, key=str.lower)
