"""Numba kernels for numbering the count keys (``camera_id, junction, from_edge, to_edge``) of a table.

Behind ``citybrain.estimation.problem._count_keys``: the key columns' UTF-8 bytes are hashed
row by row, the rows numbered by hash, and every row checked byte by byte against its key's
first row. Pure-numpy reference: ``tests/naive/estimation.py`` (``count_keys``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config

__all__ = ["_row_hashes", "_number_rows", "_rows_match"]


# "(UniTuple(i8[:]), UniTuple(u1[:]))"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _row_hashes(offsets, data):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: row hashes.

    A 64-bit hash (FNV-1a over the bytes and lengths, then MurmurHash3's finaliser) of every
    row of a table of string columns, each column given as Arrow-style ``offsets`` (``(n_rows
    + 1,)``) into its UTF-8 ``data``. Column by column (a column taken from the tuples once,
    not per row), rows in parallel (``prange``).
    """
    n = offsets[0].shape[0] - 1
    hashes = np.full(n, np.uint64(14695981039346656037))
    for c in range(len(offsets)):
        off = offsets[c]
        col = data[c]
        for r in prange(n):
            h = hashes[r]
            for k in range(off[r], off[r + 1]):
                h = (h ^ np.uint64(col[k])) * np.uint64(1099511628211)
            # the value's length ends it, so ("ab", "c") and ("a", "bc") differ
            hashes[r] = (h ^ np.uint64(off[r + 1] - off[r] + 256)) * np.uint64(1099511628211)
    for r in prange(n):
        h = hashes[r]
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
        hashes[r] = h
    return hashes


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _same_value(off, col, r, q):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: rows ``r`` and ``q`` hold the same bytes in this column."""
    a = off[r]
    b = off[q]
    m = off[r + 1] - a
    if off[q + 1] - b != m:
        return False
    for k in range(m):
        if col[a + k] != col[b + k]:
            return False
    return True


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _same_row(offsets, data, r, q):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: rows ``r`` and ``q`` hold the same bytes in every column."""
    for c in range(len(offsets)):
        if not _same_value(offsets[c], data[c], r, q):
            return False
    return True


# "(u8[:], UniTuple(i8[:]), UniTuple(u1[:]), b1)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _number_rows(hashes, offsets, data, exact):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: key numbers.

    Numbers the distinct rows in order of first appearance with an open-addressing table
    keyed by ``hashes`` (from :func:`_row_hashes`). ``exact=False`` takes equal hashes for
    equal rows (check with :func:`_rows_match`); ``exact=True`` also compares the bytes.

    Returns
    -------
    code : ndarray
        ``(n_rows,)`` number of each row's key (0, 1, ... in order of first appearance).
    first : ndarray
        ``(n_keys,)`` the first row of each key.
    """
    n = hashes.shape[0]
    cap = 1 << 16
    slot_key = np.full(cap, -1, dtype=np.int64)
    code = np.empty(n, dtype=np.int64)
    first = np.empty(max(n, 1), dtype=np.int64)
    n_keys = 0
    for r in range(n):
        h = hashes[r]
        s = np.int64(h & np.uint64(cap - 1))
        while True:
            key = slot_key[s]
            if key < 0:
                slot_key[s] = n_keys
                first[n_keys] = r
                code[r] = n_keys
                n_keys += 1
                break
            q = first[key]
            if hashes[q] == h and (not exact or _same_row(offsets, data, r, q)):
                code[r] = key
                break
            s = (s + 1) & (cap - 1)
        if 2 * n_keys > cap:  # grow: re-insert every key by its first row's hash
            cap *= 2
            slot_key = np.full(cap, -1, dtype=np.int64)
            for key in range(n_keys):
                s = np.int64(hashes[first[key]] & np.uint64(cap - 1))
                while slot_key[s] >= 0:
                    s = (s + 1) & (cap - 1)
                slot_key[s] = key
    return code, first[:n_keys].copy()


# "(i8[:], i8[:], UniTuple(i8[:]), UniTuple(u1[:]))"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _rows_match(code, first, offsets, data):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: the check.

    ``True`` when every row holds the same bytes as the first row of its key (no two
    distinct rows shared a hash in :func:`_number_rows`). Column by column, rows in parallel
    (``prange``); counts the mismatching values.
    """
    n = code.shape[0]
    bad = 0
    for c in range(len(offsets)):
        off = offsets[c]
        col = data[c]
        for r in prange(n):
            if not _same_value(off, col, r, first[code[r]]):
                bad += 1
    return bad == 0
