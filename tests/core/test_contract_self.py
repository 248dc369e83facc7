"""The store contract can fail: it catches stores that break the protocol."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tokenauth import DuplicateTokenError, MemoryStore, TokenRecord
from tokenauth.testing import TokenStoreContract


class RemoveAlwaysSucceeds(MemoryStore):
    def remove(self, jti: str) -> bool:
        super().remove(jti)
        return True


class OverwritesDuplicates(MemoryStore):
    def add(self, record: TokenRecord) -> None:
        try:
            super().add(record)
        except DuplicateTokenError:
            super().remove(record.jti)
            super().add(record)


class ForgetsSubjects(MemoryStore):
    def list_subject(self, subject: str) -> list[TokenRecord]:
        return super().list_subject(subject)[1:]


class KeepsExpired(MemoryStore):
    def purge_expired(self, now: int) -> int:
        return 0


class QuickContract(TokenStoreContract):
    max_examples = 25

    def _settings(self) -> settings:
        # Derandomised: this checks the harness itself, so it must not depend on luck.
        return settings(super()._settings(), report_multiple_bugs=False, derandomize=True)


@pytest.mark.parametrize(
    "broken", [RemoveAlwaysSucceeds, OverwritesDuplicates, ForgetsSubjects, KeepsExpired]
)
def test_contract_rejects_broken_stores(broken: type[MemoryStore]) -> None:
    """Each deliberately broken store fails a direct check and, on its own, the model test."""
    contract = QuickContract()
    direct = [
        contract.test_add_get_remove,
        contract.test_subject_index,
        contract.test_purge_expired,
        contract.test_concurrent_removal_has_one_winner,
    ]
    failures = 0
    for check in direct:
        try:
            check(broken)
        except (AssertionError, pytest.fail.Exception):
            failures += 1
    assert failures >= 1, broken.__name__
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        contract.test_behaves_like_a_dict(broken)


def test_contract_passes_the_reference_store() -> None:
    """The same harness passes the correct in-memory store (so the failures above are real)."""
    contract = QuickContract()
    contract.test_add_get_remove(MemoryStore)
    contract.test_behaves_like_a_dict(MemoryStore)
