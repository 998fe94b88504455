"""Tests of the TRANSYT-style delay model (citybrain.timing.delay_model)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.timing import optimise_plan
from citybrain.timing.delay_model import (
    _approach_chain,
    _unsignalised_feeders,
    cyclic_delay,
    delay_model,
    network_delay,
    offsets_of,
    shared_lane_sat_vph,
)
from citybrain.timing.flows import movement_flows
from citybrain.timing.phases import lane_groups

from ..conftest import NETWORKS
from ..naive import timing as naive
from .helpers import make_flows

ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")


def test_plans_must_share_one_cycle():
    webster = optimise_plan(ART, make_flows(ART, share=0.3), "webster").periods[0].by_tls
    with pytest.raises(ValidationError, match="share one whole-second cycle"):
        network_delay(ART, webster, make_flows(ART, share=0.3))


def test_cyclic_delay_is_the_reference_network_delay():
    flows = make_flows(ART, share=0.12)
    plan = optimise_plan(ART, flows, "coordinated", n_restarts=1, cycle_s=80, half_cycles=False)
    plans = plan.periods[0].by_tls
    model = delay_model(ART, plans, movement_flows(ART, flows))
    offsets = offsets_of(model, plans)
    ref, _ = naive.network_delay(offsets, model.cap_local, model.light, model.q, model.up_ptr, model.up_mov,
                              model.shift, model.factor, 3)
    assert cyclic_delay(model, offsets) == pytest.approx(ref / model.cycle_s, rel=1e-6)
    assert network_delay(ART, plan, flows) == pytest.approx(ref / model.cycle_s, rel=1e-6)


def test_approach_chain_walks_back_through_unsignalised_junctions():
    # A -(signal)-> e1 -(priority node)-> e2 -(1 m stub node)-> e3 -> stop line; side street s joins e2
    mv = lambda f, t, tls=None: SimpleNamespace(from_edge=f, to_edge=t, tls=tls, turn="through")  # noqa: E731
    net = SimpleNamespace(
        edges={"e1": {"length_m": 100.0, "speed_mps": 10.0}, "e2": {"length_m": 50.0, "speed_mps": 10.0},
               "e3": {"length_m": 1.0, "speed_mps": 10.0}, "s": {"length_m": 30.0, "speed_mps": 10.0},
               "far": {"length_m": 5000.0, "speed_mps": 10.0}},
        movements=[mv("a", "e1", "T1"), mv("e1", "e2"), mv("s", "e2"), mv("e2", "e3"), mv("far", "e1"),
                   mv("e3", "x", "T2")],
    )
    chain = _approach_chain(net, "e3", _unsignalised_feeders(net), 120.0)
    assert chain == pytest.approx({"e3": 0.1, "e2": 5.1, "e1": 15.1, "s": 8.1})  # "far" is beyond 120 s


def test_shared_lane_saturation_follows_flow():
    q = movement_flows(ART, make_flows(ART, share=0.1, seed=5))
    movs = [i for i, m in enumerate(ART.movements) if m.tls and m.turn != "crossing"]
    sat = shared_lane_sat_vph(ART, movs, q)
    shared = [g for g in lane_groups(ART, movs) if len(g) > 1]
    assert shared, "arterial5 has shared lanes"
    for g in lane_groups(ART, movs):
        ms = [movs[i] for i in g]
        assert sum(sat[m] for m in ms) == pytest.approx(sum(ART.movements[m].sat_flow_vph for m in ms))
        if len(ms) > 1 and q[ms].sum() > 0:  # equal degree of saturation inside a shared group
            x = [q[m] / sat[m] for m in ms if sat[m] > 0]
            assert max(x) == pytest.approx(min(x))
