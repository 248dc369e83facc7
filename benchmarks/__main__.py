"""Run every benchmark, print the table and the goals, and write ``results/latest.json``.

python3 dev.py bench            the full run (a few minutes)
python3 dev.py bench --quick    a short run, for a first look
python3 dev.py bench --skip e2e,logins
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import demo_server, e2e, logins, revocation, sql, validation
from ._timing import Row

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("validation", "redis", "sql", "revocation", "logins", "e2e", "demo")


@dataclass
class Goal:
    name: str
    value: float
    target: float
    unit: str
    higher_is_better: bool
    #: Set for a figure reported beside a goal, not judged by it (says why).
    note: str = ""

    @property
    def holds(self) -> bool:
        if self.value != self.value:  # NaN: not measured
            return False
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def print_rows(title: str, rows: dict[str, Row], floor: str | None) -> None:
    print(f"\n## {title}\n")
    base = rows.get(floor) if floor else None
    print("| case | µs per validation | validations/s | vs floor |")
    print("|---|---:|---:|---:|")
    for row in rows.values():
        ratio = f"{row.us / base.us:.2f}x" if base is not None else ""
        print(f"| {row.name} | {row.us:.2f} | {row.per_second:,.0f} | {ratio} |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, shorter loads")
    parser.add_argument(
        "--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}"
    )
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    warnings.simplefilter("ignore")
    quick = args.quick
    rounds, pool, n = (5, 200, 500) if quick else (15, 600, 2000)
    started = time.time()
    info = machine()
    print(f"# tokenauth benchmarks ({'quick' if quick else 'full'} run)\n")
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}")
    print(f"load average at start: {info['load_average_at_start']}")
    results: dict[str, Any] = {"machine": info, "quick": quick, "sections": {}, "notes": []}
    goals: list[Goal] = []
    nan = float("nan")

    if "validation" not in skip:
        for alg in ("RS256", "HS256", "ES256", "EdDSA"):
            rows = validation.algorithm_rows(alg, rounds=rounds, pool=pool, n=n)
            print_rows(f"{alg}, in-memory store", rows, "floor: raw signature check")
            results["sections"][alg] = {k: vars(r) for k, r in rows.items()}
            floor = rows["floor: raw signature check"].us
            cold = rows["tokenauth cold (memory store)"].us
            warm = rows["tokenauth warm (memory store)"].us
            if alg in ("RS256", "HS256"):
                bound, speedup = (1.3, 2.3) if alg == "RS256" else (3.0, 6.0)
                goals.append(
                    Goal(f"{alg} cold / raw signature check", cold / floor, bound, "x", False)
                )
                goals.append(
                    Goal(
                        f"{alg} cold: throughput vs PyJWT jwt.decode",
                        rows["PyJWT jwt.decode"].us / cold, speedup, "x", True,
                    )
                )  # fmt: skip
                states = rows.get(validation.HMAC_STATES_FLOOR)
                if states is not None:
                    goals.append(
                        Goal(
                            f"{alg} cold / HMAC from precomputed key states",
                            cold / states.us, bound, "x", False,
                            note="reported: the floor if HMAC is computed as tokenauth does",
                        )
                    )  # fmt: skip
                goals.append(Goal(f"{alg} warm, memory store", warm, 1.0, "µs", False))

    if "redis" not in skip:
        rows, note = validation.redis_rows(rounds=rounds, pool=pool, n=n)
        if note:
            print(f"\n## Redis\n\nskipped: {note}")
            results["notes"].append(f"Redis: {note}")
        else:
            print_rows("RS256, Redis store", rows, None)
            results["sections"]["Redis"] = {k: vars(r) for k, r in rows.items()}
            viewed = rows["tokenauth warm (Redis, local view)"]
            goals.append(
                Goal(
                    "Redis warm (local view): validations/s", viewed.per_second, 100_000, "/s", True
                )
            )

    if "sql" not in skip:
        rows, note = validation.sql_rows(rounds=rounds, pool=pool, n=n // 4)
        if rows:
            print_rows("RS256, SQL stores", rows, None)
            results["sections"]["SQL"] = {k: vars(r) for k, r in rows.items()}
        if note:
            print(f"\nSQLite/PostgreSQL: {note}")
            results["notes"].append(f"SQL: {note}")
        lookups, skipped = sql.lookup_rows(rounds=rounds, n=n // 8)
        print("\n## SQL store lookups vs a bare SQLAlchemy Core select by key\n")
        print(sql.describe(lookups))
        for label, lookup in lookups.items():
            results["sections"][f"SQL lookup {label}"] = {k: vars(r) for k, r in lookup.items()}
            store_us = lookup[sql.STORE].us
            goals.append(
                Goal(
                    f"{label} warm lookup / prebuilt Core select by key (autocommit)",
                    store_us / lookup[sql.PREBUILT].us, 1.3, "x", False,
                )
            )  # fmt: skip
            goals.append(
                Goal(
                    f"{label} warm lookup / Core select built per call (autocommit)",
                    store_us / lookup[sql.FLOOR].us, 1.3, "x", False,
                    note="reported: the floor as application code usually writes it",
                )
            )  # fmt: skip
        for each in skipped:
            print(f"\n{each}")
            results["notes"].append(f"SQL lookups: {each}")
        view_rows, view_note = sql.view_rows(rounds=rounds, pool=pool, n=n)
        if view_note:
            print(f"\n{view_note}")
            results["notes"].append(view_note)
        else:
            print_rows("RS256, PostgreSQL store with its local view", view_rows, None)
            results["sections"]["PostgreSQL view"] = {k: vars(r) for k, r in view_rows.items()}
        goals.append(
            Goal(
                "PostgreSQL local view, warm validation",
                view_rows[sql.VIEW_WARM].us if view_rows else nan, 2.0, "µs", False,
            )
        )  # fmt: skip

    if "revocation" not in skip:
        measured = revocation.run(samples=50 if quick else 200)
        print("\n## Cross-process revocation (Redis local view)\n")
        if isinstance(measured, str):
            print(f"skipped: {measured}")
            results["notes"].append(f"revocation: {measured}")
        else:
            print(revocation.describe(measured))
            results["sections"]["revocation"] = measured
            goals.append(
                Goal(
                    "revocation seen by another process, p99", measured["p99_ms"], 10.0, "ms", False
                )
            )
        pg_measured = revocation.run_postgresql(samples=50 if quick else 200)
        print("\n## Cross-process revocation (PostgreSQL local view)\n")
        if isinstance(pg_measured, str):
            print(f"skipped: {pg_measured}")
            results["notes"].append(f"revocation (PostgreSQL): {pg_measured}")
        else:
            print(revocation.describe(pg_measured))
            results["sections"]["revocation (PostgreSQL)"] = pg_measured
        goals.append(
            Goal(
                "PostgreSQL local view: revocation seen by another process, p99",
                nan if isinstance(pg_measured, str) else pg_measured["p99_ms"], 20.0, "ms", False,
            )
        )  # fmt: skip

    if "logins" not in skip:
        measured_logins = logins.run(seconds=1.0 if quick else 3.0)
        print("\n## Logins\n")
        print(logins.describe(measured_logins))
        results["sections"]["logins"] = measured_logins
        rates = measured_logins["api_key_per_second"]
        fastest = max(rates, key=rates.__getitem__)
        goals.append(
            Goal(f"API-key logins/s (fastest algorithm: {fastest})", rates[fastest], 20_000,
                 "/s", True)
        )  # fmt: skip
        goals.append(
            Goal(
                "RS256 API-key logins/s", rates.get("RS256", nan), 20_000, "/s", True,
                note="reported, not judged: one RSA-2048 signature takes ~0.3 ms",
            )
        )  # fmt: skip
        goals.append(
            Goal(
                "validation throughput during a password-login flood",
                measured_logins["flood"]["ratio"], 0.5, "x", True,
            )
        )  # fmt: skip
        shed = measured_logins["bursts"][logins.BURSTS[1][0]]
        goals.append(
            Goal(
                "200 simultaneous password logins: answered within 5 s (default shedding)",
                shed["answered_within_5s"], 0.99, "", True,
            )
        )  # fmt: skip

    if "e2e" not in skip:
        measured_e2e = e2e.run(seconds=5 if quick else 10)
        print("\n## End to end: uvicorn, one worker, wrk on loopback\n")
        if isinstance(measured_e2e, str):
            print(f"skipped: {measured_e2e}")
            results["notes"].append(f"e2e: {measured_e2e}")
        else:
            print(e2e.describe(measured_e2e))
            results["sections"]["e2e"] = measured_e2e
            for kind, rps in measured_e2e["rps"].items():
                base = rps["unprotected"]
                for mode in ("memory", "redis"):
                    if mode not in rps:
                        continue
                    goals.append(
                        Goal(
                            f"{kind} endpoint: protected ({mode} store) / unprotected requests/s",
                            rps[mode] / base, 0.9, "x", True,
                        )
                    )  # fmt: skip

    if "demo" not in skip:
        measured_demo = demo_server.run_all(seconds=3 if quick else 5)
        print("\n## The demo server, before and after (TLS, loopback)\n")
        print(demo_server.describe(measured_demo))
        results["sections"]["demo"] = measured_demo
        before, after = measured_demo["before"], measured_demo["after"]
        goals.append(
            Goal(
                "demo server: one keep-alive connection, after / before requests/s",
                after["one_connection_rps"] / before["one_connection_rps"], 20, "x", True,
            )
        )  # fmt: skip
        goals.append(
            Goal(
                "demo server: SIGTERM to exit with idle keep-alive connections",
                after["stop_seconds_with_idle_connections"], 5, "s", False,
            )
        )  # fmt: skip

    print("\n## Goals\n")
    print("| goal | measured | target | holds |")
    print("|---|---:|---:|:---:|")
    for goal in goals:
        sign = ">=" if goal.higher_is_better else "<="
        value = f"{goal.value:,.2f} {goal.unit}" if goal.value == goal.value else "not measured"
        target = f"{sign} {goal.target:,g} {goal.unit}"
        verdict = (
            ("yes" if goal.holds else "NO")
            if not goal.note
            else (f"{'yes' if goal.holds else 'no'} (not judged; {goal.note})")
        )
        print(f"| {goal.name} | {value} | {target} | {verdict} |")
    results["goals"] = [{**vars(g), "holds": g.holds} for g in goals]
    results["seconds"] = round(time.time() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    judged = [g for g in goals if not g.note]
    print(
        f"\n{len(judged)} goals, {sum(g.holds for g in judged)} hold; took {results['seconds']} s;"
    )
    print(f"load average at end: {results['machine']['load_average_at_end']}; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
