"""Numba kernels for count validation: distinct rows of code columns, the interval grid.

Behind ``citybrain.counts.validate``: the rows of a count file, their text columns as category
codes, are numbered by (camera, place) in one pass with a hash table, without a sort or a
Python object per row (``_number_code_rows``); each start is placed on the file's interval
grid (``_grid_slots``), each camera's counted slots marked (``_camera_slots``) and the rows
that share a (place, interval) found (``_shared_rows``). Pure-numpy references:
``tests/naive/counts.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import config

__all__ = ["_number_code_rows", "_grid_slots", "_camera_slots", "_shared_rows"]


@njit(cache=config.NUMBA_CACHE)
def _row_hash(codes, r):
    """Numba kernel for :func:`_number_code_rows`: a 64-bit hash of row ``r`` (FNV-1a over the codes, MurmurHash3's finaliser)."""
    h = np.uint64(14695981039346656037)
    for c in range(len(codes)):
        h = (h ^ np.uint64(np.int64(codes[c][r]))) * np.uint64(1099511628211)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=config.NUMBA_CACHE)
def _same_row(codes, r, q):
    """Numba kernel for :func:`_number_code_rows`: rows ``r`` and ``q`` hold the same codes."""
    for c in range(len(codes)):
        if codes[c][r] != codes[c][q]:
            return False
    return True


@njit(cache=config.NUMBA_CACHE)
def _number_code_rows(codes):
    """Numba kernel for count validation: number the distinct rows of a table of integer columns.

    ``codes`` is a tuple of equal-length integer arrays (one per column). Returns the number
    of every row's distinct combination, in order of first appearance (``(n_rows,)`` int64),
    and the first row of each combination (``(n_distinct,)`` int64). Open addressing in a
    table kept at most half full (doubled and refilled from the first rows when it would
    pass that).
    """
    n = codes[0].shape[0]
    cap = 1024
    table = np.full(cap, -1, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    number = np.empty(n, dtype=np.int64)
    m = 0
    for r in range(n):
        mask = np.uint64(cap - 1)
        slot = np.int64(_row_hash(codes, r) & mask)
        while True:
            g = table[slot]
            if g < 0:
                table[slot] = m
                first[m] = r
                number[r] = m
                m += 1
                break
            if _same_row(codes, first[g], r):
                number[r] = g
                break
            slot = (slot + 1) & (cap - 1)
        if 2 * m > cap:
            cap *= 2
            table = np.full(cap, -1, dtype=np.int64)
            mask = np.uint64(cap - 1)
            for g in range(m):
                slot = np.int64(_row_hash(codes, first[g]) & mask)
                while table[slot] >= 0:
                    slot = (slot + 1) & (cap - 1)
                table[slot] = g
    return number, first[:m].copy()


@njit(cache=config.NUMBA_CACHE)
def _grid_slots(start, t0, interval_s, tol):
    """Numba kernel for count validation: each start's slot on the interval grid from ``t0``.

    ``start`` (s, NaN where bad) against the grid ``t0 + k * interval_s``: returns ``k``
    (int64) where the start lies within ``tol`` seconds of a grid time, ``-2`` where it is
    finite but off the grid and ``-1`` where it is not finite. Starts are ``>= t0``; the phase
    is ``numpy.fmod`` of the offset, as ``numpy.mod`` computes it for these signs.
    """
    n = start.shape[0]
    slot = np.empty(n, dtype=np.int64)
    for r in range(n):
        s = start[r]
        if not np.isfinite(s):
            slot[r] = -1
            continue
        phase = np.fmod(s - t0, interval_s)
        if min(phase, interval_s - phase) > tol:
            slot[r] = -2
        else:
            slot[r] = np.int64(np.rint((s - t0) / interval_s))
    return slot


@njit(cache=config.NUMBA_CACHE)
def _camera_slots(camera, slot, n_cameras, n_slots):
    """Numba kernel for count validation: which slots each camera counted.

    ``camera`` codes (``0 <= c < n_cameras``) and ``slot`` (``< 0``: left out) per row; returns
    a ``(n_cameras, n_slots)`` table, True where the camera has a row in that slot.
    """
    seen = np.zeros((n_cameras, n_slots), dtype=np.bool_)
    for r in range(camera.shape[0]):
        if slot[r] >= 0:
            seen[camera[r], slot[r]] = True
    return seen


@njit(cache=config.NUMBA_CACHE)
def _shared_rows(key, when, n_when, n_keys):
    """Numba kernel for count validation: rows whose (key, when) another row shares.

    ``key`` (``0 <= k < n_keys``) and ``when`` (``< n_when``; ``< 0``: left out) per row, counted
    in a dense ``(n_keys, n_when)`` table; returns True where a row's pair occurs more than once.
    """
    counts = np.zeros(n_keys * n_when, dtype=np.int32)
    n = key.shape[0]
    for r in range(n):
        if when[r] >= 0:
            counts[key[r] * n_when + when[r]] += 1
    shared = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        if when[r] >= 0:
            shared[r] = counts[key[r] * n_when + when[r]] > 1
    return shared
