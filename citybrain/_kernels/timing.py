"""numba kernels of signal timing: the TRANSYT-style delay model and the offset search.

Public wrappers: :func:`citybrain.timing.delay_model.cyclic_delay`,
:class:`citybrain.timing.delay_model.LocalDelay` and :func:`citybrain.timing.coordination.coordinated`. Pure-numpy references:
``tests/naive/timing.py``.

Time runs in 1 s steps over one common cycle of ``C`` steps. Per movement ``m``:
``cap_local[m, t]`` is its discharge capacity (veh/step) at plan time ``t`` (0 outside
green), ``q[m]`` its mean arrival rate (veh/step), ``light[m]`` its light. Upstream
movements feeding ``m``'s approach are ``up_mov[up_ptr[m]:up_ptr[m + 1]]``; their
departures, delayed by ``shift[m]`` steps and smoothed by Robertson's factor ``F[m]``,
shape ``m``'s arrivals (scaled to the rate ``q[m]``). Offsets shift each light's plan:
``cap(t) = cap_local[(t - offset) mod C]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import config

__all__ = ["_disperse_profile", "_queue_profile", "_arrival_profile", "_network_delay", "_search_offsets",
           "_delay_state", "_local_delay"]


# "(f8[:], i8, f8, f8[:])"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _disperse_profile(inflow, shift, factor, out):
    """Numba kernel for Robertson's platoon dispersion over one cycle (cyclic steady state).

    ``out[t + shift] = F inflow[t] + (1 - F) out[t + shift - 1]``, run two cycles from the
    mean so the cyclic profile settles. Wrapper: :func:`citybrain.timing.delay_model.cyclic_delay`.
    """
    c = inflow.shape[0]
    mean = 0.0
    for t in range(c):
        mean += inflow[t]
    mean /= c
    prev = mean
    for rep in range(3):
        for t in range(c):
            k = (t + shift) % c
            prev = factor * inflow[t] + (1.0 - factor) * prev
            out[k] = prev


# "(f8[:], f8[:], f8[:]) -> f8"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _queue_profile(arrivals, capacity, departures):
    """Numba kernel of a vertical queue over repeated cycles; returns delay (veh*s) of the last cycle.

    Runs up to 4 cycles from an empty queue, stopping when the end-of-cycle queue repeats,
    and writes the last cycle's departures.
    """
    c = arrivals.shape[0]
    queue = 0.0
    delay = 0.0
    last_end = -1.0
    for rep in range(4):
        delay = 0.0
        for t in range(c):
            avail = queue + arrivals[t]
            d = capacity[t] if capacity[t] < avail else avail
            departures[t] = d
            queue = avail - d
            delay += queue
        if abs(queue - last_end) < 1e-9:
            break
        last_end = queue
    return delay


@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _arrival_profile(m, q, up_ptr, up_mov, dep, tmp_dep, tmp_pos, shift, factor, inflow, disp, out):
    """Numba kernel: arrivals of movement ``m`` from its upstream departures (``tmp_dep`` overrides)."""
    c = out.shape[0]
    n_up = up_ptr[m + 1] - up_ptr[m]
    if n_up == 0:
        for t in range(c):
            out[t] = q[m]
        return
    for t in range(c):
        inflow[t] = 0.0
    for k in range(up_ptr[m], up_ptr[m + 1]):
        u = up_mov[k]
        p = tmp_pos[u]
        if p >= 0:
            for t in range(c):
                inflow[t] += tmp_dep[p, t]
        else:
            for t in range(c):
                inflow[t] += dep[u, t]
    _disperse_profile(inflow, shift[m], factor[m], disp)
    mean = 0.0
    for t in range(c):
        mean += disp[t]
    mean /= c
    if mean <= 1e-12:
        for t in range(c):
            out[t] = q[m]
    else:
        scale = q[m] / mean
        for t in range(c):
            out[t] = disp[t] * scale


@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _shifted_capacity(cap_local, m, offset, out):
    c = out.shape[0]
    for t in range(c):
        out[t] = cap_local[m, (t - offset) % c]


# "(i8[:], f8[:, :], i8[:], f8[:], i8[:], i8[:], i8[:], f8[:], i8, f8[:, :], f8[:]) -> f8"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, n_sweeps, dep, delay):
    """Numba kernel of the network delay model (veh*s per cycle) for given offsets.

    Sweeps the movements ``n_sweeps`` times (departures feed downstream arrivals), writing
    each movement's departures ``dep`` and delay ``delay``. Wrapper:
    :func:`citybrain.timing.delay_model.cyclic_delay`.
    """
    n, c = cap_local.shape
    inflow = np.empty(c)
    disp = np.empty(c)
    arr = np.empty(c)
    cap = np.empty(c)
    tmp_pos = -np.ones(n, dtype=np.int64)
    tmp_dep = np.empty((1, c))
    for m in range(n):
        for t in range(c):
            dep[m, t] = q[m]
    total = 0.0
    for sweep in range(n_sweeps):
        total = 0.0
        for m in range(n):
            _arrival_profile(m, q, up_ptr, up_mov, dep, tmp_dep, tmp_pos, shift, factor, inflow, disp, arr)
            _shifted_capacity(cap_local, m, offsets[light[m]], cap)
            delay[m] = _queue_profile(arr, cap, dep[m])
            total += delay[m]
    return total


# "(i8[:], f8[:, :], i8[:], f8[:], i8[:], i8[:], i8[:], f8[:], f8[:, :], f8[:], f8[:, :]) -> f8"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _delay_state(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, dep, delay, arr_store):
    """Numba kernel: departures, delays and stored arrivals of every movement at ``offsets``.

    The state :func:`_local_delay` updates one light at a time (two sweeps, as each pass of
    :func:`_search_offsets`); returns the network delay (veh*s per cycle). Wrapper:
    :class:`citybrain.timing.delay_model.LocalDelay`.
    """
    n, c = cap_local.shape
    total = _network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, 2, dep, delay)
    inflow = np.empty(c)
    disp = np.empty(c)
    arr = np.empty(c)
    tmp_dep = np.empty((1, c))
    tmp_pos = -np.ones(n, dtype=np.int64)
    for m in range(n):
        _arrival_profile(m, q, up_ptr, up_mov, dep, tmp_dep, tmp_pos, shift, factor, inflow, disp, arr)
        for t in range(c):
            arr_store[m, t] = arr[t]
    return total


@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _local_delay(l, o, offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, light_ptr, light_mov,
                 down_ptr, down_mov, dep, arr_store, tmp_dep, tmp_pos, inflow, disp, arr, cap, commit, delay):
    """Delay of light ``l``'s movements and their downstream movements with ``l`` at offset ``o``."""
    c = cap_local.shape[1]
    total = 0.0
    for k in range(light_ptr[l], light_ptr[l + 1]):
        m = light_mov[k]
        p = k - light_ptr[l]
        _shifted_capacity(cap_local, m, o, cap)
        d = _queue_profile(arr_store[m], cap, tmp_dep[p])
        total += d
        if commit:
            delay[m] = d
    for k in range(light_ptr[l], light_ptr[l + 1]):
        tmp_pos[light_mov[k]] = k - light_ptr[l]
    for k in range(down_ptr[l], down_ptr[l + 1]):
        m = down_mov[k]
        _arrival_profile(m, q, up_ptr, up_mov, dep, tmp_dep, tmp_pos, shift, factor, inflow, disp, arr)
        _shifted_capacity(cap_local, m, offsets[light[m]], cap)
        if commit:
            for t in range(c):
                arr_store[m, t] = arr[t]
            d = _queue_profile(arr, cap, dep[m])
            delay[m] = d
        else:
            d = _queue_profile(arr, cap, disp)
        total += d
    for k in range(light_ptr[l], light_ptr[l + 1]):
        tmp_pos[light_mov[k]] = -1
        if commit:
            m = light_mov[k]
            for t in range(c):
                dep[m, t] = tmp_dep[k - light_ptr[l], t]
    return total


