"""Slow, obvious references for count validation.

* :func:`number_code_rows` -- distinct rows of integer columns numbered with a dict
  (reference of ``citybrain._kernels.counts._number_code_rows``).
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
