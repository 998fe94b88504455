"""The twin loop: SUMO stepped with controllers in the loop, cameras and live plan changes.

One :class:`Twin` runs one scenario under one controller and seed. Every step it reads the
watched lanes through its :class:`~simulation.backend.Backend`, accumulates queues, feeds the
emulated cameras, hands pushed plans to the lights' drivers (:mod:`simulation.signals`), and
at each decision step asks every due light's controller for a phase. :meth:`Twin.episode` runs
it step-wise, pausing at the decisions of ``external`` controllers (an RL environment's lights).
"""

from __future__ import annotations

import inspect
import math
import queue
import threading
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path

import numpy as np

from citybrain.control import Controller, Observation, get_protocol
from citybrain.exceptions import SimulationError, ValidationError
from citybrain.network import RoadNetwork, graph_from_sumo_net
from citybrain.plans import NetworkPlan, SignalPlan, plans_from_network, require_safe
from citybrain.plans.formats import plan_sha256
from citybrain.plans.safety import LightGeometry, Violation

from .backend import Backend, make_backend
from .cameras import CameraCounter, CameraCounts, cameras_for_network
from .queues import QueueReadings
from .controllers import (
    checked_base_plan,
    checked_network,
    controller_files,
    is_baseline,
    make_controllers,
    near_range_m,
    needs_detectors,
)
from .emergency import EMERGENCY_TYPE, emergency_routes_xml, emergency_trips
from .events import EventRecorder
from .metrics import junction_delay, read_edge_data, read_tripinfo, resco_delay
from .monitor import ConflictMonitor
from .preemption import PreemptionLayer
from .run import AppliedPlan, PlanUpdate, RunResult, RunSpec
from .signals import LaneLayout, SignalDriver, ask_controllers

__all__ = ["PUSHABLE_CONTROLLERS", "PushRefusedError", "Twin", "check_push"]

#: Controllers whose lights take pushed plans: the network's fixed programs and the plan controller.
PUSHABLE_CONTROLLERS = ("fixed", "plan")


class PushRefusedError(ValidationError):
    """A well-formed, safe plan that a light cannot take: an adaptive controller drives it."""


