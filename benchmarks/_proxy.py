"""The tests' loopback TCP proxy as a process of its own, driven by lines on stdin.

``python -m benchmarks._proxy HOST PORT`` prints ``PORT <listening port>``, then
obeys ``stall`` (hold every byte, as a hung server does), ``restore`` and
``quit``, one per line, answering ``ok`` to each. A process of its own keeps its
forwarding threads from competing with the load generator for one GIL.
"""

from __future__ import annotations

import sys

from tests.sqlalchemy.proxy import Proxy


def main(argv: list[str]) -> None:
    with Proxy((argv[0], int(argv[1]))) as proxy:
        print(f"PORT {proxy.port}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stall":
                proxy.stall()
            elif command == "restore":
                proxy.restore()
            elif command == "quit":
                return
            print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
