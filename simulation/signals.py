"""Signals in the twin: the lane layout, one driver per light, and safe transitions.

:class:`LaneLayout` maps every light's movements onto the twin's vector of watched lanes;
:class:`SignalDriver` drives one light: it builds the controller's
:class:`~citybrain.control.Observation`, shows the yellow and all-red transitions, enforces
minimum greens and switches in pushed plans at cycle boundaries (:meth:`SignalDriver.push`). The
twin, not the controller, shows the transitions. Drivers speak to the simulator only through
:meth:`simulation.backend.Backend.apply`.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from citybrain.control import (
    APPROACH_REACH_M,
    DEFAULT_MIN_GREEN_S,
    Controller,
    DecisionProtocol,
    Observation,
)
from citybrain.exceptions import SimulationError
from citybrain.network import RoadNetwork, SignalProgram
from citybrain.plans import SignalPlan
from citybrain.control.plan import PlanController
from citybrain.plans.formats.sumo import phase_program_indices, sumo_phases
from citybrain.plans.safety import HARD_MIN_YELLOW_S, PROFILES, LightGeometry, clearance_times

from .backend import Backend, SetPhase, SetProgram, SetState, StepData
from .run import PlanUpdate

__all__ = [
    "PLAN_SWITCH_ALL_RED_S",
    "PLAN_SWITCH_MIN_GREEN_S",
    "PLAN_SWITCH_YELLOW_S",
    "LaneLayout",
    "SignalDriver",
    "ask_controllers",
    "offset_entry",
    "safe_transition",
]

#: Least all-red (s) the twin inserts when it switches to a pushed plan (the outgoing plan's if longer).
PLAN_SWITCH_ALL_RED_S = 2.0
#: Least yellow (s) the twin shows when a pushed plan's first green drops a current green.
PLAN_SWITCH_YELLOW_S = HARD_MIN_YELLOW_S
#: Least green (s) a green just begun runs before a pushed plan's switch ends it (the gate's minimum green).
PLAN_SWITCH_MIN_GREEN_S = max(p.min_green_s for p in PROFILES.values())


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


class LaneLayout:
    """Index arrays from the network's lights to the watched lane vector.

    A movement's approach is its own lanes plus, where those are short, the lanes feeding
    them through unsignalised junctions up to :data:`~citybrain.control.APPROACH_REACH_M`
    from the stop line, so that queues behind a 1 m approach edge are seen.

    Attributes
    ----------
    lanes : tuple of str
        The watched lanes: first every light's approach lanes (``lanes[:n_in]``, light by
        light, ``in_slice[tls]``), then the exit lanes of their movements.
    movements, mov_slice : dict
        Per light, its movement indices and their rows in ``m_in`` / ``m_out``.
    m_in, m_out : scipy.sparse.csr_matrix
        Movement x lane incidence of approach and exit lanes.
    junctions, lane_junction
        The junctions of the approach lanes and, per approach lane, its junction's index.
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

    @property
    def detector_ids(self) -> tuple[str, ...]:
        """Ids of the emulated approach detectors, one per approach lane in layout order."""
        return tuple(f"citybrain_det_{lane}" for lane in self.lanes[: self.n_in])

    @property
    def area_ids(self) -> tuple[str, ...]:
        """Ids of the emulated lane-area detectors near the stop line, one per approach lane in layout order."""
        return tuple(f"citybrain_area_{lane}" for lane in self.lanes[: self.n_in])

    def vectors(self, veh: np.ndarray, halt: np.ndarray, gaps: np.ndarray,
                near_veh: np.ndarray | None = None, near_halt: np.ndarray | None = None) -> tuple:
        """The vectors :meth:`SignalDriver.observation` slices, from one step's lane readings.

        ``veh`` and ``halt`` are vehicles and halting vehicles per watched lane, ``gaps`` the
        seconds since each detector last saw a vehicle (empty without detectors), ``near_veh``
        and ``near_halt`` the lane-area detectors' counts per approach lane (``None`` without).
        """
        empty = np.empty(0, np.int64)
        near_veh = empty if near_veh is None else near_veh
        near_halt = empty if near_halt is None else near_halt
        return (veh, halt, self.m_in @ veh, self.m_in @ halt, self.m_out @ veh, gaps, self.m_out @ halt,
                near_veh, near_halt)


