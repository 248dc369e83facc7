"""The store contract can fail: each of a list of deliberately broken stores fails it.

Every broken store differs from the correct in-memory store by one bug, and the
check named beside it must catch that bug; the same harness passes the correct
store, so each failure is the bug's and not the harness's.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import settings

from tokenauth import DuplicateTokenError, MemoryStore, TokenRecord
from tokenauth.testing import TokenStoreContract


class RemoveAlwaysSucceeds(MemoryStore):
    """Says it removed a record that was not there (two requests both "win" an expiry)."""

    def remove(self, jti: str) -> bool:
        super().remove(jti)
        return True


class OverwritesDuplicates(MemoryStore):
    """Replaces a record on a duplicate jti instead of refusing the add."""

    def add(self, record: TokenRecord) -> None:
        try:
            super().add(record)
        except DuplicateTokenError:
            super().remove(record.jti)
            super().add(record)


class ForgetsSubjects(MemoryStore):
    """Loses one record from every subject listing."""

    def list_subject(self, subject: str) -> list[TokenRecord]:
        return super().list_subject(subject)[1:]


class KeepsExpired(MemoryStore):
    """Never purges."""

    def purge_expired(self, now: int) -> int:
        return 0


class PurgesStrictlyBefore(MemoryStore):
    """Purges with ``expires_at < now`` instead of ``<=``: keeps the record expiring now."""

    def purge_expired(self, now: int) -> int:
        return super().purge_expired(now - 1)


class RemoveKeepsTheRecord(MemoryStore):
    """Reports the removal but the record stays readable (a revoked token still works)."""

    def remove(self, jti: str) -> bool:
        return self.get(jti) is not None


class SubjectRemovalMissesOne(MemoryStore):
    """ "Log out everywhere" leaves the newest token alive."""

    def remove_subject(self, subject: str) -> int:
        records = self.list_subject(subject)
        for record in records[:-1]:
            self.remove(record.jti)
        return len(records)


class ListsNewestFirst(MemoryStore):
    """Lists a subject's records in the wrong order."""

    def list_subject(self, subject: str) -> list[TokenRecord]:
        return super().list_subject(subject)[::-1]


class ForgetsExpiredAtOnce(MemoryStore):
    """Drops a record the moment it expires, inside the leeway the front door still allows."""

    def get(self, jti: str) -> TokenRecord | None:
        record = super().get(jti)
        if record is not None and record.expires_at < time.time():
            return None
        return record


class PurgeMiscounts(MemoryStore):
    """Purges correctly but reports nothing purged."""

    def purge_expired(self, now: int) -> int:
        super().purge_expired(now)
        return 0


class QuickContract(TokenStoreContract):
    max_examples = 25

    def _settings(self) -> settings:
        # Derandomised: this checks the harness itself, so it must not depend on luck.
        return settings(super()._settings(), report_multiple_bugs=False, derandomize=True)


BROKEN = [
    (RemoveAlwaysSucceeds, "test_add_get_remove"),
    (OverwritesDuplicates, "test_add_get_remove"),
    (ForgetsSubjects, "test_subject_index"),
    (KeepsExpired, "test_purge_expired"),
    (PurgesStrictlyBefore, "test_purge_expired"),
    (RemoveKeepsTheRecord, "test_add_get_remove"),
    (SubjectRemovalMissesOne, "test_subject_index"),
    (ListsNewestFirst, "test_subject_index"),
    (ForgetsExpiredAtOnce, "test_keeps_records_within_the_grace"),
    (PurgeMiscounts, "test_purge_expired"),
]


@pytest.mark.parametrize(("broken", "check"), BROKEN, ids=[b.__name__ for b, _ in BROKEN])
def test_the_contract_fails_each_broken_store(broken: type[MemoryStore], check: str) -> None:
    """The named check fails on the store with that one bug."""
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        getattr(QuickContract(), check)(broken)


@pytest.mark.parametrize(
    "broken", [RemoveAlwaysSucceeds, OverwritesDuplicates, ForgetsSubjects, KeepsExpired]
)
def test_the_model_test_alone_catches_the_first_four(broken: type[MemoryStore]) -> None:
    """The stateful model test finds these bugs on its own, without the direct checks."""
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        QuickContract().test_behaves_like_a_dict(broken)


def test_at_least_eight_different_bugs_are_planted() -> None:
    assert len({b for b, _ in BROKEN}) >= 8


@pytest.mark.parametrize("check", sorted({c for _, c in BROKEN} | {"test_behaves_like_a_dict"}))
def test_every_check_passes_the_reference_store(check: str) -> None:
    """The same harness passes the correct in-memory store (so the failures above are real)."""
    getattr(QuickContract(), check)(MemoryStore)
