"""Numba kernel of turning ratios pooled over a period (:func:`citybrain.estimation.estimate_flows`).

Pure-numpy reference: ``tests/naive/plates.py`` (``pool_turning_ratios``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ... import config

__all__ = ["_pool_turning_ratios"]


# "(f8[:, :], i8[:], i8[:], f8[:], f8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _pool_turning_ratios(x, seg_start, seg_end, prior, prior_weight):
    """Numba kernel for the ratio step of the pooled estimate in :func:`citybrain.estimation.estimate_flows`.

    ``x`` is ``(n_t, n_var)`` flows (veh/h) of the period's intervals; the flows of approach
    ``k`` are ``seg_start[k]:seg_end[k]``. Per approach the constant ratios that best explain
    every interval's movement flows from its approach flow ``Q_t``, in least squares, shrunk
    towards ``prior`` as if it were ``prior_weight`` periods' worth of data:
    ``r_m = (sum_t x_mt Q_t + c prior_m) / (sum_t Q_t^2 + c)``, ``c = prior_weight sum_t Q_t^2``
    (they sum to 1 when ``prior`` does). ``prior`` where the approach carried nothing.
    """
    n_t = x.shape[0]
    out = prior.copy()
    q = np.empty(n_t)
    for k in range(seg_start.shape[0]):
        a, b = seg_start[k], seg_end[k]
        qq = 0.0
        for t in range(n_t):
            q[t] = 0.0
            for m in range(a, b):
                q[t] += x[t, m]
            qq += q[t] * q[t]
        if qq <= 0.0:
            continue
        for m in range(a, b):
            s = 0.0
            for t in range(n_t):
                s += x[t, m] * q[t]
            out[m] = (s + prior_weight * qq * prior[m]) / ((1.0 + prior_weight) * qq)
    return out
