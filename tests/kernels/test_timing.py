"""The numba timing kernels against their pure-numpy references (tests/naive/timing.py)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.timing import (
    _delay_state,
    _disperse_profile,
    _local_delay,
    _network_delay,
    _queue_profile,
    _search_offsets,
)

from ..naive import timing as naive


def random_model(rng, n_light=3, per_light=3, c=40):
    """A small random delay model: a chain of lights, movements fed by the previous light."""
    n = n_light * per_light
    light = np.repeat(np.arange(n_light), per_light).astype(np.int64)
    cap_local = np.zeros((n, c))
    for m in range(n):
        start = rng.integers(0, c)
        length = rng.integers(8, c - 8)
        cap_local[m, (start + np.arange(length)) % c] = 0.5
    q = rng.uniform(0.02, 0.2, n)
    up_ptr, up_mov = [0], []
    for m in range(n):
        if light[m] > 0:
            up_mov.extend(int(u) for u in np.flatnonzero(light == light[m] - 1)[: rng.integers(0, per_light + 1)])
        up_ptr.append(len(up_mov))
    shift = rng.integers(0, 30, n).astype(np.int64)
    factor = rng.uniform(0.2, 1.0, n)
    return cap_local, light, q, np.array(up_ptr, dtype=np.int64), np.array(up_mov, dtype=np.int64), shift, factor


def test_dispersion_matches_reference_and_keeps_volume():
    rng = np.random.default_rng(1)
    for _ in range(5):
        inflow = rng.uniform(0, 1, 60) * (rng.uniform(0, 1, 60) > 0.5)
        out = np.empty(60)
        _disperse_profile(inflow, 7, 0.3, out)
        npt.assert_allclose(out, naive.disperse_profile(inflow, 7, 0.3), rtol=1e-9)
        assert out.sum() == pytest.approx(inflow.sum(), rel=1e-2)


def test_queue_edge_cases():
    c = 10
    dep = np.empty(c)
    assert _queue_profile(np.zeros(c), np.ones(c), dep) == 0.0  # zero demand
    arr = np.full(c, 0.3)
    cap = np.r_[np.zeros(5), np.ones(5)]  # 5 s red, 5 s green
    d = _queue_profile(arr, cap, dep)
    ref_dep, ref_d = naive.queue_profile(arr, cap)
    assert d == pytest.approx(ref_d) and d == pytest.approx(0.3 * (1 + 2 + 3 + 4 + 5) + 0.3 * 5 * 0.0 + dep_rest(arr, cap))
    npt.assert_allclose(dep, ref_dep)
    # saturated: arrivals above capacity; the queue keeps growing, delay of the last cycle reported
    d_sat = _queue_profile(np.full(c, 0.9), cap, dep)
    assert d_sat == pytest.approx(naive.queue_profile(np.full(c, 0.9), cap)[1])


def dep_rest(arr, cap):
    """Queue left during the green steps of the hand-worked case (1.5 veh clears in step 5)."""
    queue, total = 1.5, 0.0
    for t in range(5, 10):
        queue = max(queue + arr[t] - cap[t], 0.0)
        total += queue
    return total


@pytest.mark.parametrize("seed", range(4))
def test_network_delay_matches_reference(seed):
    rng = np.random.default_rng(seed)
    cap_local, light, q, up_ptr, up_mov, shift, factor = random_model(rng)
    offsets = rng.integers(0, cap_local.shape[1], 3).astype(np.int64)
    n, c = cap_local.shape
    dep, delay = np.empty((n, c)), np.empty(n)
    total = _network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, 3, dep, delay)
    ref_total, ref_delay = naive.network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, 3)
    assert total == pytest.approx(ref_total, rel=1e-9)
    npt.assert_allclose(delay, ref_delay, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("coarse", [1, 4])
def test_search_is_near_brute_force_on_two_lights(coarse):
    """Heuristic search (exhaustive, or a 4-step grid then every step near the best) within 2%
    of the brute-force optimum on 95% of small cases."""
    hits, cases = 0, 12
    for seed in range(cases):
        rng = np.random.default_rng(100 + seed)
        cap_local, light, q, up_ptr, up_mov, shift, factor = random_model(rng, n_light=2, per_light=3, c=30)
        c = cap_local.shape[1]
        light_ptr = np.array([0, 3, 6], dtype=np.int64)
        light_mov = np.arange(6, dtype=np.int64)
        down = [sorted({m for m in range(6) if light[m] == 1 and up_ptr[m + 1] > up_ptr[m]}), []]
        down_ptr = np.array([0, len(down[0]), len(down[0])], dtype=np.int64)
        down_mov = np.array(down[0], dtype=np.int64)
        init = np.vstack([np.zeros(2, dtype=np.int64), rng.integers(0, c, (2, 2))])
        _, found = _search_offsets(init, 1, cap_local, light, q, up_ptr, up_mov, shift, factor, light_ptr, light_mov,
                                   down_ptr, down_mov, 8, coarse)
        best = min(naive.network_delay(np.array([0, o]), cap_local, light, q, up_ptr, up_mov, shift, factor, 3)[0]
                   for o in range(c))
        hits += found <= best * 1.02 + 1e-9
    assert hits >= 0.95 * cases


def test_local_delay_is_the_change_of_the_network_delay():
    """Re-evaluating one light (its movements and those it feeds) tracks the network delay.

    Light 0 of a chain gets a new capacity profile; the change of the local delay equals the
    change of the two-sweep network delay (nothing downstream of its followers changes in a
    chain of two lights).
    """
    rng = np.random.default_rng(5)
    cap_local, light, q, up_ptr, up_mov, shift, factor = random_model(rng, n_light=2, per_light=3, c=30)
    n, c = cap_local.shape
    offsets = np.array([3, 11], dtype=np.int64)
    light_ptr = np.array([0, 3, 6], dtype=np.int64)
    light_mov = np.arange(6, dtype=np.int64)
    down = sorted({m for m in range(6) if light[m] == 1 and up_ptr[m + 1] > up_ptr[m]})
    down_ptr = np.array([0, len(down), len(down)], dtype=np.int64)
    down_mov = np.array(down, dtype=np.int64)
    dep, delay, store = np.empty((n, c)), np.empty(n), np.empty((n, c))
    before = _delay_state(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, dep, delay, store)
    work = [np.empty(c) for _ in range(4)]
    tmp_dep, tmp_pos = np.empty((3, c)), -np.ones(n, dtype=np.int64)

    def local():
        return _local_delay(0, offsets[0], offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, light_ptr,
                            light_mov, down_ptr, down_mov, dep, store, tmp_dep, tmp_pos, *work, False, delay)

    old = local()
    cap_local[:3] = np.roll(cap_local[:3], 5, axis=1)
    new = local()
    after = _network_delay(offsets, cap_local, light, q, up_ptr, up_mov, shift, factor, 2, np.empty((n, c)),
                           np.empty(n))
    assert new - old == pytest.approx(after - before, rel=1e-9, abs=1e-9)
