"""The standard-error kernel against the inverse of each junction block of A^T W A (numpy)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.estimation.standard_errors import _block_standard_errors

from ..naive import estimation as naive
from .estimation_cases import random_problem, sparse_rows

@pytest.mark.parametrize("seed", range(3))
def test_block_standard_errors_match_numpy(seed):
    a, cw, cy, sw, sy, *_ = random_problem(seed, 9, 7, 5, 2)
    blocks = np.array([0, 3, 4, 9], dtype=np.int64)
    se = _block_standard_errors(*sparse_rows(a), np.int64(7), cw, cy, sw, blocks)
    for t in range(2):
        w = np.concatenate([cw[t], sw])
        y = np.concatenate([cy[t], sy])
        ref = naive.block_standard_errors(a, w, y, list(zip(blocks[:-1], blocks[1:], strict=True)))
        npt.assert_allclose(se[t], ref, rtol=1e-8)
