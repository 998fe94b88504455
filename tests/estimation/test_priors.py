"""Priors of the estimate: turning ratios from history and lane use, learnt turn and exit factors, levels."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from citybrain.counts import counts_from_frame
from citybrain.estimation import EstimationSettings, estimate_flows, prior_turning_ratios
from citybrain.estimation.priors import _apply_exit_factors, _learn_turn_factors
from citybrain.exceptions import ValidationError
from citybrain.network import TURN_CODES, graph_from_sumo_net
from citybrain.synthetic import sample_camera_counts

from ..conftest import NETWORKS
from ..naive import estimation as naive

def test_history_prior(grid, estimate):
    hist = estimate.flows.groupby(["junction", "from_edge", "to_edge"], observed=True)["flow_vph"].mean().reset_index()
    ratio = prior_turning_ratios(grid, hist)
    assert np.all(ratio >= 0)
    with pytest.raises(ValidationError, match="not a movement"):
        prior_turning_ratios(grid, hist.assign(to_edge="nowhere"))


def _flows_and_approaches(network):
    """The estimator's flows (vehicle movements) and their approach segments."""
    arrays = network.to_arrays()
    crossing = TURN_CODES.index("crossing")
    mov = np.flatnonzero((arrays.mov_from_edge >= 0) & (arrays.mov_to_edge >= 0) & (arrays.mov_turn != crossing))
    vfrom = arrays.mov_from_edge[mov]
    change = np.flatnonzero(np.diff(vfrom) != 0) + 1
    return arrays, mov, np.concatenate([[0], change]), np.concatenate([change, [len(mov)]])


def _counted(arrays, mov, per: pd.Series) -> np.ndarray:
    """Counts summed per (from_edge, to_edge) laid on the flows ``mov`` (NaN: not counted)."""
    names = pd.MultiIndex.from_arrays(
        [np.asarray(arrays.edge_ids)[arrays.mov_from_edge[mov]], np.asarray(arrays.edge_ids)[arrays.mov_to_edge[mov]]]
    )
    return per.groupby(level=["from_edge", "to_edge"]).sum().reindex(names).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_turn_factors_match_naive(grid, truth, seed):
    table = counts_from_frame(sample_camera_counts(truth, grid, seed=seed, movement_share=0.8), grid)
    arrays, mov, seg_start, seg_end = _flows_and_approaches(grid)
    moves = table.frame[table.frame["to_edge"] != ""]
    counted = _counted(arrays, mov, moves.groupby(["from_edge", "to_edge"])["count"].sum())
    ours = _learn_turn_factors(arrays, mov, counted, seg_start, seg_end, 0.05)
    ref = naive.learn_turn_factors(grid, table, EstimationSettings(uturn_prior_factor=0.05))
    assert ref is not None
    npt.assert_allclose(ours, ref, rtol=1e-9)


def test_exit_factors_follow_counted_shares(grid, truth):
    """An exit nobody takes at the counted approaches loses prior share at the uncounted ones."""
    arrays, mov, seg_start, seg_end = _flows_and_approaches(grid)
    vfrom, vto = arrays.mov_from_edge[mov], arrays.mov_to_edge[mov]
    ratio = prior_turning_ratios(grid)[mov]
    # every movement of one junction counted, except that nobody turns into its first exit
    j = grid.signalised_junctions[0]
    rows = truth[(truth["junction"] == j) & (truth["interval_start"] == 0)].copy()
    dead = min(rows["to_edge"])
    rows["count"] = np.where(rows["to_edge"] == dead, 0, 100)
    # leave one approach uncounted
    uncounted = min(rows.loc[rows["to_edge"] == dead, "from_edge"])
    rows = rows[rows["from_edge"] != uncounted]
    counted = _counted(arrays, mov, rows.groupby(["from_edge", "to_edge"])["count"].sum())
    out = _apply_exit_factors(counted, ratio, vto, seg_start, seg_end, len(arrays.edge_ids))
    e = {name: k for k, name in enumerate(arrays.edge_ids)}
    k = np.flatnonzero((vfrom == e[uncounted]) & (vto == e[dead]))[0]
    assert out[k] < 0.6 * ratio[k]
    seg = np.searchsorted(seg_start, k, side="right") - 1
    assert out[seg_start[seg] : seg_end[seg]].sum() == pytest.approx(1.0)


def test_uncounted_entry_and_side_street_levels():
    """On the 5-junction arterial with J3's main approaches and its south side street
    uncounted, the side street (an entry nothing else constrains) keeps a side street's
    level: the road-class level prior and the entry's tighter level prior hold it instead
    of letting it absorb the noise of the counts around it (without them: about 700 veh/h)."""
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    names = ["W", "J1", "J2", "J3", "J4", "J5", "E"]
    flow = {}
    for k in range(1, 6):
        j, west, east = f"J{k}", names[k - 1], names[k + 1]
        flow[(j, f"{west}_{j}", f"{j}_{east}")] = 800.0
        flow[(j, f"{east}_{j}", f"{j}_{west}")] = 700.0
        flow[(j, f"N{k}_{j}", f"{j}_S{k}")] = 90.0
        flow[(j, f"S{k}_{j}", f"{j}_N{k}")] = 110.0
        flow[(j, f"{west}_{j}", f"{j}_N{k}")] = 40.0
        flow[(j, f"{east}_{j}", f"{j}_S{k}")] = 30.0
    uncounted = {("J3", "J2_J3"), ("J3", "J4_J3"), ("J3", "S3_J3"), ("J4", "J5_J4")}
    rng = np.random.default_rng(5)
    rows = [
        (t * 900.0, 900.0, f"cam_{m.junction}_{m.from_edge}", m.junction, m.from_edge, m.to_edge,
         max(0, round(rng.poisson(flow.get((m.junction, m.from_edge, m.to_edge), 0.0) / 4) * (1 + rng.normal(0, 0.1)))))
        for m in net.movements
        if m.tls is not None and m.turn != "crossing" and (m.junction, m.from_edge) not in uncounted
        for t in range(4)
    ]
    frame = pd.DataFrame(rows, columns=["interval_start", "interval_s", "camera_id", "junction", "from_edge",
                                        "to_edge", "count"])
    flows = estimate_flows(net, counts_from_frame(frame, net, strict=False, source="test")).flows
    side = flows[(flows.junction == "J3") & (flows.from_edge == "S3_J3")].groupby("interval_start")["flow_vph"].sum()
    assert side.mean() < 600.0, side
    loose = estimate_flows(net, counts_from_frame(frame, net, strict=False, source="test"), EstimationSettings(entry_level_sd_vph=600.0))
    loose_side = loose.flows[(loose.flows.junction == "J3") & (loose.flows.from_edge == "S3_J3")]
    assert loose_side.groupby("interval_start")["flow_vph"].sum().mean() > side.mean()
