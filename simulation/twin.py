"""The twin loop: SUMO stepped with controllers in the loop, cameras and live plan changes.

One :class:`Twin` runs one scenario under one controller and seed. Every step it reads the
watched lanes through the backend's subscriptions, accumulates queues, feeds the emulated
cameras, applies pending plan changes at cycle boundaries, and at each decision step hands
every light's controller an :class:`~citybrain.control.Observation`. The twin, not the
controller, shows the yellow/all-red transitions and enforces minimum greens.
"""

from __future__ import annotations

import math
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from citybrain.control import (
    APPROACH_REACH_M,
    DEFAULT_MIN_GREEN_S,
    Controller,
    DecisionProtocol,
    Observation,
    get_protocol,
    make_controller,
)
from citybrain.exceptions import SimulationError, ValidationError
from citybrain.network import RoadNetwork, SignalProgram, graph_from_sumo_net

from .backend import Backend, SetProgram, SetState, StepData, make_backend
from .cameras import CameraCounter, CameraCounts, cameras_for_network
from .metrics import junction_delay, read_edge_data, read_tripinfo
from .scenario import Scenario

__all__ = ["RunSpec", "RunResult", "PlanUpdate", "Twin", "safe_transition", "load_checked_plan"]

#: All-red (s) the twin inserts when it switches to a pushed plan.
PLAN_SWITCH_ALL_RED_S = 2.0
#: Yellow (s) the twin inserts when a pushed plan's first green drops a current green.
PLAN_SWITCH_YELLOW_S = 3.0


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to run: one scenario, controller, protocol, seed and backend.

    Attributes
    ----------
    scenario : Scenario
        The scenario.
    controller : str
        Registered controller name (``citybrain.control.CONTROLLERS``).
    protocol : str
        ``"native"`` or ``"resco"``.
    seed : int
        SUMO's seed.
    backend : str
        ``"libsumo"`` or ``"traci"``.
    sumo_binary : str or None
        Another ``sumo`` program (TraCI only).
    cameras : bool
        Emulate the stop-line cameras.
    gui : bool
        Run ``sumo-gui`` (TraCI) instead of ``sumo``.
    serve_port : int or None
        Accept plan changes over HTTP on ``127.0.0.1:serve_port`` while running.
    gridlock_s : float
        A run is flagged gridlocked after this long (seconds) with vehicles in the network,
        no arrival and every watched vehicle halting.
    plan : str or None
        A signal plan file (JSON or SUMO additional) to run with the ``plan`` controller on
        the lights it covers (the others keep their programs); checked for safety first.
        With ``controller="adaptive-plan"`` the plan's first period is the base of the
        adaptive splits instead.
    """

    scenario: Scenario
    controller: str = "fixed"
    protocol: str = "native"
    seed: int = 0
    backend: str = "libsumo"
    sumo_binary: str | None = None
    cameras: bool = False
    gui: bool = False
    serve_port: int | None = None
    gridlock_s: float = 600.0
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class PlanUpdate:
    """A new static program for one light, switched in at its next cycle boundary.

    Attributes
    ----------
    tls : str
        SUMO traffic-light id.
    phases : tuple of (float, str)
        ``(duration_s, state)`` per phase; states as long as the light's.
    program_id : str
        Program id to install under.
    """

    tls: str
    phases: tuple[tuple[float, str], ...]
    program_id: str = "citybrain"


@dataclass(frozen=True, slots=True)
class RunResult:
    """The metrics of one run (see :mod:`simulation.metrics` for definitions).

    ``error`` is set (and the metrics are ``nan``) when the run failed; ``gridlocked``
    reports a gridlock, with ``gridlock_at_s`` the simulation time it began.
    """

    scenario: str
    controller: str
    protocol: str
    seed: int
    backend: str
    sumo_version: str
    delay_s: float = math.nan
    delay_all_s: float | None = None
    trip_time_s: float = math.nan
    waiting_s: float = math.nan
    stops: float = math.nan
    queue_veh: float = math.nan
    arrived: int = 0
    loaded: int = 0
    teleports: int = 0
    never_inserted: int = 0
    junction_delay_s: dict[str, float] = field(default_factory=dict)
    junction_queue_veh: dict[str, float] = field(default_factory=dict)
    gridlocked: bool = False
    gridlock_at_s: float | None = None
    plans_applied: tuple[tuple[str, float], ...] = ()
    wall_s: float = 0.0
    error: str | None = None
    cameras: CameraCounts | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the run finished (gridlocked or not)."""
        return self.error is None

    def to_json(self) -> dict:
        """The run as a JSON-ready dict (the ``runs`` entries of ``citybrain simulate --json``)."""

        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else x

        return {
            "seed": self.seed,
            "delay_s": num(self.delay_s),
            "delay_all_s": num(self.delay_all_s),
            "trip_time_s": num(self.trip_time_s),
            "waiting_s": num(self.waiting_s),
            "stops": num(self.stops),
            "queue_veh": num(self.queue_veh),
            "arrived": self.arrived,
            "loaded": self.loaded,
            "teleports": self.teleports,
            "never_inserted": self.never_inserted,
            "gridlocked": self.gridlocked,
            "gridlock_at_s": self.gridlock_at_s,
            "wall_s": round(self.wall_s, 3),
            "error": self.error,
        }


