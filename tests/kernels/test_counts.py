"""The kernel numbering the distinct rows of count validation's code columns, against a dict."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.counts import _number_code_rows

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
