"""Tests of time-of-day periods and plans."""

from __future__ import annotations

import pandas as pd

from citybrain.network import graph_from_sumo_net
from citybrain.timing import TimingOptions
from citybrain.timing.schedule import split_periods, time_of_day_plan

from .. import invariants
from ..conftest import NETWORKS
from .helpers import make_flows


def day_flows(network):
    base = make_flows(network, share=0.05)
    parts = []
    for hour in range(24):
        level = 3.0 if 7 <= hour < 9 else 2.0 if 16 <= hour < 19 else 1.0
        f = base.copy()
        f["interval_start"] = hour * 3600.0
        f["interval_s"] = 3600.0
        f["flow_vph"] *= level
        parts.append(f)
    return pd.concat(parts, ignore_index=True)


def test_periods_follow_the_peaks():
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    cuts = split_periods(day_flows(net), 5)
    assert cuts == [(0.0, 25200.0), (25200.0, 32400.0), (32400.0, 57600.0), (57600.0, 68400.0), (68400.0, 86400.0)]


def test_time_of_day_plan_schedules_every_period():
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    plan = time_of_day_plan(net, day_flows(net), n_periods=3)
    assert len(plan.periods) == 3 and [e.period for e in plan.schedule] == [p.name for p in plan.periods]
    am = plan.period_at(8 * 3600).by_tls["J1"]
    night = plan.period_at(3 * 3600).by_tls["J1"]
    assert am.cycle_s >= night.cycle_s
    invariants.assert_safe_network_plan(plan, net)


def test_periods_are_timed_for_their_busiest_interval_by_default():
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    flows = day_flows(net)
    busiest = time_of_day_plan(net, flows, n_periods=2)
    assert busiest.meta["options"]["aggregate"] == "max"
    mean = time_of_day_plan(net, flows, n_periods=2, options=TimingOptions(aggregate="mean"))
    assert mean.meta["options"]["aggregate"] == "mean"
    cycles = [(b.cycle_s, m.cycle_s) for pb, pm in zip(busiest.periods, mean.periods, strict=True)
              for b, m in zip(pb.plans, pm.plans, strict=True)]
    assert all(b >= m for b, m in cycles) and any(b > m for b, m in cycles)