def safe_transition(
    from_state: str, to_state: str, yellow_s: float, all_red_s: float
) -> list[tuple[str, float]]:
    """Return the yellow and all-red states (with durations, s) between two signal states.

    Links green in ``from_state`` and not in ``to_state`` show yellow, then red; links green
    in both stay green; every other link is red. Empty when no link loses its green.
    """
    if len(from_state) != len(to_state):
        msg = f"Signal states differ in length: {len(from_state)} vs {len(to_state)}."
        raise ValueError(msg)
    losing = [c in "GgyY" and n not in "Gg" for c, n in zip(from_state, to_state, strict=True)]
    if not any(losing):
        return []
    out: list[tuple[str, float]] = []
    keep = ["r" if c not in "Gg" or n not in "Gg" else c for c, n in zip(from_state, to_state, strict=True)]
    if yellow_s > 0 and any(c in "Gg" and lo for c, lo in zip(from_state, losing, strict=True)):
        yellow = ["y" if c in "Gg" and lo else (c if c in "Gg" and not lo else k) for c, lo, k in zip(from_state, losing, keep, strict=True)]
        out.append(("".join(yellow), float(yellow_s)))
    if all_red_s > 0:
        out.append(("".join(keep), float(all_red_s)))
    return out


class _Layout:
    """Index arrays from the network's lights to the watched lane vector.

    A movement's approach is its own lanes plus, where those are short, the lanes feeding
    them through unsignalised junctions up to :data:`~citybrain.control.APPROACH_REACH_M`
    from the stop line, so that queues behind a 1 m approach edge are seen.
    """

    def __init__(self, network: RoadNetwork, lights: tuple[str, ...]) -> None:
        approach = {
            i: (*m.from_lanes, *(lane for lane, _ in network.upstream_lanes(m.from_lanes, APPROACH_REACH_M)))
            for i, m in enumerate(network.movements)
            if m.tls in lights and m.turn != "crossing"
        }
        lanes: list[str] = []
        self.in_slice: dict[str, slice] = {}
        self.mov_slice: dict[str, slice] = {}
        self.movements: dict[str, tuple[int, ...]] = {}
        per_tls_moves: dict[str, list[int]] = {t: [] for t in lights}
        for i, m in enumerate(network.movements):
            if m.tls in per_tls_moves and m.turn != "crossing":
                per_tls_moves[m.tls].append(i)
        seen: set[str] = set()
        for t in lights:
            start = len(lanes)
            for i in per_tls_moves[t]:
                for lane in approach[i]:
                    if lane not in seen:
                        seen.add(lane)
                        lanes.append(lane)
            self.in_slice[t] = slice(start, len(lanes))
        self.n_in = len(lanes)
        for t in lights:
            for i in per_tls_moves[t]:
                for lane in network.movements[i].to_lanes:
                    if lane not in seen:
                        seen.add(lane)
                        lanes.append(lane)
        index = {x: k for k, x in enumerate(lanes)}
        rows_in, cols_in, rows_out, cols_out = [], [], [], []
        row = 0
        for t in lights:
            start = row
            for i in per_tls_moves[t]:
                m = network.movements[i]
                for lane in dict.fromkeys(approach[i]):
                    rows_in.append(row)
                    cols_in.append(index[lane])
                for lane in dict.fromkeys(m.to_lanes):
                    rows_out.append(row)
                    cols_out.append(index[lane])
                row += 1
            self.mov_slice[t] = slice(start, row)
            self.movements[t] = tuple(per_tls_moves[t])
        shape = (row, len(lanes))
        self.m_in = sparse.csr_matrix((np.ones(len(rows_in), np.int64), (rows_in, cols_in)), shape)
        self.m_out = sparse.csr_matrix((np.ones(len(rows_out), np.int64), (rows_out, cols_out)), shape)
        self.lanes = tuple(lanes)
        self.lane_names = {t: tuple(lanes[self.in_slice[t]]) for t in lights}
        junction_of = {}
        for t in lights:
            for i in per_tls_moves[t]:
                for lane in approach[i]:
                    junction_of.setdefault(lane, network.movements[i].junction)
        self.junctions = tuple(sorted(set(junction_of.values())))
        jidx = {j: k for k, j in enumerate(self.junctions)}
        self.lane_junction = np.array([jidx[junction_of[x]] for x in lanes[: self.n_in]], np.int64)


