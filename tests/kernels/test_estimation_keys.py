"""Kernels numbering the count keys (hashes, numbering, the byte check) against a dict."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pyarrow as pa
import pytest

from citybrain._kernels.estimation.keys import _number_rows, _row_hashes, _rows_match
from citybrain.estimation.problem import _count_keys

from ..naive import estimation as naive

def _key_frame(rng, n_rows):
    """Count keys with repeats, empty strings, prefixes of each other and non-ASCII names."""
    names = np.array(["", "a", "ab", "b", "ba", "é", "ée", "cam_1", "cam_10", "x" * 40])
    return pd.DataFrame({c: rng.choice(names, n_rows) for c in ("camera_id", "junction", "from_edge", "to_edge")})


def _key_buffers(frame):
    offsets, data = [], []
    for col in frame.columns:
        values = pa.array(frame[col], type=pa.large_string())
        _, off, buf = values.buffers()
        offsets.append(np.frombuffer(off, dtype=np.int64).copy())
        data.append(np.frombuffer(buf, dtype=np.uint8).copy() if buf is not None else np.zeros(0, np.uint8))
    return tuple(offsets), tuple(data)


@pytest.mark.parametrize(("seed", "n_rows"), [(0, 1), (1, 50), (2, 3000), (3, 200_000)])
def test_count_keys_match_dict(seed, n_rows):
    frame = _key_frame(np.random.default_rng(seed), n_rows)
    code, keys = _count_keys(frame)
    ref_code, ref_first = naive.count_keys(frame)
    npt.assert_array_equal(code, ref_code)
    pd.testing.assert_frame_equal(keys, frame.iloc[ref_first].reset_index(drop=True))
    npt.assert_array_equal(_count_keys(frame.astype(object))[0], ref_code)  # not Arrow-backed


def test_count_keys_survive_hash_collisions():
    # every row given the same hash: numbering by hash alone merges distinct keys, the
    # check sees it, and the exact numbering compares bytes
    frame = _key_frame(np.random.default_rng(4), 500)
    offsets, data = _key_buffers(frame)
    hashes = np.zeros(len(frame), dtype=np.uint64)
    code, first = _number_rows(hashes, offsets, data, False)
    assert len(first) == 1
    assert not _rows_match(code, first, offsets, data)
    code, first = _number_rows(hashes, offsets, data, True)
    ref_code, ref_first = naive.count_keys(frame)
    npt.assert_array_equal(code, ref_code)
    npt.assert_array_equal(first, ref_first)
    assert _rows_match(code, first, offsets, data)
    npt.assert_array_equal(_row_hashes(offsets, data)[first[code]], _row_hashes(offsets, data))
