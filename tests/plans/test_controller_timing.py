"""Tests of citybrain.plans.controller_timing: integer timing sheets and phase names."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPeriod, plans_from_network
from citybrain.plans.controller_timing import (TIMING_COLUMNS, approach_direction, controller_timing, phase_name,
                                               timing_table, write_timing_csv)
from citybrain.plans.safety import apply_clearances

from ..conftest import NETWORKS

PED = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
NETS = {"ped": PED, "art": ART}
BASES = [("ped", plans_from_network(PED).periods[0].by_tls["A0"]), ("art", plans_from_network(ART).periods[0].by_tls["J2"])]

_times = st.floats(0.0, 8.0, allow_nan=False).map(lambda x: round(x, 2))
_phase = st.fixed_dictionaries({
    "green_s": st.floats(1.0, 80.0, allow_nan=False), "yellow_s": st.floats(3.0, 6.0, allow_nan=False),
    "all_red_s": _times, "walk_s": _times, "ped_clearance_s": _times,
    "min_green_s": st.one_of(st.none(), st.floats(1.0, 20.0, allow_nan=False)),
    "max_green_s": st.one_of(st.none(), st.floats(20.0, 120.0, allow_nan=False)),
})


@st.composite
def _plans(draw):
    net, base = draw(st.sampled_from(BASES))
    phases = []
    for p in base.phases:
        values = draw(_phase)
        values["green_s"] = max(values["green_s"], values["walk_s"] + values["ped_clearance_s"])
        phases.append(replace(p, **values))
    cycle = sum(p.duration_s for p in phases)
    offset = draw(st.floats(0.0, 1.0, allow_nan=False, exclude_max=True)) * cycle
    reference = draw(st.integers(0, len(phases) - 1))
    return net, replace(base, phases=tuple(phases), cycle_s=cycle, offset_s=offset, reference_phase=reference)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(_plans())
def test_integer_sheet_sums_to_its_cycle_and_never_shortens_clearances(case):
    net, plan = case
    sheet = controller_timing(plan, NETS[net])
    assert sum(p.split_s for p in sheet.phases) == sheet.cycle_s
    assert sheet.cycle_s >= math.floor(plan.cycle_s + 0.5 - 1e-6)
    for p, q in zip(plan.phases, sheet.phases, strict=True):
        assert all(isinstance(v, int) for v in (q.green_s, q.yellow_s, q.all_red_s, q.walk_s, q.ped_clearance_s))
        assert q.yellow_s >= p.yellow_s - 1e-6 and q.all_red_s >= p.all_red_s - 1e-6
        assert q.walk_s >= p.walk_s - 1e-6 and q.ped_clearance_s >= p.ped_clearance_s - 1e-6
        assert q.green_s >= q.walk_s + q.ped_clearance_s and q.green_s >= 1
        if q.max_green_s is not None:
            assert q.max_green_s >= max(q.green_s, p.max_green_s - 1e-6)
    # greens move only to absorb the rounded-up clearances, the greens' floors and the cycle rounding
    greens = [(p.green_s, q.green_s, q.walk_s + q.ped_clearance_s) for p, q in zip(plan.phases, sheet.phases)]
    spare = abs(sum(n for _, n, _ in greens) - sum(g for g, _, _ in greens))
    forced = sum(max(0.0, max(f, 1) - g) for g, _, f in greens)
    assert sum(abs(n - g) for g, n, _ in greens) <= spare + 2 * forced + len(greens)
    assert 0 <= sheet.offset_s < sheet.cycle_s
    assert sheet.offset_reference == f"start of phase {plan.reference_phase + 1} green"


def test_rounded_up_yellows_take_seconds_from_greens_not_the_cycle():
    plan = apply_clearances(plans_from_network(ART).periods[0].by_tls["J1"], ART)
    assert [(p.green_s, p.yellow_s, p.all_red_s) for p in plan.phases] == [(42.0, 3.5, 1.5), (42.0, 3.0, 2.5)]
    sheet = controller_timing(plan, ART)
    assert sheet.cycle_s == 95
    assert [(p.green_s, p.yellow_s, p.all_red_s) for p in sheet.phases] == [(41, 4, 2), (42, 3, 3)]


def test_exact_integer_plan_is_unchanged():
    net, plan = BASES[0]
    sheet = controller_timing(plan, NETS[net])
    assert [(q.green_s, q.yellow_s, q.all_red_s, q.walk_s, q.ped_clearance_s) for q in sheet.phases] == [
        (round(p.green_s), round(p.yellow_s), round(p.all_red_s), round(p.walk_s), round(p.ped_clearance_s))
        for p in plan.phases]
    assert sheet.cycle_s == round(plan.cycle_s)


def test_directions_follow_the_heading():
    assert [approach_direction(h) for h in (0, 90, 180, 270, 359, -90, None)] == ["EB", "NB", "WB", "SB", "EB", "SB", "?"]


def test_phase_names_group_approaches_and_mark_permissive_lefts():
    plan = plans_from_network(ART).periods[0].by_tls["J2"]
    prog = ART.programs["J2"]
    names = [phase_name(p.state, ART, "J2") for p in plan.phases]
    for name, p in zip(names, plan.phases, strict=True):
        served = [ART.movements[link.movement] for link in prog.links if p.state[link.index] in "Gg"]
        directions = {approach_direction(ART.edges[m.from_edge]["heading_in_deg"]) for m in served}
        assert set(name.split(" ")[0].split("/")) == directions
        assert ("left (permissive)" in name) == any(
            m.turn == "left" and p.state[link.index] == "g" for link in prog.links
            for m in [ART.movements[link.movement]])
    assert len(set(names)) == len(names)
    assert phase_name("r" * prog.n_links, ART, "J2") == "clearance"


def test_peds_are_named():
    net, plan = BASES[0]
    assert all(phase_name(p.state, NETS[net], plan.tls).endswith(", peds") for p in plan.phases)


def test_timing_csv_has_every_light_period_and_phase(tmp_path):
    base = plans_from_network(ART)
    safe = NetworkPlan((base.periods[0], PlanPeriod("am", tuple(apply_clearances(p, ART) for p in base.periods[0].plans))))
    path = write_timing_csv(safe, ART, tmp_path / "out" / "timing.csv")
    table = pd.read_csv(path)
    assert tuple(table.columns) == TIMING_COLUMNS
    assert len(table) == sum(len(p.phases) for _, p in safe.all_plans())
    for (light, period), rows in table.groupby(["light", "period"]):
        assert list(rows["phase"]) == list(range(1, len(rows) + 1))
        assert rows["split_s"].sum() == rows["cycle_s"].iloc[0]
        assert (rows["green_s"] + rows["yellow_s"] + rows["all_red_s"] == rows["split_s"]).all()
    assert table[table["period"] == "network"]["min_green_s"].isna().all()  # the programs have none
    assert (table[table["period"] == "am"]["min_green_s"] >= 5).all()
    assert table.shape == timing_table(safe, ART).shape