class _Signal:
    """Drives one light: observation, controller call, transitions and min greens."""

    def __init__(
        self,
        tls: str,
        program: SignalProgram,
        controller: Controller,
        protocol: DecisionProtocol,
        layout: _Layout,
        begin_s: float,
    ) -> None:
        self.tls, self.program, self.controller, self.protocol = tls, program, controller, protocol
        self.greens = program.green_phases()
        self.in_slice, self.mov_slice = layout.in_slice[tls], layout.mov_slice[tls]
        self.movements, self.lanes = layout.movements[tls], layout.lane_names[tls]
        self.begin_s = begin_s
        self.every = max(1, int(round(protocol.decision_interval_s)))
        self.phase = -1
        self.phase_start = begin_s
        self.green: int | None = None
        self.pending: list[tuple[str, float]] = []
        self.pending_end = 0.0
        self.target: int | None = None
        self.plan: PlanUpdate | None = None
        self.last_state = ""

    # -- decisions ---------------------------------------------------------------------
    def start(self, backend: Backend, phase: int) -> None:
        """Take over the light (controller-driven) or just start tracking it."""
        self.phase = phase
        if not self.controller.program_driven:
            green = phase if phase in self.greens else self.greens[0]
            self._show_green(backend, green, self.begin_s)

    def _show_green(self, backend: Backend, green: int, t: float) -> None:
        backend.apply(SetState(self.tls, self.program.phases[green].state))
        self.green = self.phase = green
        self.phase_start = t
        self.target = None

    def observation(self, t: float, veh, halt, mveh, mhalt, mout, gaps) -> Observation:
        """Build this light's observation from the step's lane, movement and detector vectors."""
        return Observation(
            tls=self.tls,
            time_s=t,
            phase=self.phase,
            green=self.green,
            time_in_phase_s=t - self.phase_start,
            green_phases=self.greens,
            movements=self.movements,
            movement_vehicles=mveh[self.mov_slice],
            movement_halting=mhalt[self.mov_slice],
            movement_out_vehicles=mout[self.mov_slice],
            lanes=self.lanes,
            lane_vehicles=veh[self.in_slice],
            lane_halting=halt[self.in_slice],
            lane_gap_s=gaps[self.in_slice] if len(gaps) else (),
        )

    def advance(self, backend: Backend, t: float, data: StepData) -> bool:
        """Advance the light by one step (transitions, plan switches); return whether it decides now.

        A program-driven light never decides: SUMO runs its program.
        """
        if self.pending:
            if t + 1e-9 >= self.pending_end:
                self._advance_pending(backend, t)
        elif self.controller.program_driven:
            phase = data.tls_phase[self.tls]
            if phase != self.phase:
                wrapped = phase < self.phase
                self.phase, self.phase_start = phase, t
                if wrapped and self.plan is not None:
                    self._begin_plan_switch(backend, t)
        if self.controller.program_driven:
            return False
        return not self.pending and int(round(t - self.begin_s)) % self.every == 0

    def apply_choice(self, backend: Backend, t: float, choice: int | None) -> None:
        """Act on the controller's answer: keep, or start the transition to another green."""
        if self.controller.program_driven or choice is None or choice == self.green:
            return
        if choice not in self.greens:
            msg = (
                f"Controller {self.controller.name!r} chose phase {choice!r} for light "
                f"{self.tls!r}; expected one of its green phases {list(self.greens)} or None."
            )
            raise SimulationError(msg)
        if t - self.phase_start + 1e-9 < self._min_green(self.green):
            return
        steps = self._transition(self.green, choice)
        self.target = choice
        if not steps:
            self._show_green(backend, choice, t)
            return
        self.pending = steps
        self.green = None
        self._advance_pending(backend, t, first=True)

    def _advance_pending(self, backend: Backend, t: float, first: bool = False) -> None:
        if not first:
            self.pending.pop(0)
        if self.pending:
            state, dur = self.pending[0]
            backend.apply(SetState(self.tls, state))
            self.pending_end = t + dur
            self.phase_start = t
            return
        if self.controller.program_driven:
            plan, self.plan = self.plan, None
            backend.apply(SetProgram(self.tls, plan.program_id, plan.phases))
            self.phase, self.phase_start = 0, t
        else:
            self._show_green(backend, self.target, t)

    def _min_green(self, green: int | None) -> float:
        if green is None:
            return 0.0
        if self.protocol.min_green_s is not None:
            return self.protocol.min_green_s
        ph = self.program.phases[green]
        return ph.min_dur_s if ph.min_dur_s is not None else DEFAULT_MIN_GREEN_S

    def _transition(self, cur: int | None, target: int) -> list[tuple[str, float]]:
        phases = self.program.phases
        if cur is None:
            return []
        proto = self.protocol
        following: list[int] = []
        k = (cur + 1) % len(phases)
        while phases[k].is_transition and k != cur:
            following.append(k)
            k = (k + 1) % len(phases)
        if proto.yellow_s is None and k == target:
            return [(phases[i].state, phases[i].duration_s) for i in following]
        yellow = proto.yellow_s
        if yellow is None:
            yellow = sum(phases[i].duration_s for i in following if "y" in phases[i].state.lower())
            yellow = yellow or 3.0
        all_red = proto.all_red_s
        if all_red is None:
            all_red = sum(phases[i].duration_s for i in following if "y" not in phases[i].state.lower())
        return safe_transition(phases[cur].state, phases[target].state, yellow, all_red)

    # -- live plans ---------------------------------------------------------------------
    def _begin_plan_switch(self, backend: Backend, t: float) -> None:
        first_state = self.plan.phases[0][1]
        self.pending = safe_transition(
            self.last_state, first_state, PLAN_SWITCH_YELLOW_S, PLAN_SWITCH_ALL_RED_S
        )
        self._advance_pending(backend, t, first=True)


