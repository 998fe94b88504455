"""The twin loop: SUMO stepped with controllers in the loop, cameras and live plan changes.

One :class:`Twin` runs one scenario under one controller and seed. Every step it reads the
watched lanes through its :class:`~simulation.backend.Backend`, accumulates queues, feeds the
emulated cameras, hands pushed plans to the lights' drivers (:mod:`simulation.signals`), and
at each decision step asks every due light's controller for a phase.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from citybrain.control import Controller, get_protocol
from citybrain.exceptions import SimulationError, ValidationError
from citybrain.network import RoadNetwork, graph_from_sumo_net

from .backend import Backend, make_backend
from .cameras import CameraCounter, CameraCounts, cameras_for_network
from .controllers import controller_files, make_controllers, needs_detectors
from .metrics import junction_delay, read_edge_data, read_tripinfo
from .monitor import BASELINE_CONTROLLERS, ConflictMonitor
from .run import PlanUpdate, RunResult, RunSpec
from .signals import LaneLayout, SignalDriver, ask_controllers

__all__ = ["Twin"]


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
    backend : Backend or None
        The simulator to drive (default: a new one of ``spec.backend``); a test passes a fake.
    controllers : mapping of str to Controller, or None
        Per light, a controller to run instead of the one the spec names (the other lights
        keep the spec's), e.g. a controller under test.
    on_progress : callable or None
        ``on_progress(seconds_simulated)``, called about once a simulated minute.
    on_step : callable or None
        ``on_step(twin, time_s)`` after every step, in the run's thread (e.g. to push plans).

    Raises
    ------
    ValueError
        If a controller name is unknown, or ``controllers`` names a light the network lacks.
    ValidationError
        If the spec's plan file is unusable or unsafe.

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
        backend: Backend | None = None,
        controllers: Mapping[str, Controller] | None = None,
        on_progress: Callable[[float], None] | None = None,
        on_step: Callable[[Twin, float], None] | None = None,
    ) -> None:
        self.spec = spec
        self.workdir = Path(workdir).absolute()  # SUMO resolves paths in additional files from their folder
        self.network = network or graph_from_sumo_net(spec.scenario.network)
        self.protocol = get_protocol(spec.protocol)
        self.on_progress, self.on_step = on_progress, on_step
        self.lights = tuple(sorted(self.network.programs))
        unknown = sorted(set(controllers or {}) - set(self.lights))
        if unknown:
            msg = f"controllers= names lights the network does not have: {unknown}"
            raise ValueError(msg)
        self.controllers = {**make_controllers(spec, self.network, self.lights), **(controllers or {})}
        self._backend = backend
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
        layout = LaneLayout(self.network, self.lights)
        backend = self._backend or make_backend(spec.backend, sumo_binary=spec.sumo_binary, gui=spec.gui)
        tripinfo = self.workdir / "tripinfo.xml"
        edgedata = self.workdir / "edgedata.xml"
        additional = self.workdir / "edgedata.add.xml"
        additional.write_text(
            f'<additional><edgeData id="citybrain" file="{edgedata}" begin="{sc.begin_s}" '
            f'end="{sc.end_s}" excludeEmpty="true"/></additional>\n'
        )
        extra_additional = [additional, *controller_files(self.controllers, self.network, layout, self.workdir)]
        routes: tuple[Path, ...] = ()
        if sc.flows:
            flows = self.workdir / "flows.rou.xml"
            flows.write_text(sc.flows_xml())
            routes = (flows,)
        undeparted = backend.supports("--tripinfo-output.write-undeparted")
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
            detectors = layout.detector_ids if needs_detectors(self.controllers) else ()
            backend.watch(watched, self.lights, vehicle_ids=spec.cameras, detectors=detectors)
            if spec.cameras:
                counter = CameraCounter(cams, sc.cameras, sc.begin_s, sc.end_s, backend.route, backend.route_index)
            self._counter = counter
            totals = self._loop(backend, layout, counter)
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
        if undeparted:
            totals["never_inserted"] = trips.never_inserted
        approaches = {j: self.network.approach_edges(j) for j in layout.junctions}
        return RunResult(
            scenario=sc.name,
            controller=spec.controller,
            protocol=spec.protocol,
            seed=spec.seed,
            backend=backend.name,
            sumo_version=version,
            **{name: getattr(trips, name) for name in ("delay_s", "delay_all_s", "trip_time_s", "waiting_s", "stops")},
            **totals,
            junction_delay_s=junction_delay(read_edge_data(edgedata), approaches),
            gridlocked=totals["gridlock_at_s"] is not None,
            plans_applied=tuple(self.applied),
            wall_s=time.perf_counter() - started,
            cameras=counter.tables(spec.seed) if counter is not None else None,
        )

    def _loop(self, backend: Backend, layout: LaneLayout, counter: CameraCounter | None) -> dict:
        """Step to the end of the window; return the run's totals (:class:`RunResult` fields)."""
        sc, spec = self.spec.scenario, self.spec
        data0_phase = {t: backend.phase(t) for t in self.lights}
        signals = {
            t: SignalDriver(t, self.network.programs[t], self.controllers[t], self.protocol, layout, sc.begin_s)
            for t in self.lights
        }
        for t, sig in signals.items():
            sig.start(backend, data0_phase[t])
            sig.last_state = backend.state(t)
        n_in, n_all = layout.n_in, len(layout.lanes)
        halting_sum = np.zeros(n_in, np.int64)  # per approach lane, vehicle-steps halting
        steps = 0
        loaded, departed, arrived = backend.counts()
        teleports = 0
        last_arrival = sc.begin_s
        gridlock_at: float | None = None
        next_report = 60.0
        t = sc.begin_s
        end = sc.end_s - 1e-6
        track_states = any(c.program_driven for c in self.controllers.values())
        ours = [x for x in self.lights if getattr(self.controllers[x], "name", "") not in BASELINE_CONTROLLERS]
        monitor = ConflictMonitor(self.network, self.lights, ours=ours)
        while t < end:
            t_prev = t
            t = backend.step()
            data = backend.observe()
            self.time_s = t
            monitor.observe(t, data.tls_state)
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
            if self._pending_tls:  # a pushed plan: the light's signals are ours from now on
                with self._lock:
                    for tls in self._pending_tls:
                        monitor.mark_ours(tls)
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
                vectors = layout.vectors(veh, halt, data.detector_gap_s)
                for sig, choice in ask_controllers(due, t, vectors).items():
                    sig.apply_choice(backend, t, choice)
            if track_states:
                for tls, sig in signals.items():
                    if sig.controller.program_driven and sig.plan is not None:
                        sig.last_state = backend.state(tls)
            if self.on_step is not None:
                self.on_step(self, t)
            if self.on_progress is not None and t - sc.begin_s >= next_report:
                self.on_progress(t - sc.begin_s)
                next_report += 60.0
        jq = np.bincount(layout.lane_junction, weights=halting_sum, minlength=len(layout.junctions))
        return {
            "queue_veh": float(halting_sum.sum()) / steps if steps else math.nan,
            "junction_queue_veh": {
                j: float(q / steps) if steps else math.nan for j, q in zip(layout.junctions, jq, strict=True)
            },
            "loaded": loaded,
            "arrived": arrived,
            "teleports": teleports,
            "never_inserted": max(0, loaded - departed),
            "gridlock_at_s": gridlock_at,
            "monitor": monitor.summary(),
        }

    def _take_plans(self, signals: dict[str, SignalDriver]) -> None:
        while True:
            try:
                plan = self._plans.get_nowait()
            except queue.Empty:
                return
            signals[plan.tls].plan = plan


