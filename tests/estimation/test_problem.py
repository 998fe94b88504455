"""Building the weighted least-squares problem: count keys and lookups, rows and weights."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from citybrain.counts import CountTable
from citybrain.estimation import EstimationSettings, build_problem
from citybrain.estimation.problem import _positions
from citybrain.exceptions import ValidationError

@pytest.mark.parametrize("dtype", ["str", object])
def test_positions_match_get_indexer(dtype):
    ids = ("e1", "e2", "", "é3")
    values = pd.Series(["e2", "x", "é3", "", "e1", "e2", None], dtype=dtype)
    got = _positions(values, ids)
    assert got.dtype == np.int64
    npt.assert_array_equal(got, pd.Index(ids).get_indexer(values))
    npt.assert_array_equal(_positions(pd.Series([2, 7]), (1, 2)), [1, -1])  # not text: pandas' lookup


def test_turn_prior_variance_follows_prior_flow(grid, partial):
    """Flow-proportional turning-prior variance: a rarer movement gets a tighter row."""
    p = build_problem(grid, partial)
    q = build_problem(grid, partial, EstimationSettings(turn_prior_variance="constant"))
    turn = p.row_kind[p.n_count :] == "turn"
    assert np.all(q.static_w[turn] == pytest.approx(1 / 120.0**2))
    # within one approach, the movement with the smaller prior flow has the larger weight
    level = p.static_y[p.row_kind[p.n_count :] == "level"]
    w = p.static_w[turn]
    self_var = np.array([p.row_var[s:e][np.argmax(p.row_coef[s:e])] for s, e in zip(p.row_ptr[p.n_count:-1], p.row_ptr[p.n_count + 1:])])[turn]
    order = np.argsort(level[self_var])
    assert np.all(np.diff(w[order]) <= 1e-15)


def test_build_problem_takes_the_settings_whole(grid, partial):
    """No defaults of its own: no settings and the default settings build the same problem."""
    a = build_problem(grid, partial)
    b = build_problem(grid, partial, EstimationSettings())
    for name in ("row_ptr", "row_var", "row_coef", "count_w", "static_w", "static_y", "hi"):
        npt.assert_array_equal(getattr(a, name), getattr(b, name))
    c = build_problem(grid, partial, EstimationSettings(max_lane_flow_vph=1000.0, conservation_sd_vph=30.0))
    npt.assert_array_equal(c.hi, a.hi / 2)
    cons = c.row_kind[c.n_count :] == "conservation"
    npt.assert_allclose(c.static_w[cons], 1 / 30.0**2)


def test_counts_that_do_not_fit_the_network_are_named(grid, partial):
    frame = partial.frame.copy()
    row = frame.index[frame["to_edge"] != ""][0]
    frame.loc[row, "to_edge"] = frame.loc[row, "from_edge"]  # into the edge it comes from: no such movement
    bad = CountTable(frame=frame, origin=partial.origin, interval_s=partial.interval_s)
    with pytest.raises(ValidationError, match="not a movement of that junction"):
        build_problem(grid, bad)
