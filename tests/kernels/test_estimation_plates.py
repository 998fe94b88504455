"""Kernels of plate re-identification and pooled turning ratios against their numpy references."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.estimation.plates import _link_sightings, _path_weights
from citybrain._kernels.estimation.pooling import _pool_turning_ratios

from ..naive import plates as naive


def _sightings(rng, n, n_plates, n_cameras):
    plate = rng.integers(1, n_plates + 1, n).astype(np.int64)
    time_s = rng.uniform(0, 3600, n)
    order = np.lexsort((time_s, plate))
    return plate[order], time_s[order], rng.integers(0, n_cameras, n).astype(np.int64)[order]


@pytest.mark.parametrize(("n", "n_plates", "n_cameras"), [(0, 1, 2), (1, 1, 2), (2, 1, 2), (300, 40, 5), (5000, 900, 30)])
def test_link_sightings_matches_loop(n, n_plates, n_cameras):
    rng = np.random.default_rng(n)
    plate, time_s, camera = _sightings(rng, n, n_plates, n_cameras)
    a, b = np.nonzero(rng.random((n_cameras, n_cameras)) < 0.6)
    keep = a != b
    pair_key = np.sort(a[keep].astype(np.int64) * n_cameras + b[keep])
    pair_free = rng.uniform(10, 600, len(pair_key))
    args = (plate, time_s, camera, pair_key, pair_free, np.int64(n_cameras), 3.0, 120.0, 0.5)
    got = _link_sightings(*args)
    ref = naive.link_sightings(*args)
    for g, r in zip(got, ref, strict=True):
        npt.assert_array_equal(g, r)
    if n >= 300:
        assert len(got[0]) > 0  # the case links something


def test_link_sightings_time_window_edges():
    plate = np.array([7, 7, 7, 9, 9], dtype=np.int64)
    time_s = np.array([0.0, 50.0, 400.0, 0.0, 5.0])
    camera = np.array([0, 1, 0, 0, 1], dtype=np.int64)
    pair_key = np.array([0 * 2 + 1, 1 * 2 + 0], dtype=np.int64)
    free = np.array([100.0, 100.0])
    first, pair = _link_sightings(plate, time_s, camera, pair_key, free, np.int64(2), 3.0, 50.0, 0.5)
    # 0->1 in 50 s (>= 0.5 * 100), 1->0 in 350 s (<= 3 * 100 + 50); plate 9 in 5 s is too fast
    npt.assert_array_equal(first, [0, 1])
    npt.assert_array_equal(pair, [0, 1])


@pytest.mark.parametrize("seed", range(3))
def test_path_weights_match_add_at(seed):
    rng = np.random.default_rng(seed)
    n_pairs, n_var = 20, 30
    lengths = rng.integers(1, 5, n_pairs)
    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    var = rng.integers(0, n_var, ptr[-1]).astype(np.int64)
    frag = rng.integers(0, n_pairs, 200).astype(np.int64)
    w = rng.uniform(1, 20, 200)
    got = _path_weights(frag, ptr, var, w, np.int64(n_var))
    ref = naive.path_weights(frag, ptr, var, w, n_var)
    for g, r in zip(got, ref, strict=True):
        npt.assert_allclose(g, r, rtol=1e-12)


@pytest.mark.parametrize(("seed", "prior_weight"), [(0, 0.0), (1, 1.0), (2, 3.5)])
def test_pool_turning_ratios_match_lstsq(seed, prior_weight):
    rng = np.random.default_rng(seed)
    seg_start = np.array([0, 3, 4, 6], dtype=np.int64)
    seg_end = np.array([3, 4, 6, 9], dtype=np.int64)
    x = rng.uniform(0, 400, (4, 9))
    x[:, 4:6] = 0.0  # an approach that never carries flow keeps its prior
    prior = rng.uniform(0.1, 1, 9)
    for a, b in zip(seg_start, seg_end, strict=True):
        prior[a:b] /= prior[a:b].sum()
    got = _pool_turning_ratios(x, seg_start, seg_end, prior, prior_weight)
    npt.assert_allclose(got, naive.pool_turning_ratios(x, seg_start, seg_end, prior, prior_weight), rtol=1e-10)
    npt.assert_allclose(got[4:6], prior[4:6])
    for a, b in zip(seg_start, seg_end, strict=True):
        assert got[a:b].sum() == pytest.approx(1.0)


def test_pool_turning_ratios_recover_constant_ratios():
    # Cremer and Keller: constant ratios, varying approach flows -> the ratios exactly
    q = np.array([100.0, 300.0, 250.0, 600.0])
    r = np.array([0.2, 0.5, 0.3])
    x = q[:, None] * r[None, :]
    got = _pool_turning_ratios(x, np.array([0], dtype=np.int64), np.array([3], dtype=np.int64), np.full(3, 1 / 3), 0.0)
    npt.assert_allclose(got, r, rtol=1e-12)