class Twin:
    """One run of the digital twin.

    Parameters
    ----------
    spec : RunSpec
        What to run.
    workdir : str or Path
        Folder for SUMO's outputs of this run (created).
    network : RoadNetwork or None
        The scenario's network, if already loaded.
    on_progress : callable or None
        ``on_progress(seconds_simulated)``, called about once a simulated minute.
    on_step : callable or None
        ``on_step(twin, time_s)`` after every step, in the run's thread (e.g. to push plans).

    Notes
    -----
    ``push_plan`` may be called from any thread while :meth:`run` runs; the plan switches at
    the light's next cycle boundary (when its program wraps to phase 0), through a yellow
    and a 2 s all-red for the greens it drops.
    """

    def __init__(
        self,
        spec: RunSpec,
        workdir: str | Path,
        *,
        network: RoadNetwork | None = None,
        on_progress: Callable[[float], None] | None = None,
        on_step: Callable[[Twin, float], None] | None = None,
    ) -> None:
        self.spec = spec
        self.workdir = Path(workdir).absolute()  # SUMO resolves paths in additional files from their folder
        self.network = network or graph_from_sumo_net(spec.scenario.network)
        self.protocol = get_protocol(spec.protocol)
        self.on_progress, self.on_step = on_progress, on_step
        self.lights = tuple(sorted(self.network.programs))
        self.controllers = _controllers(spec, self.network, self.lights)
        self._plans: queue.Queue[PlanUpdate] = queue.Queue()
        self._lock = threading.Lock()
        self.time_s = spec.scenario.begin_s
        self.applied: list[tuple[str, float]] = []
        self._pending_tls: set[str] = set()
        self._counter: CameraCounter | None = None

    # -- live plans ------------------------------------------------------------------------
    def push_plan(self, plan: PlanUpdate) -> None:
        """Queue a new program for a light; it switches in at the light's next cycle boundary.

        Raises
        ------
        ValidationError
            If the light is unknown or controller-driven, or the phases do not fit it.
        """
        problems = []
        if plan.tls not in self.network.programs:
            problems.append(f"plan: unknown traffic light {plan.tls!r}")
        else:
            n = len(self.network.programs[plan.tls].phases[0].state)
            if not self.controllers[plan.tls].program_driven:
                problems.append(
                    f"plan for {plan.tls!r}: the {self.spec.controller!r} controller drives this "
                    "light; live plans replace programs of program-driven controllers (fixed)"
                )
            if not plan.phases:
                problems.append(f"plan for {plan.tls!r}: no phases")
            for i, (dur, state) in enumerate(plan.phases):
                if not (isinstance(dur, int | float) and dur > 0):
                    problems.append(f"plan for {plan.tls!r}: phase {i} duration_s must be > 0, got {dur!r}")
                if not isinstance(state, str) or len(state) != n or set(state) - set("rRyYgGuoOs"):
                    problems.append(
                        f"plan for {plan.tls!r}: phase {i} state must be {n} characters of "
                        f"'rRyYgGuoOs', got {state!r}"
                    )
        if problems:
            raise ValidationError("; ".join(problems), problems)
        with self._lock:
            self._pending_tls.add(plan.tls)
        self._plans.put(plan)

    def camera_tables(self) -> CameraCounts:
        """The emulated cameras' counts so far (from ``on_step``, e.g. to re-plan while running).

        Raises
        ------
        SimulationError
            If the run has no cameras (``RunSpec.cameras``) or has not started.
        """
        if self._counter is None:
            msg = "camera_tables() needs a running twin with cameras on (RunSpec(cameras=True))."
            raise SimulationError(msg)
        return self._counter.tables(self.spec.seed)

    def status(self) -> dict:
        """Simulation time, pending and applied plans (for the HTTP endpoint)."""
        with self._lock:
            return {
                "time_s": self.time_s,
                "pending": sorted(self._pending_tls),
                "applied": [{"tls": t, "time_s": s} for t, s in self.applied],
            }

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run the scenario to the end of its window and return its metrics.

        Raises
        ------
        SimulationError
            If SUMO fails or a controller answers out of protocol.
        """
        spec, sc = self.spec, self.spec.scenario
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        layout = _Layout(self.network, self.lights)
        backend = make_backend(spec.backend, sumo_binary=self._binary())
        tripinfo = self.workdir / "tripinfo.xml"
        edgedata = self.workdir / "edgedata.xml"
        additional = self.workdir / "edgedata.add.xml"
        additional.write_text(
            f'<additional><edgeData id="citybrain" file="{edgedata}" begin="{sc.begin_s}" '
            f'end="{sc.end_s}" excludeEmpty="true"/></additional>\n'
        )
        extra_additional = [additional, *self._controller_additionals(layout)]
        routes: tuple[Path, ...] = ()
        if sc.flows:
            flows = self.workdir / "flows.rou.xml"
            flows.write_text(sc.flows_xml())
            routes = (flows,)
        undeparted = _supports(backend, "--tripinfo-output.write-undeparted")
        args = sc.sumo_args(spec.seed, extra_routes=routes, extra_additional=tuple(extra_additional))
        args += ["--tripinfo-output", str(tripinfo), "--error-log", str(self.workdir / "sumo.log")]
        if undeparted:
            args += ["--tripinfo-output.write-undeparted", "true"]
        if spec.gui:
            args += ["--start", "true", "--quit-on-end", "true"]
        counter = None
        try:
            backend.load(args)
            version = backend.version()
            cams = cameras_for_network(self.network) if spec.cameras else ()
            watched = layout.lanes
            if spec.cameras:
                known = set(watched)
                extra = [x for c in cams for x in c.watch_lanes if x not in known]
                watched = (*watched, *dict.fromkeys(extra))
            detectors = _detector_ids(layout) if self._needs_detectors else ()
            backend.watch(watched, self.lights, vehicle_ids=spec.cameras, detectors=detectors)
            if spec.cameras:
                vehicle = backend.api.vehicle
                counter = CameraCounter(cams, sc.cameras, sc.begin_s, sc.end_s, vehicle.getRoute, vehicle.getRouteIndex)
            self._counter = counter
            result = self._loop(backend, layout, counter, version)
        except SimulationError as exc:
            log = self.workdir / "sumo.log"
            detail = ""
            if log.is_file():
                errors = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("Error")]
                detail = ("; SUMO said: " + " | ".join(errors[-3:])) if errors else ""
            raise SimulationError(f"{exc}{detail}") from exc
        finally:
            backend.close()
        trips = read_tripinfo(tripinfo, has_undeparted=undeparted)
        approaches = {j: self.network.approach_edges(j) for j in layout.junctions}
        jdelay = junction_delay(read_edge_data(edgedata), approaches)
        return RunResult(
            scenario=sc.name,
            controller=spec.controller,
            protocol=spec.protocol,
            seed=spec.seed,
            backend=spec.backend,
            sumo_version=result["version"],
            delay_s=trips.delay_s,
            delay_all_s=trips.delay_all_s,
            trip_time_s=trips.trip_time_s,
            waiting_s=trips.waiting_s,
            stops=trips.stops,
            queue_veh=result["queue"],
            arrived=result["arrived"],
            loaded=result["loaded"],
            teleports=result["teleports"],
            never_inserted=trips.never_inserted if undeparted else result["never_inserted"],
            junction_delay_s=jdelay,
            junction_queue_veh=result["junction_queue"],
            gridlocked=result["gridlock_at"] is not None,
            gridlock_at_s=result["gridlock_at"],
            plans_applied=tuple(self.applied),
            wall_s=time.perf_counter() - started,
            cameras=counter.tables(spec.seed) if counter is not None else None,
        )

    @property
    def _needs_detectors(self) -> bool:
        return any(getattr(c, "needs_detectors", False) for c in self.controllers.values())

    def _controller_additionals(self, layout: _Layout) -> list[Path]:
        """Write the SUMO additional files the controllers need: switched programs, detectors."""
        files = []
        types = {getattr(c, "sumo_program_type", None) for c in self.controllers.values()} - {None}
        if len(types) > 1:
            msg = f"Controllers ask for several SUMO program types at once: {sorted(types)}."
            raise SimulationError(msg)
        if types:
            from citybrain.control.sumo_programs import programs_xml

            path = self.workdir / "programs.add.xml"
            path.write_text(programs_xml(self.network, types.pop()))
            files.append(path)
        if self._needs_detectors:
            from citybrain.control import DETECTOR_SETBACK_M

            lengths = {lane: self.network.edges[lane.rsplit("_", 1)[0]]["length_m"] for lane in layout.lanes[: layout.n_in]}
            rows = [
                f'  <inductionLoop id="{det}" lane="{lane}" pos="{max(0.1, lengths[lane] - DETECTOR_SETBACK_M):.2f}" '
                f'freq="86400" file="NUL"/>'
                for det, lane in zip(_detector_ids(layout), layout.lanes[: layout.n_in], strict=True)
            ]
            path = self.workdir / "detectors.add.xml"
            path.write_text("<additional>\n" + "\n".join(rows) + "\n</additional>\n")
            files.append(path)
        return files

    def _binary(self) -> str | None:
        spec = self.spec
        if not spec.gui:
            return spec.sumo_binary
        from citybrain.sumo_tools import sumo_binary

        base = Path(spec.sumo_binary).parent if spec.sumo_binary else sumo_binary().parent
        gui = base / "sumo-gui"
        if not gui.is_file():
            msg = f"--gui needs sumo-gui next to sumo; not found at {gui}."
            raise SimulationError(msg)
        return str(gui)

    def _loop(self, backend: Backend, layout: _Layout, counter, version: str) -> dict:
        sc, spec = self.spec.scenario, self.spec
        data0_phase = {t: backend.api.trafficlight.getPhase(t) for t in self.lights}
        signals = {
            t: _Signal(t, self.network.programs[t], self.controllers[t], self.protocol, layout, sc.begin_s)
            for t in self.lights
        }
        for t, sig in signals.items():
            sig.start(backend, data0_phase[t])
            sig.last_state = backend.api.trafficlight.getRedYellowGreenState(t)
        n_in, n_all = layout.n_in, len(layout.lanes)
        halting_sum = np.zeros(n_in, np.int64)  # per approach lane, vehicle-steps halting
        steps = 0
        sim = backend.api.simulation
        loaded, departed = sim.getLoadedNumber(), sim.getDepartedNumber()
        arrived, teleports = sim.getArrivedNumber(), 0
        last_arrival = sc.begin_s
        gridlock_at: float | None = None
        next_report = 60.0
        t = sc.begin_s
        end = sc.end_s - 1e-6
        track_states = any(c.program_driven for c in self.controllers.values())
        while t < end:
            t_prev = t
            t = backend.step()
            data = backend.observe()
            self.time_s = t
            veh = data.lane_vehicles[:n_all]
            halt = data.lane_halting[:n_all]
            halting_sum += halt[:n_in]
            steps += 1
            loaded += data.loaded
            departed += data.departed
            arrived += data.arrived
            teleports += data.teleports
            if data.arrived:
                last_arrival = t
            elif (
                gridlock_at is None
                and departed > arrived
                and t - last_arrival >= spec.gridlock_s
                and int(veh.sum()) > 0
                and int(halt.sum()) == int(veh.sum())
            ):
                gridlock_at = last_arrival
            if counter is not None:
                counter.update(t_prev, data.lane_vehicle_ids, data.arrived_ids)
            self._take_plans(signals)
            due = []
            for sig in signals.values():
                had_plan = sig.plan is not None
                if sig.advance(backend, t, data):
                    due.append(sig)
                if had_plan and sig.plan is None:
                    with self._lock:
                        self.applied.append((sig.tls, t))
                        self._pending_tls.discard(sig.tls)
            if due:
                gaps = data.detector_gap_s
                vectors = (veh, halt, layout.m_in @ veh, layout.m_in @ halt, layout.m_out @ veh, gaps)
                for sig, choice in _decide(due, t, vectors).items():
                    sig.apply_choice(backend, t, choice)
            if track_states:
                for tls, sig in signals.items():
                    if sig.controller.program_driven and sig.plan is not None:
                        sig.last_state = backend.api.trafficlight.getRedYellowGreenState(tls)
            if self.on_step is not None:
                self.on_step(self, t)
            if self.on_progress is not None and t - sc.begin_s >= next_report:
                self.on_progress(t - sc.begin_s)
                next_report += 60.0
        never_inserted = max(0, loaded - departed)
        jq = np.bincount(layout.lane_junction, weights=halting_sum, minlength=len(layout.junctions))
        return {
            "version": version,
            "queue": float(halting_sum.sum()) / steps if steps else math.nan,
            "junction_queue": {
                j: float(q / steps) if steps else math.nan for j, q in zip(layout.junctions, jq, strict=True)
            },
            "loaded": loaded,
            "arrived": arrived,
            "teleports": teleports,
            "never_inserted": never_inserted,
            "gridlock_at": gridlock_at,
        }

    def _take_plans(self, signals: dict[str, _Signal]) -> None:
        while True:
            try:
                plan = self._plans.get_nowait()
            except queue.Empty:
                return
            signals[plan.tls].plan = plan


def _detector_ids(layout: _Layout) -> tuple[str, ...]:
    """Ids of the emulated approach detectors, one per approach lane in layout order."""
    return tuple(f"citybrain_det_{lane}" for lane in layout.lanes[: layout.n_in])


def _decide(due: list[_Signal], t: float, vectors) -> dict[_Signal, int | None]:
    """Ask the due lights' controllers; controllers sharing a ``batch`` are asked in one call."""
    choices: dict[_Signal, int | None] = {}
    batches: dict[int, tuple[object, dict[str, _Signal]]] = {}
    for sig in due:
        batch = getattr(sig.controller, "batch", None)
        if batch is None:
            choices[sig] = sig.controller.decide(sig.observation(t, *vectors))
        else:
            batches.setdefault(id(batch), (batch, {}))[1][sig.tls] = sig
    for batch, members in batches.values():
        answers = batch.decide_all({tls: sig.observation(t, *vectors) for tls, sig in members.items()})
        for tls, sig in members.items():
            choices[sig] = answers.get(tls)
    return choices