class SignalDriver:
    """Drives one light: observation, controller call, transitions and min greens."""

    def __init__(
        self,
        tls: str,
        program: SignalProgram,
        controller: Controller,
        protocol: DecisionProtocol,
        layout: LaneLayout,
        begin_s: float,
        geometry: LightGeometry,
    ) -> None:
        self.tls, self.program, self.controller, self.protocol = tls, program, controller, protocol
        self.geometry = geometry
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
        # what the light runs: a program SUMO steps (program_driven) or the controller's choices;
        # ``running`` is the plan in force (None: not known as a plan), ``active`` the SUMO phases
        # ``(duration_s, state)`` of the running program
        self.program_driven = controller.program_driven
        self.running: SignalPlan | None = None
        self.active = tuple((p.duration_s, p.state) for p in program.phases)
        self.step_s = 1.0
        plan = getattr(controller, "plan", None)
        self.schedule = plan if isinstance(controller, PlanController) and len(plan.periods) > 1 else None
        self.pushed = False  # a pushed plan replaced what the light ran at the begin
        self._switching: PlanUpdate | None = None  # the plan the transition under way leads to
        self._entry = (0, 0.0)  # its SUMO phase to enter and the time (s) that phase ends
        self.installed: PlanUpdate | None = None  # the plan installed in this step, for the twin to record
        #: the emergency-vehicle pre-emption of this light under way (``simulation.preemption``), or None
        self.preemption = None
        self.resuming = False  # the plan being installed is the one a pre-emption interrupted

    # -- decisions ---------------------------------------------------------------------
    def start(self, backend: Backend, phase: int) -> None:
        """Take over the light (controller-driven) or just start tracking it."""
        self.phase = phase
        if not self.program_driven:
            green = phase if phase in self.greens else self.greens[0]
            self._show_green(backend, green, self.begin_s)

    def _show_green(self, backend: Backend, green: int, t: float) -> None:
        backend.apply(SetState(self.tls, self.program.phases[green].state))
        self.green = self.phase = green
        self.phase_start = t
        self.target = None

    def observation(self, t: float, veh, halt, mveh, mhalt, mout, gaps, mout_halt=(), near_veh=(),
                    near_halt=()) -> Observation:
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
            movement_out_halting=mout_halt[self.mov_slice] if len(mout_halt) else (),
            lane_near_vehicles=near_veh[self.in_slice] if len(near_veh) else (),
            lane_near_halting=near_halt[self.in_slice] if len(near_halt) else (),
            decision_interval_s=float(self.every),
        )

    def waits_on_sumo(self) -> bool:
        """Whether only a change of the light's phase can make :meth:`advance` act: SUMO runs its program, nothing is pending."""
        return self.program_driven and self.plan is None and self.preemption is None and not self.pending

    def advance(self, backend: Backend, t: float, data: StepData) -> bool:
        """Advance the light by one step (transitions, plan switches); return whether it decides now.

        A program-driven light never decides: SUMO runs its program. A pushed plan switches
        in when the running program's last phase ends (:meth:`push`). While a pre-emption
        (:attr:`preemption`) drives the light, it shows the states; while one waits to enter, the
        light runs on but its controller is not asked.
        """
        preemption = self.preemption
        if preemption is not None and preemption.drives:
            preemption.step(backend, t)
            return False
        if self.pending:
            if t + 1e-9 >= self.pending_end:
                self._advance_pending(backend, t)
        elif self.program_driven:
            phase, before = data.tls_phase[self.tls], self.phase
            if phase != self.phase:
                self.phase, self.phase_start = phase, t
                self._follow_schedule(t)
            if self.plan is not None:
                # the last phase is over: SUMO leaves it now (due at t) or has just wrapped
                last = len(self.active) - 1
                if phase == last and backend.next_switch_s(self.tls) <= t + 1e-9:
                    self._begin_plan_switch(backend, t, self.active[last][1])
                elif phase < before <= last:  # SUMO shows the next cycle's first state: it is ended safely
                    self._begin_plan_switch(backend, t)
        if preemption is not None and preemption.stage == "called":
            preemption.try_enter(backend, t, data)
            return False
        if self.program_driven:
            return False
        return not self.pending and int(round(t - self.begin_s)) % self.every == 0

    def _follow_schedule(self, t: float) -> None:
        """Under a plan with a schedule (SUMO switches its periods), know the period's plan as running."""
        if self.schedule is None or self.pushed:
            return
        plan = self.schedule.plan_at(self.tls, t)
        if plan is not None and plan is not self.running:
            self.running = plan
            self.active = tuple((float(d), s) for d, s, _ in sumo_phases(plan))

    def apply_choice(self, backend: Backend, t: float, choice: int | None) -> None:
        """Act on the controller's answer: keep, or start the transition to another green."""
        if self.program_driven or choice is None or choice == self.green:
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
        if self._switching is not None:
            self._install(backend, t)
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
        """The states (with durations, s) from green ``cur`` to green ``target``.

        To the next green of the checked program: its own transition phases. Otherwise the
        outgoing phase's yellow and all-red, under the native protocol raised to what the
        geometry requires between the two greens (:func:`~citybrain.plans.safety.clearance_times`);
        the RESCO protocol's fixed yellow is the benchmark's definition.
        """
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
        if proto.yellow_s is None:
            need_yellow, need_all_red = clearance_times(phases[cur].state, phases[target].state, self.geometry)
            yellow, all_red = max(yellow, need_yellow), max(all_red, need_all_red)
        return safe_transition(phases[cur].state, phases[target].state, yellow, all_red)

    # -- live plans ---------------------------------------------------------------------
    def push(self, update: PlanUpdate) -> None:
        """Switch to a checked plan at this light's next cycle boundary (replacing one still pending).

        At the boundary (the running program's last phase ends) the links still green that
        the plan's first green drops show the outgoing plan's yellow and all-red (at least :data:`PLAN_SWITCH_YELLOW_S` and
        :data:`PLAN_SWITCH_ALL_RED_S`); a push taken only once SUMO has begun the next cycle lets
        the state it shows run its minimum first (:meth:`_hold_shown`). Then SUMO runs the plan's exact states
        (``update.phases``) as a static program, from then on program-driven. The program is
        entered where the plan's offset puts it: at the start of the plan phase due next, that
        phase's green lengthened once by the wait for its scheduled start (less than one phase).
        """
        self.plan = update

    def _begin_plan_switch(self, backend: Backend, t: float, from_state: str | None = None) -> None:
        """From ``from_state`` (the outgoing program's last state, run in full), transition to the plan.

        Default: from the state the light shows now, begun at :attr:`phase_start`, held first
        until its minimum green or its yellow has run (:meth:`_hold_shown`).
        """
        self.target = None
        self._switching, self.plan = self.plan, None
        last = self.running.phases[-1] if self.running is not None and self.running.phases else None
        shown = from_state or backend.state(self.tls)
        # at least what the geometry requires from the greens still shown to any green of the plan
        required = [clearance_times(shown, ph.state, self.geometry) for ph in self._switching.plan.phases]
        yellow = max(PLAN_SWITCH_YELLOW_S, last.yellow_s if last else 0.0, *(y for y, _ in required))
        all_red = max(PLAN_SWITCH_ALL_RED_S, last.all_red_s if last else 0.0, *(a for _, a in required))
        hold = 0.0 if from_state is not None else self._hold_shown(shown, t)
        # enter the plan where its offset puts it when the longest transition ends; a shorter one waits there
        entry_s = t + hold + yellow + all_red
        phase, duration = offset_entry(self._switching, entry_s)
        self.pending = safe_transition(shown, self._switching.phases[phase][1], yellow, all_red)
        if not self.pending and any(c in "yY" for c in shown):  # a yellow ends in red, never back in green
            self.pending = [("".join("r" if c in "yY" else c for c in shown), all_red)]
        if self.pending and hold > 0:
            self.pending.insert(0, (shown, hold))
        self._entry = (phase, entry_s + duration)
        if self.pending:
            self.green = None
            self._advance_pending(backend, t, first=True)
        else:
            self._install(backend, t)

    def _hold_shown(self, shown: str, t: float) -> float:
        """How long (s) the state shown since :attr:`phase_start` must still run before it may end.

        A green its minimum (:data:`PLAN_SWITCH_MIN_GREEN_S`), a yellow its SUMO phase's duration
        (at least :data:`PLAN_SWITCH_YELLOW_S`); an all-red nothing.
        """
        if any(c in "Gg" for c in shown):
            need = PLAN_SWITCH_MIN_GREEN_S
        elif any(c in "yY" for c in shown):
            own = self.active[self.phase][0] if 0 <= self.phase < len(self.active) else 0.0
            need = max(PLAN_SWITCH_YELLOW_S, own)
        else:
            return 0.0
        return max(0.0, need - (t - self.phase_start))

    def _install(self, backend: Backend, t: float) -> None:
        """Run the plan switched to as the light's SUMO program from ``t``, entered at its offset."""
        update, self._switching = self._switching, None
        phase, end_s = self._entry  # whole steps may have stretched the transition: the phase still ends then
        backend.apply(SetProgram(self.tls, update.program_id, update.phases))
        backend.apply(SetPhase(self.tls, phase, max(end_s - t, self.step_s)))
        self.program_driven = True
        self.running, self.active = update.plan, update.phases
        self.phase, self.phase_start = phase, t
        self.green = None
        if self.resuming:  # back into the plan a pre-emption interrupted: not a new plan
            self.resuming = False
        else:
            self.pushed, self.installed = True, update


def offset_entry(update: PlanUpdate, t: float) -> tuple[int, float]:
    """Where a plan's SUMO program is entered at time ``t`` to keep its offset: ``(phase, duration_s)``.

    The SUMO phase that starts the plan phase due next (by ``(t - sumo_offset) mod cycle``),
    shown for its duration plus the wait until its scheduled start.
    """
    plan = update.plan
    cycle = sum(d for d, _ in update.phases)
    pos = plan.cycle_position_s(t)
    at, starts = 0.0, []
    for ph, index in zip(plan.phases, phase_program_indices(plan), strict=True):
        starts.append((at, index))
        at += ph.duration_s
    wait, phase = min(((start - pos) % cycle, k) for start, k in starts)
    if wait > cycle - 1e-6:
        wait = 0.0
    return phase, update.phases[phase][0] + wait


def ask_controllers(due: list[SignalDriver], t: float, vectors) -> dict[SignalDriver, int | None]:
    """Ask the due lights' controllers; controllers sharing a ``batch`` are asked in one call."""
    choices: dict[SignalDriver, int | None] = {}
    batches: dict[int, tuple[object, dict[str, SignalDriver]]] = {}
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
