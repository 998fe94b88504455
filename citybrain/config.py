"""Numeric defaults and numba flags.

Settings here change how code runs, never what it computes: numbers that change an
algorithm's result (saturation flow, lost time) are function parameters instead.

NUMBA_CACHE : bool
    Cache compiled kernels on disk (``cache=True``). The CLI starts cold on every run, so
    this is on. Set ``NUMBA_CACHE_DIR`` when the package folder is not writable; numba
    falls back to compiling in memory if it cannot write.
FASTMATH_FLAGS : set of str
    numba ``fastmath`` flags for every kernel. ``nnan`` and ``ninf`` are left out on
    purpose: missing camera counts arrive as NaN and kernels must handle them.
SUMO_WALL_CLOCK_LIMIT_S : float
    Wall-clock limit (seconds) for one SUMO run before it is stopped as hung.
"""

from __future__ import annotations

NUMBA_CACHE: bool = True
FASTMATH_FLAGS: set[str] = {"nsz", "arcp", "contract", "afn", "reassoc"}
SUMO_WALL_CLOCK_LIMIT_S: float = 1800.0