def load_checked_plan(path: str | Path, network: RoadNetwork):
    """Read a plan file and refuse it when the safety check finds a hard error.

    Raises
    ------
    ValidationError
        If the file is unusable or the plan breaks a hard safety rule (every error listed).
    """
    from citybrain.plans import check_network_plan, read_plans

    plan = read_plans(path, network=network)
    errors = [str(v) for v in check_network_plan(plan, network) if v.severity == "error"]
    if errors:
        msg = f"{path}: the plan is unsafe and will not run ({len(errors)} errors):\n" + "\n".join(errors)
        raise ValidationError(msg, errors)
    return plan


def _controllers(spec: RunSpec, network: RoadNetwork, lights: tuple[str, ...]) -> dict[str, Controller]:
    """Build every light's controller: the spec's, or the plan controller for a plan run."""
    if spec.plan is None:
        return {t: make_controller(spec.controller, network, t) for t in lights}
    from citybrain.control.plan import PlanController

    plan = load_checked_plan(spec.plan, network)
    covered = set(plan.tls_ids)
    if spec.controller == "adaptive-plan":
        from citybrain.control.adaptive import AdaptivePlanController

        first = plan.periods[0].by_tls
        return {
            t: AdaptivePlanController(network, t, plan=first[t]) if t in first else make_controller("fixed", network, t)
            for t in lights
        }
    return {
        t: PlanController(network, t, plan) if t in covered else make_controller("fixed", network, t) for t in lights
    }


_SUPPORT_CACHE: dict[tuple[str, str], bool] = {}


def _supports(backend: Backend, option: str) -> bool:
    """Whether the backend's SUMO knows a command-line option (checked once per binary)."""
    from citybrain.sumo_tools import sumo_binary

    if backend.name == "libsumo":  # the installed SUMO 1.28 knows every option we ask about
        return True
    binary = str(getattr(backend, "binary", None) or sumo_binary())
    key = (binary, option)
    if key not in _SUPPORT_CACHE:
        try:
            out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60, check=False)
            _SUPPORT_CACHE[key] = option in out.stdout
        except (OSError, subprocess.SubprocessError):
            _SUPPORT_CACHE[key] = False
    return _SUPPORT_CACHE[key]

