"""A tiny deterministic fake junction for controller unit tests (no SUMO).

One light of a shipped network, driven by the twin's own signal logic
(``simulation.twin._Signal``: transitions, minimum greens) through a fake backend that keeps
a queue per approach lane: vehicles arrive at fixed rates per lane and leave at saturation
flow while any link from the lane shows green (a queue on green counts as moving, on red as
halting). Detector gaps are the seconds since a vehicle last arrived on or left the lane.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from citybrain.control import get_protocol
from citybrain.network import RoadNetwork
from simulation.backend import SetState, StepData
from simulation.twin import _Layout, _Signal

SAT_PER_LANE_VPS = 0.5  # 1800 veh/h


@dataclass
class FakeBackend:
    """Records every state shown; nothing else is needed by the signal logic."""

    states: list[tuple[float, str]] = field(default_factory=list)
    time_s: float = 0.0

    def apply(self, command) -> None:
        assert isinstance(command, SetState)
        self.states.append((self.time_s, command.state))


def run_fake(network: RoadNetwork, tls: str, controller, arrivals_vps: dict[str, float], *,
             seconds: int = 600, protocol: str = "native") -> dict:
    """Run one light for ``seconds``; return the shown states and served green per lane."""
    layout = _Layout(network, (tls,))
    program = network.programs[tls]
    sig = _Signal(tls, program, controller, get_protocol(protocol), layout, 0.0)
    backend = FakeBackend()
    lanes = layout.lanes[: layout.n_in]
    lane_links = {lane: [link.index for link in program.links if link.from_lane == lane] for lane in lanes}
    queue = {lane: 0.0 for lane in lanes}
    debt = {lane: 0.0 for lane in lanes}
    last_event = {lane: -100.0 for lane in lanes}
    green_s = {lane: 0.0 for lane in lanes}
    sig.start(backend, program.green_phases()[0])
    state = backend.states[-1][1]
    for t in range(1, seconds + 1):
        backend.time_s = float(t)
        for lane in lanes:
            debt[lane] += arrivals_vps.get(lane, 0.0)
            while debt[lane] >= 1.0:
                debt[lane] -= 1.0
                queue[lane] += 1
                last_event[lane] = t
            if any(state[i] in "Gg" for i in lane_links[lane]):
                green_s[lane] += 1
                if queue[lane] > 0:
                    queue[lane] = max(0.0, queue[lane] - SAT_PER_LANE_VPS)
                    last_event[lane] = t
        n_all = len(layout.lanes)
        veh = np.zeros(n_all, dtype=np.int64)
        veh[: layout.n_in] = [int(np.ceil(queue[x])) for x in lanes]
        halt = veh.copy()  # a queue on red stands; on green it moves off
        for i, x in enumerate(lanes):
            if any(state[k] in "Gg" for k in lane_links[x]):
                halt[i] = 0
        gaps = np.array([t - last_event[x] for x in lanes], dtype=float)
        data = StepData(float(t), veh, halt, {}, (), 0, 0, 0, 0, 0, {})
        if sig.advance(backend, float(t), data):
            vectors = (veh, halt, layout.m_in @ veh, layout.m_in @ halt, layout.m_out @ veh, gaps)
            sig.apply_choice(backend, float(t), sig.controller.decide(sig.observation(float(t), *vectors)))
        state = backend.states[-1][1]
    return {"states": backend.states, "green_s": green_s, "queue": queue, "lanes": lanes}
