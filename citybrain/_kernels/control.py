"""numba kernels of the online controllers (max-pressure).

Public wrappers live in :mod:`citybrain.control.maxpressure`; pure-numpy references in
``tests/naive/control.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import config


# "(i8[:], i8[:], f8[:], f8[:], u1[:], f8[:], f8[:])"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _downstream_queues(mov_to_edge, edge_out_ptr, edge_out_mov, turn_ratio, upstream, observed, exit_vehicles):
    """Numba kernel for the turning-ratio-weighted downstream queue of every movement.

    For movement ``m`` entering edge ``e``, the downstream queue is the sum over the movements
    ``p`` leaving ``e`` at the next junction of ``turn_ratio[p] * upstream[p]`` when all of them
    are observed, else ``exit_vehicles[m]`` (vehicles on ``m``'s exit lanes). Public wrapper:
    :func:`citybrain.control.maxpressure.downstream_queues`.
    """
    n = mov_to_edge.shape[0]
    out = np.empty(n, dtype=np.float64)
    for m in range(n):
        e = mov_to_edge[m]
        total = 0.0
        complete = e >= 0 and edge_out_ptr[e + 1] > edge_out_ptr[e]
        if complete:
            for k in range(edge_out_ptr[e], edge_out_ptr[e + 1]):
                p = edge_out_mov[k]
                if observed[p] == 0:
                    complete = False
                    break
                total += turn_ratio[p] * upstream[p]
        out[m] = total if complete else exit_vehicles[m]
    return out


# "(i8[:], i8[:], i8[:], f8[:], f8[:], f8[:])"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _phase_pressures(tls_phase_ptr, phase_mov_ptr, phase_mov, sat_flow_vph, upstream, downstream):
    """Numba kernel for the max-pressure of every phase of every traffic light.

    Pressure of phase ``k`` = sum over its movements ``m`` of ``sat_flow_vph[m] / 3600 *
    (upstream[m] - downstream[m])`` (Varaiya 2013). Serial: it runs once per decision step on a
    few thousand numbers, where waking a thread pool costs more than the loop. Public wrapper:
    :func:`citybrain.control.maxpressure.phase_pressures`.
    """
    n_tls = tls_phase_ptr.shape[0] - 1
    out = np.zeros(phase_mov_ptr.shape[0] - 1, dtype=np.float64)
    for t in range(n_tls):
        for k in range(tls_phase_ptr[t], tls_phase_ptr[t + 1]):
            total = 0.0
            for j in range(phase_mov_ptr[k], phase_mov_ptr[k + 1]):
                m = phase_mov[j]
                total += sat_flow_vph[m] / 3600.0 * (upstream[m] - downstream[m])
            out[k] = total
    return out
