"""A tiny deterministic simulator for twin tests (no SUMO): a queue at every stop line.

:class:`FakeBackend` implements :class:`simulation.backend.Backend` over a shipped network, so
a real :class:`~simulation.twin.Twin` runs on it. Vehicles arrive at fixed rates on approach
lanes (``arrivals_vps``, veh/s per lane; a whole vehicle each time the rate sums to one), queue
at the stop line and cross at saturation flow (0.5 veh/s per lane) while any link from the lane
shows green; a queue on green counts as moving, on red as halting. A vehicle takes the lane's
links in turn; once across it is on its exit edge (counted on no lane) and arrives one step
later. Detector gaps are the seconds since a vehicle last arrived on or left the lane; a lane-area
detector sees the whole queue of its lane (moving on green, halting on red).

Lights run their network programs from the begin (offsets ignored) until the twin shows a state
(``SetState``: an online program, phase 0) or installs a program (``SetProgram``), as SUMO does.
At :meth:`~FakeBackend.close` it writes the tripinfo and edge-data files named in the SUMO
options the twin gave :meth:`~FakeBackend.load`; a vehicle's time loss is its time at the stop
line.

:func:`run_fake` runs one light under a controller for controller unit tests.
"""

from __future__ import annotations

import math
import tempfile
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from citybrain.network import RoadNetwork
from simulation.backend import Backend, SetPhase, SetProgram, SetState, StepData
from simulation.run import RunSpec
from simulation.scenario import Scenario
from simulation.twin import Twin

SAT_PER_LANE_VPS = 0.5  # 1800 veh/h
DETECTOR_PREFIX = "citybrain_det_"
AREA_PREFIX = "citybrain_area_"


@dataclass
class _Light:
    """One light's active program: phases as (duration_s, state), the current one and its end."""

    program_id: str
    phases: list[tuple[float, str]]
    phase: int = 0
    phase_end_s: float = math.inf

    @property
    def state(self) -> str:
        return self.phases[self.phase][1]

    def run(self, program_id: str, phases: list[tuple[float, str]], phase: int, t: float, duration_s=None) -> None:
        self.program_id, self.phases, self.phase = program_id, phases, phase
        self.phase_end_s = t + (self.phases[phase][0] if duration_s is None else duration_s)


@dataclass
class _Vehicle:
    id: str
    from_edge: str
    to_edge: str
    depart_s: float
    waiting_s: float = 0.0
    crossed_s: float | None = None


