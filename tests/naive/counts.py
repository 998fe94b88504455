"""Slow, obvious references for count validation.

* :func:`number_code_rows` -- distinct rows of integer columns numbered with a dict
  (reference of ``citybrain._kernels.counts._number_code_rows``);
* :func:`grid_slots` -- starts placed on the interval grid with ``numpy.mod`` (reference of
  ``_grid_slots``);
* :func:`camera_slots` -- each camera's counted slots from a set of pairs (reference of
  ``_camera_slots``);
* :func:`shared_rows` -- rows sharing a (key, interval), by a counter (reference of
  ``_shared_rows``).
"""

from __future__ import annotations

import numpy as np


def number_code_rows(codes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Number of every row's combination of codes in order of first appearance, and each combination's first row."""
    seen: dict[tuple[int, ...], int] = {}
    number = np.empty(len(codes[0]), dtype=np.int64)
    first: list[int] = []
    for r, row in enumerate(zip(*(c.tolist() for c in codes), strict=True)):
        if row not in seen:
            seen[row] = len(first)
            first.append(r)
        number[r] = seen[row]
    return number, np.array(first, dtype=np.int64)


def grid_slots(start: np.ndarray, t0: float, interval_s: float, tol: float) -> np.ndarray:
    """Slot of every start on the grid from ``t0`` by ``numpy.mod`` (-1: not finite, -2: off the grid)."""
    slot = np.full(len(start), -1, dtype=np.int64)
    finite = np.isfinite(start)
    phase = np.mod(start[finite] - t0, interval_s)
    on = np.minimum(phase, interval_s - phase) <= tol
    slot[np.flatnonzero(finite)[~on]] = -2
    slot[np.flatnonzero(finite)[on]] = np.rint((start[finite][on] - t0) / interval_s).astype(np.int64)
    return slot


def camera_slots(camera: np.ndarray, slot: np.ndarray, n_cameras: int, n_slots: int) -> np.ndarray:
    """The (camera, slot) table of the rows with a slot, by a set."""
    seen = np.zeros((n_cameras, n_slots), dtype=bool)
    for c, s in {(int(c), int(s)) for c, s in zip(camera, slot, strict=True) if s >= 0}:
        seen[c, s] = True
    return seen


def shared_rows(key: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Rows (with ``when >= 0``) whose (key, when) occurs more than once, by a counter."""
    from collections import Counter

    pairs = [(int(k), int(w)) for k, w in zip(key, when, strict=True)]
    seen = Counter(p for p in pairs if p[1] >= 0)
    return np.array([p[1] >= 0 and seen[p] > 1 for p in pairs], dtype=bool)
