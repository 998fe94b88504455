"""Pure-numpy references of the max-pressure kernels (same names as the public wrappers)."""

from __future__ import annotations

import numpy as np


def downstream_queues(mov_to_edge, edge_out_ptr, edge_out_mov, turn_ratio, upstream, observed, exit_vehicles):
    """Turning-ratio-weighted downstream queue per movement, one movement at a time."""
    out = np.array(exit_vehicles, dtype=float)
    for m, e in enumerate(mov_to_edge):
        if e < 0:
            continue
        nxt = edge_out_mov[edge_out_ptr[e]:edge_out_ptr[e + 1]]
        if len(nxt) and all(observed[p] for p in nxt):
            out[m] = sum(turn_ratio[p] * upstream[p] for p in nxt)
    return out


def phase_pressures(tls_phase_ptr, phase_mov_ptr, phase_mov, sat_flow_vph, upstream, downstream):
    """Pressure of each phase: sum of sat flow (veh/s) x (upstream - downstream) over its movements."""
    out = np.zeros(len(phase_mov_ptr) - 1)
    for k in range(len(out)):
        movs = phase_mov[phase_mov_ptr[k]:phase_mov_ptr[k + 1]]
        out[k] = np.sum(sat_flow_vph[movs] / 3600.0 * (upstream[movs] - downstream[movs]))
    return out
