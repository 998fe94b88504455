"""The SUMO seam: make_backend's refusals, and both SUMO backends answering the interface alike."""

from __future__ import annotations

import pytest

from citybrain.exceptions import BackendUnavailableError
from simulation.backend import (
    BACKENDS,
    Backend,
    LibsumoBackend,
    SetState,
    TraciBackend,
    make_backend,
)
from simulation.scenario import load_scenario

from ..conftest import ROOT


def test_make_backend_refuses_what_libsumo_cannot_do(tmp_path):
    assert isinstance(make_backend("libsumo"), LibsumoBackend) and BACKENDS == ("libsumo", "traci")
    with pytest.raises(ValueError, match="--sumo-binary needs the traci backend"):
        make_backend("libsumo", sumo_binary="/usr/bin/sumo")
    with pytest.raises(ValueError, match="--gui needs the traci backend"):
        make_backend("libsumo", gui=True)
    with pytest.raises(ValueError, match="Unknown backend 'sumo'"):
        make_backend("sumo")
    with pytest.raises(BackendUnavailableError, match="not found"):
        make_backend("traci", sumo_binary=tmp_path / "sumo")


def test_an_unloaded_backend_closes_quietly():
    backend = make_backend("traci")
    backend.close()
    backend.close()


def _drive(backend: Backend, tmp_path) -> dict:
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    assert backend.supports("--tripinfo-output.write-undeparted")
    backend.load([*sc.sumo_args(0), "--tripinfo-output", str(tmp_path / f"{backend.name}.xml")])
    lanes = ("A1A0_0", "A1A0_1", "B0A0_0", "B0A0_1")
    backend.watch(lanes, ("A0", "B0"), vehicle_ids=True)
    start = backend.counts()
    seen = []
    for _ in range(120):
        t = backend.step()
        data = backend.observe()
        assert data.time_s == t and data.tls_phase == {"A0": backend.phase("A0"), "B0": backend.phase("B0")}
        assert data.tls_state == {"A0": backend.state("A0"), "B0": backend.state("B0")}
        seen.append((t, tuple(data.lane_vehicles), tuple(data.lane_halting), data.tls_phase["A0"], data.loaded,
                     data.departed, data.arrived, data.tls_state["A0"]))
    vehicle = next(v for ids in data.lane_vehicle_ids.values() for v in ids)
    route, index = backend.route(vehicle), backend.route_index(vehicle)
    program, state = backend.program("A0"), backend.state("A0")
    backend.apply(SetState("A0", "r" * len(state)))
    assert backend.state("A0") == "r" * len(state) and backend.program("A0") == "online"
    version = backend.version()
    backend.close()
    backend.close()
    return {"start": start, "seen": seen, "route": (route, index), "program": (program, state), "version": version}


@pytest.mark.sumo
def test_libsumo_and_traci_answer_alike(tmp_path):
    fast = _drive(make_backend("libsumo"), tmp_path)
    socket = _drive(make_backend("traci"), tmp_path)
    assert fast == socket
    assert fast["version"].startswith("1.28") and fast["program"][0] == "0"
    assert all(isinstance(n, int) for n in fast["start"])
    route, index = fast["route"]
    assert 0 <= index < len(route) and route[index] in ("A1A0", "B0A0")
    assert sum(row[1][0] for row in fast["seen"]) > 0  # the watched lanes saw traffic


def test_every_sumo_backend_is_a_full_backend():
    assert not LibsumoBackend.__abstractmethods__ and not TraciBackend.__abstractmethods__
    assert {"load", "watch", "step", "observe", "apply", "close", "phase", "state", "program", "counts",
            "route", "route_index", "version", "supports"} <= Backend.__abstractmethods__
