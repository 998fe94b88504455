"""The conflict monitor: synthetic state sequences (no SUMO), the twin over the fake backend and SUMO."""

from __future__ import annotations

import pytest

from citybrain.network import graph_from_sumo_net
from simulation import RunSpec, Twin, make_backend
from simulation.backend import SetState
from simulation.monitor import KINDS, ConflictMonitor, monitor_warnings

from ..conftest import NETWORKS, ROOT
from .fake_backend import FakeBackend, fake_scenario

GRID = NETWORKS / "grid4x4.net.xml"
G0, Y0, G1, Y1 = "GGGgrrrrGGGgrrrr", "yyyyrrrryyyyrrrr", "rrrrGGGgrrrrGGGg", "rrrryyyyrrrryyyy"  # A0's program
PROGRAM = [(42, G0), (3, Y0), (42, G1), (3, Y1)]


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(GRID)


def _run(grid, sequence, *, lights=("A0",), ours=None, **kw):
    """Feed A0 the ``(seconds, state)`` sequence one second at a time (the other lights: G0)."""
    mon = ConflictMonitor(grid, lights, ours=ours, **kw)
    t = 0
    for dur, state in sequence:
        for _ in range(dur):
            mon.observe(float(t), {x: (state if x == "A0" else G0) for x in lights})
            t += 1
    return mon.summary()


def test_the_network_program_breaks_no_rule(grid):
    s = _run(grid, PROGRAM * 3, lights=tuple(sorted(grid.programs)))
    assert s["total"] == 0 and s["counts"] == dict.fromkeys(KINDS, 0) and s["first"] == {} and s["by_tls"] == {}
    assert s["steps"] == 270


def test_conflicting_greens_are_one_event_per_onset(grid):
    s = _run(grid, [(10, G0), (3, Y0), (20, "G" * 16), (3, "y" * 16), (10, G1), (3, Y1), (5, "G" * 16)])
    assert s["counts"]["conflict"] == 2
    first = s["first"]["conflict"]
    assert first["time_s"] == 13.0 and first["tls"] == "A0" and "may never be green together" in first["detail"]
    assert s["by_tls"] == {"A0": {"conflict": 2}}


def test_a_yielding_left_shown_protected_is_a_conflict_but_permissive_is_not(grid):
    assert _run(grid, PROGRAM)["counts"]["conflict"] == 0  # lefts 3 and 11 are 'g'
    s = _run(grid, [(42, "GGGGrrrrGGGgrrrr")])
    assert s["counts"]["conflict"] == 1 and s["first"]["conflict"]["detail"].count("permissive") == 1


def test_green_to_red_without_yellow(grid):
    s = _run(grid, [(10, G0), (3, Y0), (42, G1), (42, G0)])
    assert s["counts"]["no-yellow"] == 1 and s["first"]["no-yellow"]["time_s"] == 55.0
    assert "links 4,5,6,7,12,13,14,15" in s["first"]["no-yellow"]["detail"]
    assert s["counts"]["short-yellow"] == s["counts"]["short-green"] == 0


def test_yellow_under_3_s(grid):
    ok = _run(grid, [(10, G0), (3, Y0), (42, G1), (3, Y1), (10, G0)])
    assert ok["total"] == 0
    s = _run(grid, [(10, G0), (3, Y0), (42, G1), (2, Y1), (10, G0)])
    assert s["counts"] == {"conflict": 0, "no-yellow": 0, "short-yellow": 1, "short-green": 0}
    assert "shortest 2 s" in s["first"]["short-yellow"]["detail"]
    assert _run(grid, [(10, G0), (3, Y0), (42, G1), (2, Y1), (10, G0)], min_yellow_s=2.0)["total"] == 0


