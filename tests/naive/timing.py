"""Pure-numpy references of the timing computations (slow and obvious)."""

from __future__ import annotations

import itertools

import numpy as np


def webster_splits(y, cycle_s, lost_s):
    """Webster's greens ``(C - L) y_i / Y`` for one movement per phase (seconds)."""
    y = np.asarray(y, dtype=float)
    return (cycle_s - lost_s) * y / y.sum()


def min_max_saturation(y, service, cycle_s, lost_s, min_green, step=0.25):
    """Brute-force the least worst degree of saturation over a grid of green splits."""
    n = service.shape[1]
    eff = cycle_s - lost_s
    best = np.inf
    grid = np.arange(0.0, eff + 1e-9, step)
    for g in itertools.product(grid, repeat=n - 1):
        last = eff - sum(g)
        greens = np.array([*g, last])
        if (greens < min_green - 1e-9).any():
            continue
        cap = service @ greens
        rows = y > 0
        best = min(best, float(np.max(y[rows] * cycle_s / cap[rows])))
    return best


def disperse_profile(inflow, shift, factor):
    """Robertson's cyclic platoon dispersion, written as the textbook recursion over 3 cycles."""
    inflow = np.asarray(inflow, dtype=float)
    c = len(inflow)
    out = np.zeros(c)
    prev = inflow.mean()
    for _ in range(3):
        for t in range(c):
            prev = factor * inflow[t] + (1 - factor) * prev
            out[(t + shift) % c] = prev
    return out


def queue_profile(arrivals, capacity):
    """Vertical queue over repeated cycles; (departures, delay of the last cycle in veh*steps)."""
    c = len(arrivals)
    queue, last_end = 0.0, -1.0
    for _ in range(4):
        dep = np.zeros(c)
        delay = 0.0
        for t in range(c):
            avail = queue + arrivals[t]
            dep[t] = min(capacity[t], avail)
            queue = avail - dep[t]
            delay += queue
        if abs(queue - last_end) < 1e-9:
            break
        last_end = queue
    return dep, delay


def network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, n_sweeps):
    """The TRANSYT-style network delay (veh*steps per cycle) with numpy rolls; per-movement delays too."""
    n, c = cap_local.shape
    dep = np.repeat(np.asarray(q, dtype=float)[:, None], c, axis=1)
    delay = np.zeros(n)
    for _ in range(n_sweeps):
        for m in range(n):
            ups = up_mov[up_ptr[m]:up_ptr[m + 1]]
            if len(ups) == 0:
                arr = np.full(c, q[m])
            else:
                disp = disperse_profile(dep[ups].sum(axis=0), shift[m], factor[m])
                arr = disp * q[m] / disp.mean() if disp.mean() > 1e-12 else np.full(c, q[m])
            cap = np.roll(cap_local[m], offsets[light[m]])
            dep[m], delay[m] = queue_profile(arr, cap)
    return delay.sum(), delay
