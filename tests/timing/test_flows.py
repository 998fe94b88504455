"""Tests of movement flows from a flow table (citybrain.timing.flows)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest
import pandas as pd

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.timing.flows import clip_to_program_capacity, movement_flows, select_lights

from ..conftest import NETWORKS
from .helpers import make_flows

GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def test_flow_table_problems_are_collected():
    bad = make_flows(GRID).head(3).copy()
    bad.loc[0, "flow_vph"] = -5.0
    bad.loc[1, "to_edge"] = "nowhere"
    with pytest.raises(ValidationError) as info:
        movement_flows(GRID, bad)
    assert "flow_vph must be a number >= 0" in str(info.value) and "nowhere is not a movement" in str(info.value)
    assert len(info.value.problems) == 2
    with pytest.raises(ValidationError, match="lacks column"):
        movement_flows(GRID, bad.drop(columns=["se_vph"]))


def test_intervals_are_aggregated():
    flows = make_flows(GRID, intervals=3)
    q_mean = movement_flows(GRID, flows)
    q_max = movement_flows(GRID, flows, aggregate="max")
    assert (q_max >= q_mean - 1e-9).all() and q_mean.sum() > 0


def test_unknown_lights_are_refused():
    assert select_lights(GRID, "A0") == ["A0"]
    assert select_lights(GRID, None) == sorted(GRID.programs)
    with pytest.raises(ValidationError, match="'tls' must name traffic lights"):
        select_lights(GRID, ["A0", "nosuch"])


def test_clip_to_program_capacity():
    ids = sorted(GRID.programs)
    light = movement_flows(GRID, make_flows(GRID, share=0.05))
    npt.assert_allclose(clip_to_program_capacity(GRID, light, ids), light)  # well under capacity: unchanged
    heavy = movement_flows(GRID, make_flows(GRID, share=3.0))
    clipped = clip_to_program_capacity(GRID, heavy, ids)
    assert np.all(clipped <= heavy + 1e-9) and np.any(clipped < heavy)
    sat = np.array([m.sat_flow_vph for m in GRID.movements])
    signalised = [i for i, m in enumerate(GRID.movements) if m.tls and m.turn != "crossing"]
    assert np.all(clipped[signalised] <= sat[signalised] * 2 + 1e-9)


def test_timing_designs_for_demand_when_the_table_has_it():
    flows = make_flows(GRID, share=0.3, intervals=2)
    queued = flows.assign(demand_vph=flows["flow_vph"] * 1.5, queue_capped=False)
    npt.assert_allclose(movement_flows(GRID, queued), 1.5 * movement_flows(GRID, flows))
    npt.assert_allclose(movement_flows(GRID, queued.drop(columns="demand_vph")), movement_flows(GRID, flows))
    bad = queued.assign(demand_vph=queued["demand_vph"].where(queued.index != 4, -1.0))
    with pytest.raises(ValidationError, match="row 4: demand_vph must be a number >= 0"):
        movement_flows(GRID, bad)


def test_coordinated_times_demand_up_to_the_own_programs_capacity():
    """Demand raises the flows timing sees and the cycle, but no lane group above what the own program discharges."""
    from citybrain.timing import TimingOptions, optimise_plan

    flows = make_flows(GRID, share=0.1)
    at_a0 = flows["junction"] == "A0"
    seen, cycle = {}, {}
    for factor in (1.0, 1.5, 20.0, 40.0):
        queued = flows.assign(demand_vph=np.where(at_a0, flows["flow_vph"] * factor, flows["flow_vph"]))
        seen[factor] = clip_to_program_capacity(GRID, movement_flows(GRID, queued), ["A0"]).sum()
        plan = optimise_plan(GRID, queued, "coordinated", TimingOptions(tls=["A0"], seed=0), n_restarts=1,
                             cycle_step_s=20)
        cycle[factor] = plan.periods[0].by_tls["A0"].cycle_s
    assert seen[1.0] < seen[1.5] < seen[20.0] == seen[40.0]  # beyond the own program's capacity: clipped alike
    assert cycle[1.0] < cycle[1.5] < cycle[20.0] == cycle[40.0]


def test_peak15_is_the_busiest_quarter_hour():
    from citybrain.timing.flows import design_aggregate

    base = make_flows(GRID, intervals=1)
    rates = [100.0, 400.0, 700.0, 100.0, 100.0, 900.0]  # 5-minute intervals; one short spike at the end
    frames = [base.assign(interval_start=k * 300.0, interval_s=300.0, flow_vph=v) for k, v in enumerate(rates)]
    flows = pd.concat(frames, ignore_index=True)
    q = movement_flows(GRID, flows, aggregate="peak15")
    assert set(np.round(q[q > 0], 6)) == {400.0}  # (100 + 400 + 700) / 3 and (400 + 700 + 100) / 3 beat the spike
    iso = flows.assign(interval_start=pd.Timestamp("2024-05-01T07:00") + pd.to_timedelta(flows["interval_start"], "s"))
    npt.assert_allclose(movement_flows(GRID, iso.astype({"interval_start": str}), aggregate="peak15"), q)
    hourly = base.assign(interval_s=3600.0)
    npt.assert_allclose(movement_flows(GRID, hourly, aggregate="peak15"), movement_flows(GRID, hourly))
    assert design_aggregate(flows) == "mean" and design_aggregate(flows.assign(demand_vph=1.0)) == "peak15"
