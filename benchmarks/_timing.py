"""Timing helpers: interleaved rounds, medians, and the rows of the results table."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: A batch runs some operations and returns how many it ran.
Batch = Callable[[], int]


def loop(op: Callable[[], object], n: int) -> Batch:
    """A batch that calls ``op`` ``n`` times."""

    def batch() -> int:
        for _ in range(n):
            op()
        return n

    return batch


@dataclass
class Row:
    """One measured case: its median cost, and how it compares to a baseline."""

    group: str
    name: str
    us: float
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def per_second(self) -> float:
        return 1e6 / self.us if self.us > 0 else float("inf")


def interleaved(
    cases: dict[str, Batch], *, rounds: int, group: str, warmup: bool = True
) -> dict[str, Row]:
    """Run every case once per round, in turn, and keep each case's median.

    Interleaving means that a burst of load from elsewhere on the machine falls
    on all the cases of a round alike, so their ratios stay fair.
    """
    if warmup:
        for batch in cases.values():
            batch()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, batch in cases.items():
            gc.collect()
            start = time.perf_counter()
            count = batch()
            elapsed = time.perf_counter() - start
            samples[name].append(elapsed / count * 1e6)
    return {
        name: Row(group, name, statistics.median(values), values)
        for name, values in samples.items()
    }