# "(i8[:, :], i8, f8[:, :], i8[:], f8[:], i8[:], i8[:], i8[:], f8[:], i8[:], i8[:], i8[:], i8[:], i8, i8)
#   -> (i8[:], f8)"
@njit(fastmath=config.FASTMATH_FLAGS, cache=config.NUMBA_CACHE)
def _search_offsets(init, step, cap_local, light, q, up_ptr, up_mov, shift, factor, light_ptr, light_mov,
                    down_ptr, down_mov, n_passes, coarse):
    """Numba kernel of the offset search: coordinate descent from each row of ``init``.

    For each light in turn, the offsets ``0, coarse step, 2 coarse step ...`` are tried with
    the delay of the light's movements and of the movements it feeds re-evaluated, then
    every multiple of ``step`` within ``coarse - 1`` steps of the best (``coarse = 1``: every
    offset ``0, step, 2 step ...``); the best is kept. Passes repeat until none improves
    (or ``n_passes``); the best restart wins. Returns the best offsets and their network
    delay (veh*s per cycle). Wrapper: :func:`citybrain.timing.coordination.coordinated`.
    """
    n_restarts, n_light = init.shape
    n, c = cap_local.shape
    max_light = 1
    for l in range(n_light):
        if light_ptr[l + 1] - light_ptr[l] > max_light:
            max_light = light_ptr[l + 1] - light_ptr[l]
    dep = np.empty((n, c))
    delay = np.empty(n)
    arr_store = np.empty((n, c))
    tmp_dep = np.empty((max_light, c))
    tmp_pos = -np.ones(n, dtype=np.int64)
    inflow = np.empty(c)
    disp = np.empty(c)
    arr = np.empty(c)
    cap = np.empty(c)
    best_offsets = init[0].copy()
    best_total = np.inf
    for r in range(n_restarts):
        offsets = init[r].copy()
        for p in range(n_passes):
            _network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, 2, dep, delay)
            for m in range(n):
                _arrival_profile(m, q, up_ptr, up_mov, dep, tmp_dep, tmp_pos, shift, factor, inflow, disp, arr)
                for t in range(c):
                    arr_store[m, t] = arr[t]
            improved = False
            for l in range(n_light):
                if light_ptr[l + 1] == light_ptr[l]:
                    continue
                cur = _local_delay(l, offsets[l], offsets, cap_local, light, q, up_ptr, up_mov, shift, factor,
                                   light_ptr, light_mov, down_ptr, down_mov, dep, arr_store, tmp_dep, tmp_pos,
                                   inflow, disp, arr, cap, False, delay)
                best_o = offsets[l]
                best_d = cur
                wide = step * coarse
                centre = 0
                # level 0: every ``wide`` seconds; level 1: every ``step`` near the best of level 0
                for level in range(2 if coarse > 1 else 1):
                    if level == 1:
                        centre = best_o - best_o % step
                    n_try = (c + wide - 1) // wide if level == 0 else 2 * coarse - 1
                    for j in range(n_try):
                        if level == 0:
                            o = j * wide
                        else:
                            o = (centre + (j - (coarse - 1)) * step) % c
                            if o % wide == 0 or o % step != 0:
                                continue
                        d = _local_delay(l, o, offsets, cap_local, light, q, up_ptr, up_mov, shift, factor,
                                         light_ptr, light_mov, down_ptr, down_mov, dep, arr_store, tmp_dep, tmp_pos,
                                         inflow, disp, arr, cap, False, delay)
                        if d < best_d - 1e-9 * (1.0 + abs(best_d)):
                            best_d = d
                            best_o = o
                if best_o != offsets[l]:
                    offsets[l] = best_o
                    improved = True
                _local_delay(l, offsets[l], offsets, cap_local, light, q, up_ptr, up_mov, shift, factor,
                             light_ptr, light_mov, down_ptr, down_mov, dep, arr_store, tmp_dep, tmp_pos,
                             inflow, disp, arr, cap, True, delay)
            if not improved:
                break
        total = _network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, 3, dep, delay)
        if total < best_total:
            best_total = total
            best_offsets = offsets.copy()
    return best_offsets, best_total
