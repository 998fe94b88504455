"""Emergency-vehicle pre-emption in the twin: the engine's decisions shown on the lights.

:class:`PreemptionLayer` reads the emergency vehicles' positions every step, hands them to a
:class:`citybrain.control.preempt.Preemptor` (detection ahead of each light on the route) and
acts on its calls and releases through one :class:`LightPreemption` per called light, over
whatever controller drives the light (``SignalDriver.preemption``):

1. *called* (event 102): the light keeps running; a controller is not asked for a new green.
   As soon as the light shows a green (never during a yellow or all-red) that has run for
   the profile's ``preempt_min_green_s``, the light is taken over.
2. *entry* (105): if the green shown serves the vehicle's movement as well as any green of the
   light's checked program or plan does, it is held; else the links losing green get a yellow
   and all-red of at least the program's own and of what the geometry requires
   (:func:`~citybrain.plans.safety.clearance_times`), then the vehicle's green is shown. The
   transition passes the gate first (:func:`~citybrain.plans.safety.require_safe_preemption`);
   a refused one leaves the light to its controller.
3. *dwell* (107): the vehicle's green is held until the vehicle has crossed the stop line (or
   max presence, 110) and the input goes off (104).
4. *exit* (111): once the green has run the pre-emption minimum, the light returns: to its
   controller (which goes on from the held green through the program's transitions), or, for
   a light running a plan as its SUMO program, into that plan where its offset puts it
   (:func:`resume_entry`: the phase under way for what is left of its green, else the phase due
   next), through a yellow and all-red checked by the same gate.

Lights are pre-empted one vehicle at a time; a second vehicle's call waits for the first's exit.
A clearance call (:attr:`~citybrain.control.preempt.Call.clearance`) goes ahead of the calls
still waiting at its light.
Every pre-emption is a :class:`~citybrain.control.preempt.PreemptionRecord` in
``RunResult.preemptions`` and its events go to the hi-res log (``events.csv``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from citybrain.control.preempt import (
    EVENT_CODES,
    Call,
    PreemptionRecord,
    PreemptionSettings,
    Preemptor,
    VehiclePosition,
    preempt_phase,
    serves,
)
from citybrain.exceptions import UnsafePlanError
from citybrain.network import RoadNetwork
from citybrain.plans.formats.sumo import phase_program_indices
from citybrain.plans.safety import (
    HARD_MIN_YELLOW_S,
    clearance_times,
    get_profile,
    preemption_violations,
    require_safe_preemption,
)

from .backend import Backend, SetState, StepData
from .emergency import EMERGENCY_TYPE
from .run import PlanUpdate
from .signals import SignalDriver, offset_entry, safe_transition

__all__ = ["LightPreemption", "PreemptionLayer", "resume_entry"]


def resume_entry(update: PlanUpdate, t: float, min_green_s: float,
                 safe: Callable[[str], bool] = lambda _: True) -> tuple[int, float]:
    """Where a plan is resumed at ``t`` after a pre-emption: ``(SUMO phase, duration_s)``.

    The plan phase its offset has under way at ``t``, for what is left of its green, when at
    least ``min_green_s`` is left (the phase the pre-emption cut short is served, not skipped
    for a cycle); else the phase due next, its green lengthened by the wait for its scheduled
    start (as :func:`~simulation.signals.offset_entry`). Only phases whose state ``safe``
    accepts are entered (a baseline program's unsafe green is never the one pre-emption shows).
    """
    plan = update.plan
    cycle = sum(ph.duration_s for ph in plan.phases)
    pos, at = plan.cycle_position_s(t), 0.0
    due = []
    for ph, index in zip(plan.phases, phase_program_indices(plan), strict=True):
        if safe(ph.state):
            if at <= pos < at + ph.green_s and at + ph.green_s - pos + 1e-9 >= min_green_s:
                return index, at + ph.green_s - pos
            wait = (at - pos) % cycle
            due.append((0.0 if wait > cycle - 1e-6 else wait, index))
        at += ph.duration_s
    if not due:
        return offset_entry(update, t)
    wait, index = min(due)
    return index, update.phases[index][0] + wait


def _green(state: str) -> bool:
    """Whether a state is a green (some link green, none yellow), not a clearance interval."""
    return any(c in "Gg" for c in state) and not any(c in "yY" for c in state)


@dataclass
class LightPreemption:
    """One light's pre-emption for one vehicle (see the module docstring for the stages).

    ``emit(time_s, code)`` records an Indiana event of this pre-emption (the layer adds the
    light and the preempt number); ``mark_ours()`` tells the monitor our signals drive the light.
    """

    driver: SignalDriver
    call: Call
    record: PreemptionRecord
    network: RoadNetwork
    min_green_s: float
    emit: Callable[[float, int], None]
    mark_ours: Callable[[], None]
    safe: Callable[[str], bool]
    stage: str = "called"
    released: bool = False
    state: str = ""  # the vehicle's green, once chosen
    green_key: int | None = None  # its program phase (controller-driven) or plan phase (program-driven)
    green_since: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)
    step_end: float = 0.0
    program_driven: bool = False

    @property
    def drives(self) -> bool:
        """Whether the pre-emption, not the controller or the program, drives the light now."""
        return self.stage in ("entry", "dwell")

    def _greens(self) -> dict[int, str]:
        """The greens the light may show: its checked program's (controller-driven) or its plan's, the safe ones.

        A baseline program (a network's own, never checked) may have greens the gate refuses
        (conflicting or merging protected streams): pre-emption never shows those.
        """
        d = self.driver
        if d.program_driven:
            if d.running is None:
                return {}
            greens = {k: ph.state for k, ph in enumerate(d.running.phases) if _green(ph.state)}
        else:
            greens = {k: d.program.phases[k].state for k in d.greens}
        return {k: s for k, s in greens.items() if self.safe(s)}

    def _own_clearance(self, shown: str) -> tuple[float, float]:
        """The program's (or plan's) own yellow and all-red after the green ``shown`` (0, 0 if not known)."""
        d = self.driver
        if d.program_driven and d.running is not None:
            for ph in d.running.phases:
                if ph.state == shown:
                    return ph.yellow_s, ph.all_red_s
            return 0.0, 0.0
        phases = d.program.phases
        if d.green is None:
            return 0.0, 0.0
        yellow = all_red = 0.0
        k = (d.green + 1) % len(phases)
        while phases[k].is_transition and k != d.green:
            if "y" in phases[k].state.lower():
                yellow += phases[k].duration_s
            else:
                all_red += phases[k].duration_s
            k = (k + 1) % len(phases)
        return yellow, all_red

    def _clearance(self, shown: str, targets: list[str]) -> tuple[float, float]:
        """Yellow and all-red (s) from ``shown`` into any of ``targets``: the own, the required, 3 s yellow at least."""
        own_y, own_ar = self._own_clearance(shown)
        need = [clearance_times(shown, t, self.driver.geometry) for t in targets]
        yellow = max(own_y, *(y for y, _ in need))
        all_red = max(own_ar, *(a for _, a in need))
        if any(y > 0 for y, _ in need):
            yellow = max(yellow, HARD_MIN_YELLOW_S)
        return yellow, all_red

    def try_enter(self, backend: Backend, t: float, data: StepData) -> None:
        """In the called stage: take the light over when it shows a green that ran the pre-emption minimum."""
        d = self.driver
        if d.pending:
            return
        shown = data.tls_state.get(d.tls) or backend.state(d.tls)
        if not _green(shown):
            return
        greens = self._greens()
        key, links = None, self.call.links
        for option in self.call.options or (links,):  # the widest set of links some green serves
            key = preempt_phase(greens, option)
            if key is not None:
                links = option
                break
        if key is None:
            self._refuse(t, "no safe green of the light serves the vehicle's movement"
                         if greens else "the light runs no known plan to return to")
            return
        held_key = self._key_of(shown, greens)
        if serves(shown, links) >= serves(greens[key], links) and held_key is not None:
            # the green shown (one of the light's greens) serves the vehicle: hold it
            self._take(backend, t)
            self.state, self.green_key, self.green_since = shown, held_key, d.phase_start
            backend.apply(SetState(d.tls, shown))
            self.record.entry_s = t
            self.emit(t, EVENT_CODES["entry"])
            self._dwell(t, shown_since=d.phase_start)
            return
        green_s = t - d.phase_start
        if green_s + 1e-9 < self.min_green_s:
            return
        target = greens[key]
        yellow, all_red = self._clearance(shown, [target])
        try:
            require_safe_preemption(d.tls, shown, green_s, yellow, all_red, target, self.network,
                                    geometry=d.geometry)
        except UnsafePlanError as exc:
            self._refuse(t, f"refused by the safety gate: {exc.problems[0] if exc.problems else exc}")
            return
        self._take(backend, t)
        self.state, self.green_key = target, key
        self.record.entry_s = t
        self.emit(t, EVENT_CODES["entry"])
        self.stage = "entry"
        self.steps = safe_transition(shown, target, yellow, all_red)
        self._next_step(backend, t, first=True)

    def _key_of(self, state: str, greens: dict[int, str]) -> int | None:
        return next((k for k, s in greens.items() if s == state), None)

    def _take(self, backend: Backend, t: float) -> None:
        d = self.driver
        self.program_driven = d.program_driven
        d.program_driven = False
        d.green, d.target = None, None
        self.mark_ours()

    def _refuse(self, t: float, reason: str) -> None:
        self.record.reason = reason
        self.stage = "refused"

    def _next_step(self, backend: Backend, t: float, first: bool = False) -> None:
        if not first:
            self.steps.pop(0)
        if self.steps:
            state, duration = self.steps[0]
            backend.apply(SetState(self.driver.tls, state))
            self.step_end = t + duration
            return
        backend.apply(SetState(self.driver.tls, self.state))
        self._dwell(t, shown_since=t)

    def _dwell(self, t: float, *, shown_since: float) -> None:
        self.stage = "dwell"
        self.green_since = shown_since
        self.record.dwell_s = t
        self.emit(t, EVENT_CODES["dwell"])

    def step(self, backend: Backend, t: float) -> None:
        """In the entry and dwell stages: show the transition, hold the green, exit once released."""
        if self.stage == "entry":
            if t + 1e-9 >= self.step_end:
                self._next_step(backend, t)
            return
        if self.released and t - self.green_since + 1e-9 >= self.min_green_s:
            self._exit(backend, t)

    def release(self, t: float, reason: str) -> None:
        """The input goes off (the vehicle passed, left, or max presence); the exit follows."""
        self.released = True
        self.record.release_s = t
        self.record.reason = self.record.reason or reason
        if reason == "max-presence":
            self.emit(t, EVENT_CODES["max_presence"])
        self.emit(t, EVENT_CODES["input_off"])
        if self.stage == "called":
            self.stage = "done"

    def _exit(self, backend: Backend, t: float) -> None:
        """Hand the light back: to its controller at the held green, or into its plan at the offset."""
        d = self.driver
        self.record.exit_s = t
        self.emit(t, EVENT_CODES["exit"])
        self.stage = "done"
        if not self.program_driven:  # the held green is one of the program's: the controller goes on from it
            d.green = d.phase = self.green_key
            d.phase_start, d.target = self.green_since, None
            return
        update = d.plan or PlanUpdate.of(d.running)
        d.resuming = d.plan is None
        d.plan = None
        yellow, all_red = self._clearance(self.state, [s for _, s in update.phases if _green(s)])
        entry_s = t + yellow + all_red
        phase, duration = resume_entry(update, entry_s, self.min_green_s, self.safe)
        entry_state = update.phases[phase][1]
        steps = safe_transition(self.state, entry_state, yellow, all_red)
        try:
            require_safe_preemption(d.tls, self.state, t - self.green_since, yellow, all_red, entry_state,
                                    self.network, geometry=d.geometry)
        except UnsafePlanError:  # e.g. a yellow trap into the plan's entry green: clear every link first
            red = "".join("r" if c in "Gg" else c for c in self.state)
            require_safe_preemption(d.tls, self.state, t - self.green_since, yellow, all_red, red, self.network,
                                    geometry=d.geometry)
            steps = safe_transition(self.state, red, yellow, all_red)
        d._switching, d._entry = update, (phase, entry_s + duration)
        d.pending = steps
        if steps:
            d._advance_pending(backend, t, first=True)
        else:
            d._install(backend, t)


class PreemptionLayer:
    """Pre-emption over every light of a run: vehicles in, lights called and released, records out.

    Parameters
    ----------
    network
        The run's network (the checked programs the drivers run).
    settings
        Detection and hold limits.
    drivers
        The run's signal drivers, by light.
    emit
        ``emit(time_s, tls, code, number)`` for each hi-res event (or ``None``).
    mark_ours, unmark_ours
        ``mark_ours(tls)`` when pre-emption takes a light of ``baseline`` over (the monitor judges
        it as ours), ``unmark_ours(tls)`` when the light runs its own program again.
    baseline
        The lights whose controller runs the network's own program (the monitor's baselines).
    profile
        The safety profile (its ``preempt_min_green_s``).
    """

    def __init__(self, network: RoadNetwork, settings: PreemptionSettings, drivers: dict[str, SignalDriver], *,
                 emit: Callable[[float, str, int, int], None] | None = None,
                 mark_ours: Callable[[str], None] | None = None, unmark_ours: Callable[[str], None] | None = None,
                 baseline: frozenset[str] = frozenset(), profile=None) -> None:
        self.network, self.settings, self.drivers = network, settings, drivers
        self.profile = get_profile(profile)
        self.preemptor = Preemptor(network, settings)
        self.min_green_s = get_profile(profile).preempt_min_green_s
        self._emit = emit or (lambda *_: None)
        self._mark = mark_ours or (lambda _: None)
        self._unmark = unmark_ours or (lambda _: None)
        self.baseline = baseline
        self._lent: set[str] = set()  # baseline lights pre-emption drives (or hands back) now
        self._safe: dict[tuple[str, str], bool] = {}
        self.vehicles: dict[str, tuple[str, ...]] = {}  # emergency vehicle -> route
        self.queues: dict[str, list[LightPreemption]] = {}  # per light, its pre-emptions in call order
        self._calls: dict[tuple[str, str, int], LightPreemption] = {}  # (light, vehicle, route index) -> it
        self.records: list[PreemptionRecord] = []

    def step(self, backend: Backend, t: float) -> None:
        """Track the emergency vehicles, hand calls and releases to the lights (before the drivers advance)."""
        for v in backend.arrived_ids():
            self.vehicles.pop(v, None)
        for v in backend.departed_ids():
            if backend.vehicle_type(v) == EMERGENCY_TYPE:
                self.vehicles[v] = tuple(backend.route(v))
        positions = {}
        for v, route in self.vehicles.items():
            road, pos, index = backend.vehicle_place(v)
            positions[v] = VehiclePosition(route, index, pos, road.startswith(":"))
        calls, releases = self.preemptor.update(t, positions, backend.halted)
        number = self.settings.preempt_number
        for call in calls:
            if call.tls not in self.drivers:
                continue
            record = PreemptionRecord(call.tls, call.vehicle, number, t, clearance=call.clearance)
            self.records.append(record)
            tls = call.tls
            p = LightPreemption(self.drivers[tls], call, record, self.network, self.min_green_s,
                                emit=lambda time_s, code, tls=tls: self._emit(time_s, tls, code, number),
                                mark_ours=lambda tls=tls: self._lend(tls),
                                safe=lambda state, tls=tls: self.safe(tls, state))
            self._emit(t, tls, EVENT_CODES["input_on"], number)
            queue = self.queues.setdefault(tls, [])
            if call.clearance:  # ahead of the calls still waiting: their vehicles wait for this lane to empty
                at = next((n for n, q in enumerate(queue) if q.stage == "called"), len(queue))
                queue.insert(at, p)
            else:
                queue.append(p)
            self._calls[(tls, call.vehicle, call.route_index)] = p
        for r in releases:
            p = self._calls.pop((r.tls, r.vehicle, r.route_index), None)
            if p is not None:
                p.release(t, r.reason)
        for tls, queue in self.queues.items():
            while queue and queue[0].stage in ("done", "refused"):
                queue.pop(0)
            self.drivers[tls].preemption = queue[0] if queue else None
        for tls in [x for x in self._lent if self._handed_back(self.drivers[x])]:
            self._lent.discard(tls)
            self._unmark(tls)

    @staticmethod
    def _handed_back(driver: SignalDriver) -> bool:
        return driver.preemption is None and driver.program_driven and not driver.pending

    def _lend(self, tls: str) -> None:
        if tls in self.baseline:
            self._lent.add(tls)
            self._mark(tls)

    def safe(self, tls: str, state: str) -> bool:
        """Whether the gate lets pre-emption show ``state`` at ``tls`` (no conflict, permissive or merge error)."""
        key = (tls, state)
        if key not in self._safe:
            found = preemption_violations(tls, state, math.inf, 0.0, 0.0, state, self.network, self.profile,
                                          geometry=self.drivers[tls].geometry)
            self._safe[key] = not any(v.severity == "error" for v in found)
        return self._safe[key]