def check_push(plan: NetworkPlan | SignalPlan, network: RoadNetwork,
               running: Mapping[str, SignalPlan]) -> list[Violation]:
    """The one gate on a push: :func:`~citybrain.plans.safety.require_safe`, with the plans running now.

    ``running`` (light -> the plan it runs now) is handed to ``require_safe`` for the
    transition check where ``require_safe`` takes it (``running=``).

    Raises
    ------
    UnsafePlanError
        Listing every error.
    """
    extra = {"running": dict(running)} if "running" in inspect.signature(require_safe).parameters else {}
    return require_safe(plan, network, source="The pushed plan", **extra)


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
        keep the spec's), e.g. a controller under test; it runs the phases of the light's
        program in :attr:`run_network`.
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
    the light's next cycle boundary through the outgoing plan's yellow and all-red for the
    greens it drops (:meth:`simulation.signals.SignalDriver.push`). With ``spec.realtime``
    the loop sleeps so that simulated time runs at that many seconds per wall-clock second.
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
        built, self.run_network = make_controllers(spec, self.network, self.lights)
        # a light the spec leaves to its own program but a given controller drives runs its checked program
        own = {t: checked_base_plan(self.network, t)[0] for t, c in (controllers or {}).items()
               if not is_baseline(c) and is_baseline(built[t])}
        if own:
            self.run_network = checked_network(self.run_network, own)
        self.controllers = {**built, **(controllers or {})}
        self._backend = backend
        self._plans: queue.Queue[list[PlanUpdate]] = queue.Queue()
        self._lock = threading.Lock()
        self.time_s = spec.scenario.begin_s
        self.applied: list[AppliedPlan] = []
        self._pending: dict[str, PlanUpdate] = {}
        self._running = self._initial_plans()
        self._since = dict.fromkeys(self._running, spec.scenario.begin_s)
        self._pace_origin: tuple[float, float] | None = None
        self._counter: CameraCounter | None = None
        #: the running episode's lane layout and, per approach lane (``layout.lanes[:n_in]``), the
        #: vehicle-steps halting so far (updated in place every step)
        self.layout: LaneLayout | None = None
        self.halting_steps: np.ndarray | None = None
        #: after a run: ``sumo_step_s``, the wall time (s) in SUMO's steps, and ``control_s``, in the
        #: controllers' own work (the lane readings for their decisions, observations, deciding, applying)
        self.timing: dict[str, float] = {}

    # -- live plans ------------------------------------------------------------------------
    def _initial_plans(self) -> dict[str, SignalPlan | None]:
        """Per light, the plan it runs at the begin: the plan controller's, the network program (fixed), or None."""
        own = plans_from_network(self.network).periods[0].by_tls
        out: dict[str, SignalPlan | None] = {}
        for tls, c in self.controllers.items():
            plan = getattr(c, "plan", None)
            if c.name == "plan" and isinstance(plan, NetworkPlan):
                out[tls] = plan.plan_at(tls, self.spec.scenario.begin_s)
            else:
                out[tls] = own.get(tls) if c.name == "fixed" else None
        return out

    def push_plan(self, plan: NetworkPlan | SignalPlan) -> list[PlanUpdate]:
        """Check a plan and queue it; each light switches at its next cycle boundary.

        All or nothing: every light of the plan (for a :class:`NetworkPlan`, the period running
        at the twin's time; every period is checked) must be known and take pushes, and the
        plan must pass the gate (:func:`check_push`), or nothing is queued. A plan pushed for a
        light with one still pending replaces it.

        Returns
        -------
        list of PlanUpdate
            What was queued, one per light (its ``sha256`` is what :attr:`applied` records).

        Raises
        ------
        ValidationError
            If the plan names a light the network lacks (every such light listed).
        PushRefusedError
            If a light is driven by a controller that takes no pushes (naming it).
        UnsafePlanError
            If the plan is unsafe (every violation listed).
        """
        plans = (plan,) if isinstance(plan, SignalPlan) else plan.period_at(self.time_s).plans
        lights = [p.tls for p in (plan,)] if isinstance(plan, SignalPlan) else list(plan.tls_ids)
        unknown = [t for t in lights if t not in self.network.programs]
        if unknown:
            problems = [f"plan for {t!r}: unknown traffic light; the network has {sorted(self.network.programs)[:12]}"
                        for t in unknown]
            raise ValidationError("; ".join(problems), problems)
        refused = [
            f"plan for {t!r}: the {self.controllers[t].name!r} controller drives this light and takes no plans; "
            f"pushes go to lights run by {' or '.join(repr(c) for c in PUSHABLE_CONTROLLERS)}"
            for t in lights if self.controllers[t].name not in PUSHABLE_CONTROLLERS
        ]
        if refused:
            raise PushRefusedError("; ".join(refused), refused)
        with self._lock:
            running = {t: p for t in lights if (p := self._running.get(t)) is not None}
        check_push(plan, self.network, running)
        updates = [PlanUpdate.of(p) for p in plans]
        with self._lock:
            self._pending.update({u.tls: u for u in updates})
        self._plans.put(updates)
        return updates

    def running_plans(self) -> dict:
        """What every light runs now (``GET /plan``): ``{"time_s", "lights": {tls: ...}}``.

        Per light: ``controller``, ``sha256`` and ``plan`` (the plan's JSON, as in a plan file's
        ``plans`` entries; ``null`` for an adaptive controller), ``since_s`` (simulation time it
        switched in) and ``pending`` (the hash of a plan waiting for the cycle boundary, or ``null``).
        """
        from citybrain.plans import plans_to_dict

        with self._lock:
            lights = {}
            for tls in self.lights:
                plan = self._running.get(tls)
                pending = self._pending.get(tls)
                lights[tls] = {
                    "controller": self.controllers[tls].name,
                    "sha256": plan_sha256(plan) if plan is not None else None,
                    "since_s": self._since.get(tls),
                    "plan": plans_to_dict(NetworkPlan.single([plan]))["periods"][0]["plans"][0] if plan else None,
                    "pending": pending.sha256 if pending is not None else None,
                }
            return {"time_s": self.time_s, "lights": lights}

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
        """Simulation time, lights with a plan pending, and every applied plan (``GET /status``)."""
        with self._lock:
            return {
                "time_s": self.time_s,
                "pending": sorted(self._pending),
                "applied": [a.to_json() for a in self.applied],
            }

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Run the scenario to the end of its window and return its metrics.

        Raises
        ------
        SimulationError
            If SUMO fails, a controller answers out of protocol, or a controller decides from
            outside (``external``: drive those with :meth:`episode`).
        """
        episode = self.episode()
        try:
            next(episode)
        except StopIteration as stop:
            return stop.value
        episode.close()
        msg = "Controllers with external=True decide from outside the twin: drive the run with Twin.episode()."
        raise SimulationError(msg)

    def episode(self) -> Generator[dict[str, Observation], Mapping[str, int | None], RunResult]:
        """Run the scenario step-wise: pause at every decision of the lights whose controller is ``external``.

        A generator: it yields those due lights' observations (light -> :class:`Observation`)
        and takes their choices by ``send`` (light -> phase index or ``None``, as ``decide``
        answers), then steps on exactly as :meth:`run` does (transitions, minimum greens, the
        other controllers); at the window's end it returns the :class:`RunResult`
        (``StopIteration.value``). ``close()`` ends the run early and closes SUMO.

        Raises
        ------
        SimulationError
            As :meth:`run`.
        """
        spec, sc = self.spec, self.spec.scenario
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        layout = self.layout = LaneLayout(self.network, self.lights)
        backend = self._backend or make_backend(spec.backend, sumo_binary=spec.sumo_binary, gui=spec.gui)
        tripinfo = self.workdir / "tripinfo.xml"
        edgedata = self.workdir / "edgedata.xml"
        additional = self.workdir / "edgedata.add.xml"
        additional.write_text(
            f'<additional><edgeData id="citybrain" file="{edgedata}" begin="{sc.begin_s}" '
            f'end="{sc.end_s}" excludeEmpty="true"/></additional>\n'
        )
        extra_additional = [additional, *controller_files(self.controllers, self.run_network, layout, self.workdir)]
        recorder = None
        if spec.events:
            recorder = EventRecorder(self.run_network, {t: self.run_network.programs[t] for t in self.lights},
                                     begin_s=sc.begin_s, start_date=sc.start_date, workdir=self.workdir,
                                     advance_m=spec.advance_m, step_s=sc.step_s)
            extra_additional.append(recorder.write_additional())
        routes: tuple[Path, ...] = ()
        if sc.flows:
            flows = self.workdir / "flows.rou.xml"
            flows.write_text(sc.flows_xml())
            routes = (flows,)
        if sc.emergency is not None:
            try:
                trips = emergency_trips(sc.emergency, self.network, sc.begin_s, sc.end_s, spec.seed)
            except ValueError as exc:
                raise ValidationError(f"{sc.source.name}: [emergency]: {exc}") from None
            emergency = self.workdir / "emergency.rou.xml"
            emergency.write_text(emergency_routes_xml(trips))
            routes = (*routes, emergency)
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
            extra = {"areas": layout.area_ids} if near_range_m(self.controllers) > 0 else {}
            if _switched_from_outside((*sc.additional, *sc.route_files(routes))):
                extra["lights_every_step"] = True
            backend.watch(watched, self.lights, vehicle_ids=spec.cameras, detectors=detectors, **extra)
            if spec.cameras:
                queues = QueueReadings(cams, self.network, sc.cameras.interval_s, sc.begin_s, sc.end_s)
                counter = CameraCounter(cams, sc.cameras, sc.begin_s, sc.end_s, backend.route, backend.route_index,
                                        queues=queues)
            self._counter = counter
            totals = yield from self._loop(backend, layout, counter, recorder)
        except SimulationError as exc:
            log = self.workdir / "sumo.log"
            detail = ""
            if log.is_file():
                errors = [x for x in log.read_text(errors="replace").splitlines() if x.startswith("Error")]
                detail = ("; SUMO said: " + " | ".join(errors[-3:])) if errors else ""
            raise SimulationError(f"{exc}{detail}") from exc
        finally:
            backend.close()
        trips = read_tripinfo(tripinfo, has_undeparted=undeparted,
                              emergency_type=EMERGENCY_TYPE if sc.emergency is not None else None)
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
            resco_delay_s=resco_delay(tripinfo, sc.route_files(routes), sc.end_s),
            **totals,
            junction_delay_s=junction_delay(read_edge_data(edgedata), approaches),
            gridlocked=totals["gridlock_at_s"] is not None,
            plans_applied=tuple(self.applied),
            wall_s=time.perf_counter() - started,
            cameras=counter.tables(spec.seed) if counter is not None else None,
            events=recorder.log() if recorder is not None else None,
            emergency=trips.emergency,
        )

    def _loop(
        self, backend: Backend, layout: LaneLayout, counter: CameraCounter | None,
        recorder: EventRecorder | None = None,
    ) -> Generator[dict[str, Observation], Mapping[str, int | None], dict]:
        """Step to the end of the window; return the run's totals (:class:`RunResult` fields)."""
        sc, spec = self.spec.scenario, self.spec
        data0_phase = {t: backend.phase(t) for t in self.lights}
        geometry = {t: LightGeometry.of(self.network, t) for t in self.lights}
        signals = {
            t: SignalDriver(t, self.run_network.programs[t], self.controllers[t], self.protocol, layout, sc.begin_s,
                            geometry[t])
            for t in self.lights
        }
        for t, sig in signals.items():
            sig.step_s, sig.running = sc.step_s, self._running.get(t)
            sig.start(backend, data0_phase[t])
        n_in, n_all = layout.n_in, len(layout.lanes)
        halting_sum = self.halting_steps = np.zeros(n_in, np.int64)  # per approach lane, vehicle-steps halting
        steps = 0
        loaded, departed, arrived = backend.counts()
        teleports = 0
        last_arrival = sc.begin_s
        gridlock_at: float | None = None
        gridlock_lane: str | None = None
        jammed_since: dict[int, float] = {}  # per jammed watched lane (by index), since when every vehicle on it halted
        every_lane = np.arange(n_all)
        next_report = 60.0
        t = sc.begin_s
        end = sc.end_s - 1e-6
        ours = [x for x in self.lights if not is_baseline(self.controllers[x])]
        monitor = ConflictMonitor(self.network, self.lights, ours=ours, geometry=geometry)
        layer = None
        if spec.preempt is not None:
            layer = PreemptionLayer(self.run_network, spec.preempt, signals, mark_ours=monitor.mark_ours,
                                    unmark_ours=monitor.unmark_ours, baseline=frozenset(self.lights) - set(ours),
                                    emit=recorder.add if recorder is not None else None)
        # the whole lane readings only where a controller decides (cameras read every step)
        periods = {sig.every for sig in signals.values() if not sig.program_driven}
        lean = counter is None
        clock = time.perf_counter
        sumo_s = control_s = 0.0
        while t < end:
            t_prev = t
            began = clock()
            t = backend.step()
            stepped = clock()
            sumo_s += stepped - began
            step = int(round(t - sc.begin_s))
            if lean and any(step % k == 0 for k in periods):  # read for the decisions due
                data = backend.observe()
                control_s += clock() - stepped
            else:
                data = backend.observe() if not lean else backend.observe_lean()
            self.time_s = t
            changed = data.tls_changed
            monitor.observe(t, data.tls_state, changed)
            if recorder is not None:
                recorder.observe(t_prev, data.tls_state)
            veh = data.lane_vehicles[:n_all] if data.lane_vehicles is not None else None
            halt = data.lane_halting[:n_all]
            halting_sum += halt[:n_in]
            steps += 1
            loaded += data.loaded
            departed += data.departed
            arrived += data.arrived
            teleports += data.teleports
            if data.arrived:
                last_arrival = t
            elif gridlock_at is None and departed > arrived and t - last_arrival >= spec.gridlock_s:
                if veh is None:
                    veh = backend.lane_vehicles(every_lane)
                if int(veh.sum()) > 0 and int(halt.sum()) == int(veh.sum()):
                    gridlock_at = last_arrival
            # a lane is jammed when every vehicle on it halts: only a lane with halting vehicles can be
            busy = halt.nonzero()[0]
            if busy.size:
                on = veh[busy] if veh is not None else backend.lane_vehicles(busy)
                jammed_since = {i: jammed_since.get(i, t) for i in busy[on == halt[busy]].tolist()}
            elif jammed_since:
                jammed_since = {}
            if gridlock_lane is None and gridlock_at is None and jammed_since:
                worst = min(jammed_since, key=jammed_since.__getitem__)  # the first lane of the longest jam
                if t - jammed_since[worst] >= spec.gridlock_s:
                    gridlock_at, gridlock_lane = float(jammed_since[worst]), layout.lanes[worst]
            if counter is not None:
                counter.update(t_prev, data.lane_vehicle_ids, data.arrived_ids)
                if counter.queues is not None and counter.queues.due(t):
                    counter.queues.read(backend.halted, backend.pending, backend.route)
            self._take_plans(signals)
            if self._pending:  # a pushed plan: the light's signals are ours from now on
                with self._lock:
                    for tls in self._pending:
                        monitor.mark_ours(tls)
            if layer is not None:
                layer.step(backend, t)
            due = []
            moved = frozenset(changed) if changed else frozenset()
            for sig in signals.values():
                if changed is not None and sig.tls not in moved and sig.waits_on_sumo():
                    continue
                if sig.advance(backend, t, data):
                    due.append(sig)
                if sig.installed is not None:
                    self._record_applied(sig.installed, t)
                    sig.installed = None
            if due:
                deciding = clock()
                if data.lane_vehicles is None:  # a decision the lean reading did not foresee
                    data = backend.observe()
                vectors = layout.vectors(data.lane_vehicles[:n_all], data.lane_halting[:n_all], data.detector_gap_s,
                                         data.area_vehicles, data.area_halting)
                outside = {sig.tls: sig for sig in due if getattr(sig.controller, "external", False)}
                inside = [sig for sig in due if sig.tls not in outside]
                for sig, choice in ask_controllers(inside, t, vectors).items():
                    sig.apply_choice(backend, t, choice)
                control_s += clock() - deciding
                if outside:
                    answers = yield {tls: sig.observation(t, *vectors) for tls, sig in outside.items()}
                    for tls, sig in outside.items():
                        sig.apply_choice(backend, t, (answers or {}).get(tls))
            if self.on_step is not None:
                self.on_step(self, t)
            if spec.realtime:
                self._pace(t)
            if self.on_progress is not None and t - sc.begin_s >= next_report:
                self.on_progress(t - sc.begin_s)
                next_report += 60.0
        self.timing = {"sumo_step_s": sumo_s, "control_s": control_s}
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
            "gridlock_lane": gridlock_lane,
            "monitor": monitor.summary(),
            "preemptions": tuple(layer.records) if layer is not None else (),
        }

    def _take_plans(self, signals: dict[str, SignalDriver]) -> None:
        """Hand every queued push to its lights' drivers (one push's lights in the same step)."""
        if not self._plans.qsize():
            return
        while True:
            try:
                updates = self._plans.get_nowait()
            except queue.Empty:
                return
            for update in updates:
                signals[update.tls].push(update)

    def _record_applied(self, update: PlanUpdate, t: float) -> None:
        """A pushed plan switched in at ``t``: it runs now."""
        with self._lock:
            self.applied.append(AppliedPlan(update.tls, t, update.sha256, update.program_id))
            self._running[update.tls], self._since[update.tls] = update.plan, t
            if self._pending.get(update.tls) is update:
                del self._pending[update.tls]

    def _pace(self, t: float) -> None:
        """Sleep until the wall clock catches up with ``t`` at ``spec.realtime`` simulated s per wall s.

        A twin that fell behind (a slow step) is paced from where it is: it never runs faster
        than the factor to catch up.
        """
        now = time.monotonic()
        if self._pace_origin is None:
            self._pace_origin = (now, t)
        wall0, t0 = self._pace_origin
        ahead = wall0 + (t - t0) / self.spec.realtime - now
        if ahead > 0:
            time.sleep(ahead)
        elif ahead < -self.spec.scenario.step_s / self.spec.realtime:
            self._pace_origin = (now, t)


def _switched_from_outside(files) -> bool:
    """Whether SUMO input files define a WAUT (programs SUMO switches outside the lights' own logic)."""
    for path in files:
        try:
            with open(path, "rb") as f:
                if b"<WAUT" in f.read():
                    return True
        except OSError:
            continue
    return False
