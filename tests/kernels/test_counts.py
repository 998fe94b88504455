"""Count validation kernels (distinct code rows, the interval grid, cameras' slots) against their references."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.counts import _camera_slots, _grid_slots, _number_code_rows, _shared_rows

from ..naive import counts as naive


@pytest.mark.parametrize(("seed", "n_rows", "n_values"), [(0, 1, 1), (1, 50, 3), (2, 3000, 40), (3, 100_000, 2000)])
def test_number_code_rows_matches_dict(seed, n_rows, n_values):
    rng = np.random.default_rng(seed)
    codes = tuple(rng.integers(-1, n_values, n_rows).astype(np.int32) for _ in range(3))
    number, first = _number_code_rows(codes)
    ref_number, ref_first = naive.number_code_rows(codes)
    npt.assert_array_equal(number, ref_number)
    npt.assert_array_equal(first, ref_first)


def test_number_code_rows_tells_apart_rows_that_share_a_hash_slot():
    # many distinct rows (the table grows several times) and 64-bit codes far apart
    big = np.array([0, 1, 2**40, -(2**40), 2**62, -1] * 3000, dtype=np.int64)
    codes = (big, np.repeat(np.arange(3), 6000).astype(np.int64))
    number, first = _number_code_rows(codes)
    ref_number, ref_first = naive.number_code_rows(codes)
    npt.assert_array_equal(number, ref_number)
    npt.assert_array_equal(first, ref_first)
    assert len(first) == 18


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_slots_match_numpy_mod(seed):
    rng = np.random.default_rng(seed)
    interval_s = float(rng.choice([60.0, 300.0, 900.0]))
    start = 1000.0 + interval_s * rng.integers(0, 50, 5000) + rng.choice([0.0, 0.0, 0.0, 1e-7, -1e-7, 3e-6, 0.5, 450.0], 5000)
    start[rng.random(5000) < 0.05] = np.nan
    start[rng.random(5000) < 0.02] = np.inf
    t0 = float(np.nanmin(start[np.isfinite(start)]))
    npt.assert_array_equal(_grid_slots(start, t0, interval_s, 1e-6), naive.grid_slots(start, t0, interval_s, 1e-6))


def test_camera_slots_match_a_set():
    rng = np.random.default_rng(4)
    camera = rng.integers(0, 30, 4000).astype(np.int16)
    slot = rng.integers(-2, 12, 4000)
    npt.assert_array_equal(_camera_slots(camera, slot, 30, 12), naive.camera_slots(camera, slot, 30, 12))


def test_shared_rows_match_a_counter():
    rng = np.random.default_rng(5)
    key = rng.integers(0, 40, 3000)
    when = rng.integers(-2, 20, 3000)
    npt.assert_array_equal(_shared_rows(key, when, 20, 40), naive.shared_rows(key, when))
