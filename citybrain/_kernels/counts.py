"""Numba kernels for count validation: numbering the distinct rows of integer code columns.

Behind ``citybrain.counts.validate``: the rows of a count file, their text columns as category
codes, are numbered by (camera, place) and by (place, interval) in one pass with a hash table,
without a sort or a Python object per row. Pure-numpy reference: ``tests/naive/counts.py``
(``number_code_rows``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import config

__all__ = ["_number_code_rows"]


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