@dataclass
class FakeBackend(Backend):
    """A queue model of the network's signalised stop lines behind the backend interface.

    Parameters
    ----------
    network
        The network whose lights and approach lanes it models.
    arrivals_vps
        Arrival rate (veh/s) per approach lane; other lanes stay empty.

    Attributes
    ----------
    commands : list of (float, command)
        Every signal command applied, with the simulation time.
    shown : dict of str to list of (float, str)
        Per light, the state shown from each time on (one entry per change; a state replaced
        in the step it appeared in was never shown).
    green_s : dict of str to float
        Per approach lane, seconds with a green link.
    queues : dict of str to deque
        Per approach lane, the vehicles waiting at the stop line.
    crossing, finished : list
        Vehicles that crossed in the last step (they arrive in the next), and those arrived.
    """

    network: RoadNetwork
    arrivals_vps: dict[str, float] = field(default_factory=dict)
    name = "fake"

    def __post_init__(self) -> None:
        self.commands: list[tuple[float, object]] = []
        self.shown: dict[str, list[tuple[float, str]]] = {}
        self.links: dict[str, tuple[str, list[tuple[int, str]]]] = {}  # lane -> (tls, [(link index, to_lane)])
        for tls, program in self.network.programs.items():
            for link in program.links:
                self.links.setdefault(link.from_lane, (tls, []))[1].append((link.index, link.to_lane))
        unknown = sorted(set(self.arrivals_vps) - set(self.links))
        if unknown:
            msg = f"arrivals_vps names lanes no light controls: {unknown}"
            raise ValueError(msg)
        self.green_s = dict.fromkeys(self.links, 0.0)
        self._lanes_of = {tls: [lane for lane, (t, _) in self.links.items() if t == tls] for tls in self.network.programs}
        self._green_cache: dict[tuple[str, str], frozenset[str]] = {}
        self._green_now: dict[str, frozenset[str]] = {}
        self.queues: dict[str, deque[_Vehicle]] = {lane: deque() for lane in self.links}
        self._debt = dict.fromkeys(self.links, 0.0)
        self._credit = dict.fromkeys(self.links, 0.0)
        self._last_event = dict.fromkeys(self.links, -100.0)
        self._served = dict.fromkeys(self.links, 0)
        self._vehicles: dict[str, _Vehicle] = {}
        self.crossing: list[_Vehicle] = []
        self.finished: list[_Vehicle] = []
        self._step_counts = (0, 0, 0)
        self._arrived_ids: tuple[str, ...] = ()
        self._watch: tuple = ((), (), False, ())
        self._areas: tuple[str, ...] = ()
        self._loaded = self._closed = False

    # -- lifecycle ------------------------------------------------------------------------
    def load(self, args: list[str]) -> None:
        """Read the window and output files from SUMO's options; start every light's program."""
        opts = dict(zip(args[::2], args[1::2], strict=False))
        self.time_s, self.end_s = float(opts["--begin"]), float(opts["--end"])
        self._tripinfo = Path(opts["--tripinfo-output"])
        self._edgedata = [
            Path(e.get("file")) for f in opts.get("--additional-files", "").split(",") if f
            for e in ET.parse(f).getroot().iter("edgeData")
        ]
        self.lights = {
            tls: _Light(p.program_id, [(ph.duration_s, ph.state) for ph in p.phases])
            for tls, p in self.network.programs.items()
        }
        offsets = {tls: p.offset_s for tls, p in self.network.programs.items()}
        for f in opts.get("--additional-files", "").split(","):  # as SUMO: a loaded program becomes active
            for logic in ET.parse(f).getroot().iter("tlLogic") if f else ():
                phases = [(float(ph.get("duration")), ph.get("state")) for ph in logic.iter("phase")]
                self.lights[logic.get("id")] = _Light(logic.get("programID"), phases)
                offsets[logic.get("id")] = float(logic.get("offset", 0))
        for tls, light in self.lights.items():
            pos = (self.time_s - offsets[tls]) % sum(d for d, _ in light.phases)
            phase = 0
            while pos >= light.phases[phase][0]:
                pos -= light.phases[phase][0]
                phase += 1
            light.run(light.program_id, light.phases, phase, self.time_s, light.phases[phase][0] - pos)
            self.shown[tls] = [(self.time_s, light.state)]
            self._show(tls)
        self._loaded = True

    def version(self) -> str:
        return "fake"

    def supports(self, option: str) -> bool:
        return True

    def close(self) -> None:
        """Write the tripinfo and edge-data outputs; safe to call twice."""
        if not self._loaded or self._closed:
            return
        self._closed = True
        unfinished = [v for q in self.queues.values() for v in q] + self.crossing
        rows = [_tripinfo(v, self.end_s) for v in [*self.finished, *unfinished]]
        self._tripinfo.write_text("<tripinfos>\n" + "\n".join(rows) + "\n</tripinfos>\n")
        loss: dict[str, list[float]] = {}
        for v in [*self.finished, *unfinished]:
            loss.setdefault(v.from_edge, []).append((v.crossed_s if v.crossed_s is not None else self.end_s) - v.depart_s)
        edges = "\n".join(
            f'    <edge id="{e}" timeLoss="{sum(x):.2f}" entered="{len(x)}"/>' for e, x in sorted(loss.items())
        )
        for path in self._edgedata:
            path.write_text(f'<meandata>\n  <interval begin="0" end="{self.end_s}" id="citybrain">\n{edges}\n'
                            "  </interval>\n</meandata>\n")

    # -- stepping ---------------------------------------------------------------------------
    def watch(self, lanes, tls, *, vehicle_ids=False, detectors=(), areas=()) -> None:
        self._watch = (tuple(lanes), tuple(tls), vehicle_ids, tuple(detectors))
        self._areas = tuple(a.removeprefix(AREA_PREFIX) for a in areas)
        self._active = [(i, lane) for i, lane in enumerate(lanes) if lane in self.arrivals_vps]

    def step(self) -> float:
        """Move the queues one second under the states shown, then advance the programs."""
        self.time_s += 1.0
        t = self.time_s
        arrived = self.crossing
        self.finished.extend(arrived)
        self.crossing = []
        loaded = 0
        for greens in self._green_now.values():
            for lane in greens:
                self.green_s[lane] += 1
        for lane, rate in self.arrivals_vps.items():
            links = self.links[lane][1]
            queue = self.queues[lane]
            self._debt[lane] += rate
            while self._debt[lane] >= 1.0:
                self._debt[lane] -= 1.0
                n = self._served[lane] + len(queue)
                exit_lane = links[n % len(links)][1]
                v = _Vehicle(f"{lane}.{n}", _edge(lane), _edge(exit_lane), t)
                queue.append(v)
                self._vehicles[v.id] = v
                self._last_event[lane] = t
                loaded += 1
            if self._green(lane):
                if queue:
                    self._last_event[lane] = t
                    self._credit[lane] += SAT_PER_LANE_VPS
                    if self._credit[lane] >= 1.0:
                        self._credit[lane] -= 1.0
                        v = queue.popleft()
                        v.crossed_s = t
                        self._served[lane] += 1
                        self.crossing.append(v)
            else:
                for v in queue:
                    v.waiting_s += 1.0
        for v in arrived:
            del self._vehicles[v.id]
        self._arrived_ids = tuple(v.id for v in arrived)
        self._step_counts = (loaded, loaded, len(arrived))
        for tls, light in self.lights.items():
            while t + 1e-9 >= light.phase_end_s:
                light.phase = (light.phase + 1) % len(light.phases)
                light.phase_end_s += light.phases[light.phase][0]
            self._show(tls)
        return t

    def observe(self) -> StepData:
        lanes, tls, ids, detectors = self._watch
        veh = np.zeros(len(lanes), dtype=np.int64)
        halt = np.zeros(len(lanes), dtype=np.int64)
        for i, lane in self._active:
            veh[i] = len(self.queues[lane])
            halt[i] = 0 if self._green(lane) else veh[i]
        gaps = np.array([self.time_s - self._last_event[d.removeprefix(DETECTOR_PREFIX)] for d in detectors],
                        dtype=np.float64)
        loaded, departed, arrived = self._step_counts
        near = [len(self.queues[x]) if x in self.queues else 0 for x in self._areas]
        near_halt = [0 if x not in self.queues or self._green(x) else n for x, n in zip(self._areas, near, strict=True)]
        return StepData(
            time_s=self.time_s,
            lane_vehicles=veh,
            lane_halting=halt,
            lane_vehicle_ids={x: tuple(v.id for v in self.queues.get(x, ())) for x in lanes} if ids else {},
            arrived_ids=self._arrived_ids if ids else (),
            loaded=loaded,
            departed=departed,
            arrived=arrived,
            teleports=0,
            tls_phase={t: self.lights[t].phase for t in tls},
            detector_gap_s=gaps,
            tls_state={t: self.lights[t].state for t in tls},
            area_vehicles=np.array(near, dtype=np.int64),
            area_halting=np.array(near_halt, dtype=np.int64),
        )

    def apply(self, command) -> None:
        light, t = self.lights[command.tls], self.time_s
        if isinstance(command, SetState):
            light.run("online", [(math.inf, command.state)], 0, t)
        elif isinstance(command, SetProgram):
            light.run(command.program_id, list(command.phases), 0, t)
        elif isinstance(command, SetPhase):
            light.run(light.program_id, light.phases, command.phase, t, command.duration_s)
        else:
            msg = f"Unknown signal command {command!r}."
            raise TypeError(msg)
        self.commands.append((t, command))
        self._show(command.tls)

    # -- getters ------------------------------------------------------------------------------
    def phase(self, tls: str) -> int:
        return self.lights[tls].phase

    def state(self, tls: str) -> str:
        return self.lights[tls].state

    def next_switch_s(self, tls: str) -> float:
        return self.lights[tls].phase_end_s

    def program(self, tls: str) -> str:
        return self.lights[tls].program_id

    def counts(self) -> tuple[int, int, int]:
        return self._step_counts

    def route(self, vehicle: str) -> tuple[str, ...]:
        v = self._vehicles[vehicle]
        return v.from_edge, v.to_edge

    def route_index(self, vehicle: str) -> int:
        return 0 if self._vehicles[vehicle].crossed_s is None else 1

    def halted(self, lane: str) -> tuple[float, ...]:
        """A queue on red halts, one vehicle every 7.5 m from the stop line."""
        if lane not in self.queues or self._green(lane):
            return ()
        return tuple(7.5 * i for i in range(len(self.queues[lane])))

    def pending(self) -> tuple[str, ...]:
        return ()

    # -- helpers ------------------------------------------------------------------------------
    def intervals(self, tls: str) -> list[tuple[float, float, str]]:
        """(start, duration, state) of every state a light showed, up to the end of the run."""
        shown = self.shown[tls]
        ends = [t for t, _ in shown[1:]] + [self.time_s]
        return [(t, end - t, s) for (t, s), end in zip(shown, ends, strict=True)]

    def _green(self, lane: str) -> bool:
        """Whether any link from the lane shows green now."""
        return lane in self._green_now[self.links[lane][0]]

    def _show(self, tls: str) -> None:
        state = self.lights[tls].state
        shown = self.shown[tls]
        if shown[-1][1] != state:
            if shown[-1][0] == self.time_s and len(shown) > 1:  # replaced within the step: never shown
                shown.pop()
            if shown[-1][1] != state:
                shown.append((self.time_s, state))
        key = (tls, state)
        if key not in self._green_cache:
            self._green_cache[key] = frozenset(
                lane for lane in self._lanes_of[tls] if any(state[i] in "Gg" for i, _ in self.links[lane][1])
            )
        self._green_now[tls] = self._green_cache[key]


