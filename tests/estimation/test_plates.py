"""Plate re-identification on the 4x4 grid: fragments, link travel times, turn shares; pooled ratios."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from citybrain.counts import counts_from_frame
from citybrain.counts.sightings import read_sightings
from citybrain.estimation import (
    EstimationSettings,
    PlateSettings,
    build_problem,
    estimate_flows,
    fragment_turn_shares,
    link_fragments,
    link_travel_times,
)
from citybrain.estimation.pooling import pooled_flows
from citybrain.estimation.solvers import solve
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.synthetic import synthetic_movement_flows

from ..conftest import NETWORKS

KEY = b"0123456789abcdef0123456789abcdef"
# cameras at B1's west approach and at the next stop lines of its three exits, and at D1
CAMERAS = {"cam_B1_A1B1": ("B1", "A1B1"), "cam_C1_B1C1": ("C1", "B1C1"), "cam_B2_B1B2": ("B2", "B1B2"),
           "cam_B0_B1B0": ("B0", "B1B0"), "cam_D1_C1D1": ("D1", "C1D1")}


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


@pytest.fixture(scope="module")
def registry():
    return pd.DataFrame([(c, j, e, "", 1) for c, (j, e) in CAMERAS.items()],
                        columns=["camera_id", "junction", "from_edge", "to_edge", "lanes"])


def _sightings(tmp_path, registry, rows, settings=None, grid=None):
    path = tmp_path / "sightings.csv"
    pd.DataFrame(rows, columns=["time_s", "camera_id", "plate"]).to_csv(path, index=False)
    return link_fragments(grid, read_sightings(path, registry, key=KEY, retention_s=1e9), registry, settings)


def _trips():
    """Six plates straight on to C1, two left to B2, one right to B0; four that must not link."""
    rows = []
    for k in range(6):
        rows += [(100 * k, "cam_B1_A1B1", f"S{k}"), (100 * k + 20 + k, "cam_C1_B1C1", f"S{k}")]
    for k in range(2):
        rows += [(50 + 100 * k, "cam_B1_A1B1", f"L{k}"), (75 + 100 * k, "cam_B2_B1B2", f"L{k}")]
    rows += [(30, "cam_B1_A1B1", "R0"), (52, "cam_B1_A1B1", "X9"), (52, "cam_B0_B1B0", "R0")]
    rows += [(700, "cam_B1_A1B1", "FAST"), (701, "cam_C1_B1C1", "FAST")]  # 1 s for 13 s of free flow
    rows += [(700, "cam_B1_A1B1", "SLOW"), (2000, "cam_C1_B1C1", "SLOW")]  # far beyond 3x + slack
    rows += [(800, "cam_B1_A1B1", "FAR"), (840, "cam_D1_C1D1", "FAR")]  # passed C1's camera unread
    return rows


def test_fragments_link_plausible_consecutive_sightings(tmp_path, grid, registry):
    fr = _sightings(tmp_path, registry, _trips(), grid=grid)
    assert len(fr) == 10  # 6 + 2 + 1 + FAR; not FAST, SLOW or the lone X9
    assert "plate" not in fr.frame.columns and "plate_id" not in fr.frame.columns
    pair = fr.pairs.set_index(["camera_a", "camera_b"])
    assert pair.loc[("cam_B1_A1B1", "cam_C1_B1C1"), "movements"] == 1
    far = pair.loc[("cam_B1_A1B1", "cam_D1_C1D1")]
    assert far["movements"] == 2 and far["through_camera"] and far["edge"] == ""
    p = int(np.flatnonzero((fr.pairs.camera_b == "cam_D1_C1D1").to_numpy())[0])
    moves = [grid.movements[m] for m in fr.pair_mov[fr.pair_ptr[p] : fr.pair_ptr[p + 1]]]
    assert [(m.junction, m.from_edge, m.to_edge) for m in moves] == [("B1", "A1B1", "B1C1"), ("C1", "B1C1", "C1D1")]


def test_link_travel_times_are_medians_of_one_movement_fragments(tmp_path, grid, registry):
    timed = link_travel_times(_sightings(tmp_path, registry, _trips(), grid=grid)).set_index("edge")
    assert timed.loc["B1C1", "travel_time_s"] == pytest.approx(22.5) and timed.loc["B1C1", "matched"] == 6
    assert timed.loc["B1B2", "matched"] == 2 and timed.loc["B1B0", "travel_time_s"] == 22.0
    assert "C1D1" not in timed.index  # FAR spans two links


def test_old_fragments_are_dropped(tmp_path, grid, registry):
    rows = _trips() + [(90000, "cam_B1_A1B1", "LATE"), (90020, "cam_C1_B1C1", "LATE")]
    fr = _sightings(tmp_path, registry, rows, PlateSettings(retention_s=3600.0), grid)
    assert len(fr) == 1 and fr.dropped_old == 10


def _counts_at_read_rates(fr, grid):
    """Counts for every camera of ``fr``: twice its sightings (read rate 1/2), C1's as many (read rate 1)."""
    seen = fr.sightings.groupby("camera_id").size()
    counted = {c: 2 * int(n) for c, n in seen.items()}
    counted["cam_C1_B1C1"] = int(seen["cam_C1_B1C1"])
    frame = pd.DataFrame([(0.0, 3600.0, c, *CAMERAS[c], "", n) for c, n in counted.items()],
                         columns=["interval_start", "interval_s", "camera_id", "junction", "from_edge", "to_edge", "count"])
    return counts_from_frame(frame, grid), counted


