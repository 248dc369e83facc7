"""Benchmarks: validation cost side by side with its floors and with other libraries.

Run them all with ``python3 dev.py bench`` (``--quick`` for a short run); see
``docs/performance.md``.
"""