def _edge(lane: str) -> str:
    return lane.rsplit("_", 1)[0]


def _tripinfo(v: _Vehicle, end_s: float) -> str:
    if v.crossed_s is None:
        arrival, loss, extra = -1.0, end_s - v.depart_s, ' vaporized="end"'
        duration = loss
    else:
        arrival, loss, extra = v.crossed_s + 1.0, v.crossed_s - v.depart_s, ""
        duration = arrival - v.depart_s
    return (f'    <tripinfo id="{v.id}" depart="{v.depart_s:.2f}" departDelay="0.00" arrival="{arrival:.2f}" '
            f'duration="{duration:.2f}" waitingTime="{v.waiting_s:.2f}" waitingCount="{int(v.waiting_s > 0)}" '
            f'timeLoss="{loss:.2f}"{extra}/>')


def fake_scenario(network_path: Path, end_s: float, **fields) -> Scenario:
    """A scenario over a network file with no demand files (the fake makes the traffic)."""
    return Scenario(name="fake", source=network_path, network=network_path, end_s=end_s, **fields)


def run_fake(network: RoadNetwork, tls: str, controller, arrivals_vps: dict[str, float], *,
             seconds: int = 600, protocol: str = "native") -> dict:
    """Run a real twin for ``seconds`` with ``controller`` on light ``tls`` (the others fixed).

    Returns the states shown on ``tls`` (``(time, state)`` of every command), the seconds of
    green per approach lane and the final queue per lane (vehicles less the part of the next
    one already served).
    """
    backend = FakeBackend(network, arrivals_vps)
    spec = RunSpec(fake_scenario(Path("fake.net.xml"), float(seconds)), protocol=protocol)
    with tempfile.TemporaryDirectory() as work:
        Twin(spec, work, network=network, backend=backend, controllers={tls: controller}).run()
    lanes = [lane for lane, (light, _) in backend.links.items() if light == tls]
    return {
        "states": [(t, c.state) for t, c in backend.commands if c.tls == tls],
        "green_s": {lane: backend.green_s[lane] for lane in lanes},
        "queue": {lane: len(backend.queues[lane]) - backend._credit[lane] for lane in lanes},
        "lanes": lanes,
    }