def test_turn_shares_weigh_fragments_by_read_rates(tmp_path, grid, registry):
    fr = _sightings(tmp_path, registry, _trips(), PlateSettings(min_fragments=1, share_sd_floor=0.0), grid)
    counts, counted = _counts_at_read_rates(fr, grid)
    shares = fragment_turn_shares(grid, fr, counts, registry).set_index("to_edge")
    assert set(shares["from_edge"]) == {"A1B1"}  # FAR's C1 crossing passed a camera: left out
    # A1B1 is counted: shares of its whole flow, fragments weighed 1 / (rho_A rho_B) over its count
    c = counted["cam_B1_A1B1"]
    assert (shares["scope"] == "approach").all() and (shares["approach_vph"] == c).all()
    assert shares.loc["B1C1", "share"] == pytest.approx(6 / (0.5 * 1.0) / c)
    assert shares.loc["B1B2", "share"] == pytest.approx(2 / (0.5 * 0.5) / c)
    assert shares.loc["B1B0", "share"] == pytest.approx(1 / (0.5 * 0.5) / c)
    assert (shares["share_sd"] > 0).all()


def test_no_turn_shares_where_two_paths_part(tmp_path, grid):
    # C2C3 is as near from A1B1 by B1C1 as by B1B2: the path is uncertain from B1 on
    cameras = {"cam_B1_A1B1": ("B1", "A1B1"), "cam_C3_C2C3": ("C3", "C2C3")}
    reg = pd.DataFrame([(c, j, e, "", 1) for c, (j, e) in cameras.items()],
                       columns=["camera_id", "junction", "from_edge", "to_edge", "lanes"])
    rows = [(100 * k, "cam_B1_A1B1", f"D{k}") for k in range(3)] + [(100 * k + 60, "cam_C3_C2C3", f"D{k}") for k in range(3)]
    fr = _sightings(tmp_path, reg, rows, PlateSettings(min_fragments=1, share_sd_floor=0.0), grid)
    pair = fr.pairs.set_index(["camera_a", "camera_b"])
    assert len(fr) == 3 and pair.loc[("cam_B1_A1B1", "cam_C3_C2C3"), "certain_movements"] == 0
    frame = pd.DataFrame([(0.0, 3600.0, c, j, e, "", 6) for c, (j, e) in cameras.items()],
                         columns=["interval_start", "interval_s", "camera_id", "junction", "from_edge", "to_edge", "count"])
    assert len(fragment_turn_shares(grid, fr, counts_from_frame(frame, grid), reg)) == 0


def test_a_camera_off_the_network_is_refused(tmp_path, grid, registry):
    bad = pd.concat([registry, pd.DataFrame([("cam_X", "B1", "nowhere", "", 1)], columns=registry.columns)])
    with pytest.raises(ValidationError, match="cam_X"):
        _sightings(tmp_path, bad, _trips(), grid=grid)


def test_pooled_flows_keep_ratios_constant_over_the_period(grid):
    """On the constant-ratio manifold: one ratio per movement over the period, as estimate_flows returns."""
    truth = synthetic_movement_flows(grid, n_intervals=4, interval_s=900.0, seed=3)
    t = truth[truth.junction.isin(grid.signalised_junctions)].assign(count=lambda d: (d.flow_vph / 4).round())
    app = t.groupby(["interval_start", "interval_s", "junction", "from_edge"], as_index=False)["count"].sum()
    app = app.assign(to_edge="", camera_id="cam_" + app.junction + "_" + app.from_edge)
    counts = counts_from_frame(app, grid)
    s = EstimationSettings(standard_errors=False)
    p = build_problem(grid, counts, s)
    x0, _ = solve(p, s)
    x, evaluations = pooled_flows(p, x0)
    assert evaluations >= 1 and x.shape == x0.shape
    q = np.add.reduceat(x, p.seg_start, axis=1)
    ratio = x / np.repeat(q, p.seg_end - p.seg_start, axis=1)
    busy = np.repeat(q.min(axis=0) > 1.0, p.seg_end - p.seg_start)
    assert np.ptp(ratio[:, busy], axis=0).max() < 1e-6
    est = estimate_flows(grid, counts, replace(s, ratio_period_s=3600.0))
    assert est.turning_ratio_prior == "lane-use, pooled"
    np.testing.assert_allclose(est._x, x, atol=1e-9)


def test_turnarounds_are_u_turns_and_roads_that_lead_back(grid):
    from citybrain.estimation.plates import _CROSSING, _UTURN, _turnarounds

    arrays = grid.to_arrays()
    flagged = _turnarounds(arrays)
    vehicle = (arrays.mov_turn != _CROSSING) & (arrays.mov_to_edge >= 0)
    assert flagged[vehicle & (arrays.mov_turn == _UTURN)].all()
    # on the grid every other movement leads to a junction with a choice, never straight back
    assert not flagged[vehicle & (arrays.mov_turn != _UTURN)].any()