def test_green_under_the_minimum_but_not_the_unseen_start(grid):
    # the first green (2 s) began before the monitor saw it: not judged
    s = _run(grid, [(2, G0), (3, Y0), (4, G1), (3, Y1), (5, G0), (3, Y0)])
    assert s["counts"]["short-green"] == 1 and s["first"]["short-green"]["time_s"] == 9.0
    assert "green under 5 s (shortest 4 s)" in s["first"]["short-green"]["detail"]
    assert _run(grid, [(2, G0), (3, Y0), (4, G1), (3, Y1)], min_green_s=4.0)["total"] == 0


def test_pedestrian_crossings_lose_their_walk_without_a_yellow():
    ped = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
    program = [(int(p.duration_s), p.state) for p in ped.programs["A0"].phases]
    assert program[0][1][16:] == "rGrG" and program[1][1][16:] == "rrrr"  # walk ends, no yellow for crossings
    mon = ConflictMonitor(ped, ("A0",))
    t = 0
    for dur, state in program * 2:
        for _ in range(dur):
            mon.observe(float(t), {"A0": state})
            t += 1
    assert mon.summary()["total"] == 0
    mon.observe(float(t), {"A0": "gGGgrrrrgGGgrrrrrGrG"})  # then vehicle links and crossings 17, 19 to red
    mon.observe(float(t + 1), {"A0": "r" * 20})
    assert mon.summary()["counts"]["no-yellow"] == 1
    assert mon.summary()["first"]["no-yellow"]["detail"] == "links 0,1,2,3,8,9,10,11: green to red without yellow"


def test_ours_and_baseline_lights(grid):
    bad = [(10, G0), (3, Y0), (10, G1), (10, G0)]  # no-yellow at 23
    base = _run(grid, bad, ours=())
    assert base["total"] == 1 and base["ours"]["total"] == 0 and base["ours"]["first"] == {}
    assert base["events"][0]["ours"] is False
    assert monitor_warnings(base, ours_only=True) == []
    (line,) = monitor_warnings(base)
    assert "1 no-yellow" in line and "t=23 s" in line and "light A0" in line
    mon = ConflictMonitor(grid, ("A0",), ours=())
    for t in range(5):
        mon.observe(float(t), {"A0": G0})
    mon.mark_ours("A0")
    mon.observe(5.0, {"A0": G1})
    s = mon.summary()
    assert s["ours"]["counts"]["no-yellow"] == 1 and s["ours"]["first"]["no-yellow"]["time_s"] == 5.0


def test_the_twin_fills_the_result_with_the_monitor(grid, tmp_path):
    backend = FakeBackend(grid, {})
    result = Twin(RunSpec(fake_scenario(GRID, 300.0)), tmp_path, network=grid, backend=backend).run()
    assert result.monitor["total"] == 0 and result.monitor["steps"] == 300
    assert result.to_json()["monitor"]["counts"] == dict.fromkeys(KINDS, 0)


@pytest.mark.sumo
def test_sumo_records_an_unsafe_state_and_nothing_on_a_safe_run(tmp_path):
    from simulation import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    from dataclasses import replace

    sc = replace(sc, end_s=300.0)
    safe = Twin(RunSpec(sc, seed=0), tmp_path / "safe").run()
    assert safe.monitor["total"] == 0 and safe.monitor["steps"] == 300
    backend = make_backend("libsumo")

    def fault(twin, t):
        if t == 100.0:  # a cabinet fault: every link green, no yellow before or after
            backend.apply(SetState("A0", "G" * 16))
        if t == 110.0:
            backend.apply(SetState("A0", "r" * 16))

    bad = Twin(RunSpec(sc, controller="maxpressure", seed=0), tmp_path / "bad", backend=backend, on_step=fault).run()
    m = bad.monitor
    assert m["counts"]["conflict"] >= 1 and m["counts"]["no-yellow"] >= 1
    assert m["first"]["conflict"]["tls"] == "A0" and m["first"]["conflict"]["time_s"] == 101.0
    assert m["ours"]["total"] == m["total"]  # maxpressure is ours
