"""The conflict classifier, unsafe phases and the override file."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import Movement, graph_from_sumo_net
from citybrain.network.conflicts import (
    MERGE,
    NEVER,
    NONE,
    YIELD,
    ConflictOverride,
    junction_conflicts,
    load_overrides,
)
from citybrain.sumo_tools import sumo_binary

from ..conftest import NETWORKS, REAL_NETS, real_path

GRID = NETWORKS / "grid4x4.net.xml"


def _mov(from_edge, to_edge, turn, to_lane=None):
    return Movement("J", from_edge, to_edge, turn, (f"{from_edge}_0",), (to_lane or f"{to_edge}_0",), "J", (0,), 1800.0)


# a cross junction by hand: approaches from the west (heading 0 deg), east (180) and south (90)
HAND = (
    _mov("w", "n", "left"),      # 0
    _mov("e", "wo", "through"),  # 1
    _mov("e", "s", "left"),      # 2
    _mov("s", "n", "through"),   # 3
    _mov("w", "s", "right", to_lane="s_0"),  # 4
    _mov("e", "s2", "right", to_lane="s_0"),  # 5: shares its lane with 4 (a made-up merge)
)
HEADINGS = {"w": 0.0, "e": 180.0, "s": 90.0}
FOES = {(a, b) for a in range(6) for b in range(6) if a != b}


def test_the_classifier_needs_no_network():
    c = junction_conflicts("J", HAND, range(6), foes=FOES, prohibits={(4, 5)}, heading_in_deg=HEADINGS)
    assert c.movements == (0, 1, 2, 3, 4, 5)
    assert c.pair(0, 1) == YIELD and c.yields[0, 1] and not c.yields[1, 0]  # permissive left
    assert c.pair(0, 2) == NONE  # opposing lefts pass each other
    assert c.pair(1, 3) == NEVER  # crossing throughs
    assert c.pair(4, 5) == MERGE and c.yields[4, 5]  # SUMO's response says who yields
    assert c.pair(1, 2) == NONE  # one approach


def test_only_foes_and_shared_lanes_conflict():
    c = junction_conflicts("J", HAND, range(6), foes=set(), heading_in_deg=HEADINGS)
    assert set(np.unique(c.kind)) == {NONE, MERGE}


def test_overrides_replace_the_verdict_of_their_pair():
    override = ConflictOverride("J", ("e", "wo"), ("w", "n"), YIELD)  # now the through yields
    c = junction_conflicts("J", HAND, range(6), foes=FOES, heading_in_deg=HEADINGS, overrides=(override,))
    assert c.pair(0, 1) == YIELD and c.yields[1, 0] and not c.yields[0, 1]
    never = ConflictOverride("J", ("w", "n"), ("e", "wo"), NEVER)
    c = junction_conflicts("J", HAND, range(6), foes=FOES, heading_in_deg=HEADINGS, overrides=(never,))
    assert c.pair(0, 1) == NEVER and not c.yields[0, 1] and not c.yields[1, 0]


def test_classes_are_symmetric_and_one_side_yields(real_net_path):
    road = graph_from_sumo_net(real_net_path)
    for junction in road.signalised_junctions:
        c = road.conflicts(junction)
        assert np.array_equal(c.kind, c.kind.T)
        pairs = np.isin(c.kind, (YIELD, MERGE))
        # exactly one side of every yield or merge pair gives way
        assert np.array_equal((c.yields ^ c.yields.T)[pairs], np.ones(pairs.sum(), dtype=bool))
        assert not c.yields[~pairs].any()


def test_conflict_classes_on_a_grid_junction():
    road = graph_from_sumo_net(GRID)
    junction = "B1"
    c = road.conflicts(junction)
    movs = {(road.movements[i].from_edge, road.movements[i].turn): i for i in c.movements}
    # B1 approaches: from A1 (eastbound), C1 (westbound), B0 (northbound), B2 (southbound)
    left_e, thru_w = movs[("A1B1", "left")], movs[("C1B1", "through")]
    thru_e, thru_n = movs[("A1B1", "through")], movs[("B0B1", "through")]
    assert c.pair(left_e, thru_w) == YIELD
    assert c.yields[c.movements.index(left_e), c.movements.index(thru_w)]
    assert c.pair(thru_e, thru_n) == NEVER
    assert c.pair(thru_e, movs[("A1B1", "right")]) == NONE
    assert c.pair(left_e, movs[("C1B1", "left")]) == NONE  # opposing lefts pass each other


def test_crossings_yield_to_nothing_turns_yield_to_crossings():
    road = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
    junction = road.signalised_junctions[0]
    c = road.conflicts(junction)
    crossings = [i for i in c.movements if road.movements[i].turn == "crossing"]
    assert crossings
    kinds = {NEVER: 0, YIELD: 0}
    for x in crossings:
        for m in c.movements:
            mv = road.movements[m]
            k = c.pair(x, m)
            if k in kinds:
                kinds[k] += 1
                assert (k == YIELD) == (mv.turn in ("left", "right")), mv.id
                if k == YIELD:
                    assert c.yields[c.movements.index(m), c.movements.index(x)]
    assert kinds[NEVER] > 0 and kinds[YIELD] > 0


# -- unsafe phases ---------------------------------------------------------------------
def _sumo_unsafe_warnings(net_path) -> set[tuple[str, int]]:
    proc = subprocess.run(
        [str(sumo_binary()), "-n", str(net_path), "--begin", "0", "--end", "1", "--no-step-log", "--xml-validation", "never"],
        capture_output=True, text=True, check=True,
    )
    return {(tls, int(phase)) for phase, tls in re.findall(r"Unsafe green phase (\d+) in tlLogic '([^']+)'", proc.stderr)}


@pytest.mark.sumo
@pytest.mark.parametrize("name", ["ingolstadt7", "atlanta"])
def test_unsafe_phases_include_sumo_warnings(name):
    path = real_path(REAL_NETS[name])
    sumo_says = _sumo_unsafe_warnings(path)
    assert sumo_says, "SUMO reports unsafe green phases on this network"
    ours = {(f["tls"], f["phase"]) for f in graph_from_sumo_net(path).unsafe_phases() if f["kind"] == "merge"}
    assert sumo_says <= ours


def test_unsafe_phase_at_ingolstadt7_gnej210():
    findings = graph_from_sumo_net(real_path(REAL_NETS["ingolstadt7"])).unsafe_phases()
    assert [(f["tls"], f["phase"], f["kind"]) for f in findings] == [("gneJ210", 4, "merge")]


def test_atlanta_single_phase_light_is_never_together():
    findings = graph_from_sumo_net(real_path(REAL_NETS["atlanta"])).unsafe_phases()
    assert ("69249210", 0) in {(f["tls"], f["phase"]) for f in findings if f["kind"] == "never-together"}


@pytest.mark.parametrize("name", ["grid4x4.net.xml", "arterial5.net.xml", "grid2x2_ped.net.xml"])
def test_no_unsafe_phases_on_generated_networks(name):
    assert graph_from_sumo_net(NETWORKS / name).unsafe_phases() == []


@pytest.mark.sumo
@pytest.mark.parametrize("name", ["grid4x4.net.xml", "arterial5.net.xml", "grid2x2_ped.net.xml"])
def test_sumo_finds_no_unsafe_phases_on_generated_networks(name):
    assert not _sumo_unsafe_warnings(NETWORKS / name)


# -- the override file -----------------------------------------------------------------
def _write(tmp_path, data) -> str:
    path = tmp_path / "overrides.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_load_overrides_reads_every_entry(tmp_path):
    road = graph_from_sumo_net(GRID)
    path = _write(tmp_path, {"B1": [{"from": ["A1B1", "B1B2"], "to": ["C1B1", "B1A1"], "kind": "never"},
                                    {"from": ["C1B1", "B1B0"], "to": ["A1B1", "B1C1"], "kind": "none"}]})
    overrides = load_overrides(path, road.movements)
    assert overrides == {"B1": (ConflictOverride("B1", ("A1B1", "B1B2"), ("C1B1", "B1A1"), NEVER),
                                ConflictOverride("B1", ("C1B1", "B1B0"), ("A1B1", "B1C1"), NONE))}


def test_bad_override_file_lists_every_problem(tmp_path):
    road = graph_from_sumo_net(GRID)
    path = _write(tmp_path, {"B1": [{"from": ["A1B1", "nowhere"], "to": ["C1B1", "B1A1"], "kind": "never"},
                                    {"from": ["A1B1", "B1B2"], "to": ["C1B1", "B1A1"], "kind": "maybe"}],
                             "Z9": [], "bottom0": []})
    with pytest.raises(ValidationError) as info:
        load_overrides(path, road.movements)
    message = str(info.value)
    assert len(info.value.problems) == 4
    assert f"{path}: 4 problem(s) in the conflict overrides" in message
    assert f"{path}: B1[0]: 'from': ['A1B1', 'nowhere'] is not a movement [FROM_EDGE, TO_EDGE] of B1" in message
    assert f"{path}: B1[1]: 'kind': must be one of ['merge', 'never', 'none', 'yield'], got 'maybe'" in message
    assert f"{path}: 'Z9': not a signalised junction of the network" in message
    assert f"{path}: 'bottom0': not a signalised junction of the network" in message


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("{not json", "not a readable JSON conflict-override file"),
        ([1, 2], "expected an object of junction -> list of overrides, got list"),
        ({"B1": {"from": 1}}, r"'B1': must be a list"),
        ({"B1": ["never"]}, r"B1\[0\]: expected a table of fields"),
        ({"B1": [{"from": ["A1B1", "B1B2"], "to": ["A1B1", "B1B2"], "kind": "never"}]}, r"B1\[0\]: 'to': .* is the 'from' movement"),
        ({"B1": [{"from": ["A1B1", "B1B2"], "to": ["C1B1", "B1A1"], "kind": "never", "note": "x"}]}, r"B1\[0\]: 'note': unknown key"),
        ({"B1": [{"from": ["A1B1", ["B1B2"]], "to": ["C1B1", "B1A1"], "kind": "never"}]}, r"B1\[0\]: 'from': .* is not a movement"),
    ],
)
def test_one_bad_entry_is_one_line_naming_file_and_entry(tmp_path, data, match):
    path = _write(tmp_path, data)
    with pytest.raises(ValidationError, match=match) as info:
        load_overrides(path, graph_from_sumo_net(GRID).movements)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
