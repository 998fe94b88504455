"""Signal plans: one :class:`SignalPlan` per traffic light, a :class:`NetworkPlan` with a schedule.

A plan is tied to a SUMO traffic light (``tls``) and its link indices: every phase carries
the *green state* of the light, one character per SUMO link index (``G`` protected green,
``g`` permissive green, ``r`` red, ``s`` stop, ``o``/``O`` off). Transitions are not phases
of their own: each phase ends with ``yellow_s`` of yellow for the links that lose green and
``all_red_s`` of red for them, and :func:`transition_states` builds the SUMO states.

Times are in seconds. The cycle is ``sum(green_s + yellow_s + all_red_s)``; ``cycle_s`` is
stored as well so that a plan whose splits do not sum to its cycle can be represented (and
rejected by :mod:`citybrain.plans.safety`).

Reference point: ``offset_s`` is the time, in the common cycle of the coordinated group
(time 0 = simulation time 0), at which the green of phase ``reference_phase`` begins.

Pedestrians: where a phase gives green to crossings, the crossing links show green for the
first ``walk_s`` of the phase's green and red (flashing don't-walk, the clearance) for the
next ``ped_clearance_s``; the vehicle streams stay green.

Time of day: a :class:`NetworkPlan` holds named :class:`PlanPeriod` s (each a set of plans,
one per light) and a schedule of :class:`ScheduleEntry` (from ``start_s`` seconds after
midnight, run period ``period``), as real signal controllers do: the active period at time
``t`` is the last entry starting at or before ``t mod 86400`` (wrapping to the day's last
entry before the first one).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .._validate import Problems

if TYPE_CHECKING:
    from ..network import RoadNetwork

__all__ = [
    "GREEN",
    "PlanPhase",
    "SignalPlan",
    "PlanPeriod",
    "ScheduleEntry",
    "NetworkPlan",
    "transition_states",
    "phase_movements",
    "network_plan_problems",
    "DAY_S",
]

#: SUMO state characters meaning green (protected, permissive).
GREEN = frozenset("Gg")
_STATE_CHARS_TEXT = "GgrysoOu"
_STATE_CHARS = frozenset(_STATE_CHARS_TEXT)
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class PlanPhase:
    """One green phase of a plan and the transition that ends it.

    Attributes
    ----------
    state : str
        Green state of the light, one SUMO character per link index (``G``, ``g``, ``r``,
        ``s``, ``o``, ``O``).
    green_s : float
        Displayed green (seconds).
    yellow_s : float
        Yellow (seconds) shown to the links that lose green at the end of the phase.
    all_red_s : float
        Red clearance (seconds) after the yellow, before the next phase's green.
    min_green_s, max_green_s : float or None
        Bounds on ``green_s`` for optimisers and actuated operation (seconds).
    walk_s, ped_clearance_s : float
        Pedestrian walk and clearance (flashing don't-walk) for the crossings this phase
        serves (seconds); 0 where it serves none.
    name : str
        Free label.
    protected, permissive : tuple of str
        Movement ids (``junction:from_edge->to_edge``) given ``G`` and ``g``; informative,
        filled by the builders that know the network (:func:`phase_movements`).
    program_phase : int or None
        Index of the green phase of the network's own program this phase retimes, if any
        (used by the plan controller).
    """

    state: str
    green_s: float
    yellow_s: float = 0.0
    all_red_s: float = 0.0
    min_green_s: float | None = None
    max_green_s: float | None = None
    walk_s: float = 0.0
    ped_clearance_s: float = 0.0
    name: str = ""
    protected: tuple[str, ...] = ()
    permissive: tuple[str, ...] = ()
    program_phase: int | None = None

    @property
    def duration_s(self) -> float:
        """Green plus yellow plus all-red (seconds)."""
        return self.green_s + self.yellow_s + self.all_red_s

    @property
    def lost_s(self) -> float:
        """Transition time (yellow plus all-red, seconds)."""
        return self.yellow_s + self.all_red_s

    def green_links(self) -> frozenset[int]:
        """Link indices given green (``G`` or ``g``) in this phase."""
        return frozenset(i for i, c in enumerate(self.state) if c in GREEN)


@dataclass(frozen=True, slots=True)
class SignalPlan:
    """A fixed-time plan for one traffic light.

    Attributes
    ----------
    tls : str
        SUMO traffic-light id.
    junctions : tuple of str
        Junction nodes the light controls.
    cycle_s : float
        Cycle length (seconds).
    offset_s : float
        Start of the green of ``reference_phase`` in the common cycle (seconds, ``[0, cycle_s)``).
    phases : tuple of PlanPhase
        Green phases in order.
    reference_phase : int
        Phase whose green start ``offset_s`` refers to.
    program_id : str
        SUMO ``programID`` when written as a ``tlLogic``.
    method : str
        What produced the plan (``"network"``, ``"webster"``, ``"hcm"``, ``"coordinated"`` ...).
    crossing_links : tuple of int
        Link indices that are pedestrian crossings (their green lasts the walk only).
    """

    tls: str
    junctions: tuple[str, ...]
    cycle_s: float
    offset_s: float
    phases: tuple[PlanPhase, ...]
    reference_phase: int = 0
    program_id: str = "citybrain"
    method: str = ""
    crossing_links: tuple[int, ...] = ()

    @property
    def n_links(self) -> int:
        """Number of SUMO link indices (length of every state)."""
        return len(self.phases[0].state) if self.phases else 0

    @property
    def splits_s(self) -> tuple[float, ...]:
        """Per phase, green plus yellow plus all-red (seconds)."""
        return tuple(p.duration_s for p in self.phases)

    @property
    def lost_time_s(self) -> float:
        """Sum of the transitions (yellow plus all-red) over the cycle (seconds)."""
        return float(sum(p.lost_s for p in self.phases))

    def phase_starts_s(self) -> tuple[float, ...]:
        """Green start of each phase, in plan time from the start of phase 0 (seconds)."""
        starts, t = [], 0.0
        for p in self.phases:
            starts.append(t)
            t += p.duration_s
        return tuple(starts)

    def sumo_offset_s(self) -> float:
        """Offset to write in SUMO's ``tlLogic`` (program time 0 is phase 0's green start).

        SUMO shows program time ``(t - offset) mod cycle`` at simulation time ``t``, so the
        reference phase starts at ``offset_s`` when SUMO's offset is ``offset_s`` minus the
        reference phase's start in the program.
        """
        start = self.phase_starts_s()[self.reference_phase] if self.phases else 0.0
        cycle = sum(self.splits_s) or 1.0
        return float((self.offset_s - start) % cycle)

    def cycle_position_s(self, time_s: float) -> float:
        """Program time (seconds since phase 0's green start) at simulation time ``time_s``."""
        cycle = sum(self.splits_s)
        return float((time_s - self.sumo_offset_s()) % cycle)

    def with_timing(self, greens_s, *, cycle_s: float | None = None, offset_s: float | None = None,
                    method: str | None = None) -> SignalPlan:
        """Return a copy with new greens (seconds per phase), cycle recomputed from the splits."""
        phases = tuple(replace(p, green_s=float(g)) for p, g in zip(self.phases, greens_s, strict=True))
        cycle = float(sum(p.duration_s for p in phases)) if cycle_s is None else float(cycle_s)
        offset = self.offset_s if offset_s is None else float(offset_s)
        return replace(self, phases=phases, cycle_s=cycle, offset_s=offset % cycle if cycle > 0 else 0.0,
                       method=self.method if method is None else method)


@dataclass(frozen=True, slots=True)
class PlanPeriod:
    """A named set of plans, one per traffic light (a time-of-day period)."""

    name: str
    plans: tuple[SignalPlan, ...]

    @property
    def by_tls(self) -> dict[str, SignalPlan]:
        """Plans keyed by traffic-light id."""
        return {p.tls: p for p in self.plans}


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """From ``start_s`` seconds after midnight, run the period named ``period``."""

    start_s: float
    period: str


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    """Plans for many traffic lights, per time-of-day period, with a schedule.

    Attributes
    ----------
    periods : tuple of PlanPeriod
        The named periods (at least one).
    schedule : tuple of ScheduleEntry
        When each period runs; empty means the first period runs all day.
    meta : dict
        Free provenance (network file, flows, method, parameters).

    Raises
    ------
    ValidationError
        Listing every structural problem (:func:`network_plan_problems`).
    """

    periods: tuple[PlanPeriod, ...]
    schedule: tuple[ScheduleEntry, ...] = ()
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problems = Problems("NetworkPlan")
        network_plan_problems(self.periods, self.schedule, problems, "NetworkPlan")
        problems.raise_if_any("network plan")

    @classmethod
    def single(cls, plans, *, name: str = "all-day", meta: dict | None = None) -> NetworkPlan:
        """A network plan with one period running all day."""
        return cls((PlanPeriod(name, tuple(sorted(plans, key=lambda p: p.tls))),), (), dict(meta or {}))

    @property
    def tls_ids(self) -> tuple[str, ...]:
        """Every traffic light with a plan in some period, sorted."""
        return tuple(sorted({plan.tls for p in self.periods for plan in p.plans}))

    def period(self, name: str) -> PlanPeriod:
        """Return a period by name.

        Raises
        ------
        KeyError
            If there is no such period.
        """
        for p in self.periods:
            if p.name == name:
                return p
        raise KeyError(name)

    def period_at(self, time_s: float) -> PlanPeriod:
        """The period running at ``time_s`` (seconds; taken modulo one day)."""
        if not self.schedule:
            return self.periods[0]
        t = float(time_s) % DAY_S
        starts = [e.start_s for e in self.schedule]
        k = bisect.bisect_right(starts, t) - 1
        return self.period(self.schedule[k].period)  # k == -1 wraps to the day's last entry

    def plan_at(self, tls: str, time_s: float) -> SignalPlan | None:
        """The plan of one light at ``time_s``, or ``None`` if that period has none for it."""
        return self.period_at(time_s).by_tls.get(tls)

    def all_plans(self):
        """Yield ``(period_name, plan)`` for every plan."""
        for p in self.periods:
            for plan in p.plans:
                yield p.name, plan


def network_plan_problems(periods, schedule, problems: Problems, where: str,
                          network: RoadNetwork | None = None) -> None:
    """Record what makes periods and a schedule unusable as a :class:`NetworkPlan` (not safety rules).

    Parameters
    ----------
    periods, schedule
        As in :class:`NetworkPlan`.
    problems
        Where the problems go, each placed ``{where}: periods[i]: plans[k] (tls 'X'): ...``.
    where
        The plan's place (a file name, ``"NetworkPlan"``).
    network
        When given, a state's length is checked against its light's link count (else against
        the length most phases of the plan have).
    """
    names = [p.name for p in periods]
    if not periods:
        problems.add(f"{where}: 'periods': expected at least one period, got none")
    if len(set(names)) != len(names):
        problems.add(f"{where}: 'periods': names must be unique, got {names}")
    for i, period in enumerate(periods):
        tls = [plan.tls for plan in period.plans]
        if len(set(tls)) != len(tls):
            problems.add(f"{where}: periods[{i}]: 'plans': one plan per traffic light expected, got {sorted(tls)}")
        for k, plan in enumerate(period.plans):
            n_links = network.programs[plan.tls].n_links if network is not None and plan.tls in network.programs else None
            _plan_shape_problems(plan, f"{where}: periods[{i}]: plans[{k}] (tls {plan.tls!r})", problems, n_links)
    for i, entry in enumerate(schedule):
        if entry.period not in names:
            problems.add(f"{where}: schedule[{i}]: 'period': expected one of {names}, got {entry.period!r}")
        if not 0 <= entry.start_s < DAY_S:
            problems.add(f"{where}: schedule[{i}]: 'start': {entry.start_s:g} s after midnight, expected in [0, 86400)")
    starts = [e.start_s for e in schedule]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        problems.add(f"{where}: 'schedule': starts must be strictly increasing, got {starts} (s after midnight)")


def _plan_shape_problems(plan: SignalPlan, where: str, problems: Problems, n_links: int | None = None) -> None:
    """Record the structural problems that make one plan unusable.

    State lengths: each phase whose state is not ``n_links`` long (the light's link count,
    when known) is named; else the phases off the length most phases share, and when no
    length is shared by most, every phase's length.
    """
    if not plan.phases:
        problems.add(f"{where}: 'phases': expected at least one phase, got none")
        return
    lengths = [len(p.state) for p in plan.phases]
    if n_links is not None:
        expected, like = n_links, "the light's link count"
    else:
        counts = Counter(lengths).most_common()
        expected = counts[0][0]
        if len(counts) > 1 and counts[0][1] == counts[1][1]:  # no majority: blame nobody, list them all
            problems.add(f"{where}: 'phases': every 'state' must have the same length (one character per link), "
                         f"got {', '.join(f'{n} in phases[{k}]' for k, n in enumerate(lengths))}")
            expected = None
        like = "like the other phases"
    for k, p in enumerate(plan.phases):
        if expected is not None and len(p.state) != expected:
            problems.add(f"{where}: phases[{k}]: 'state': expected {expected} characters ({like}), got {len(p.state)}")
        bad = sorted(set(p.state) - _STATE_CHARS)
        if bad:
            problems.add(f"{where}: phases[{k}]: 'state': expected SUMO state characters ({_STATE_CHARS_TEXT}), "
                         f"got {bad}")
        for name in ("green_s", "yellow_s", "all_red_s", "walk_s", "ped_clearance_s"):
            v = getattr(p, name)
            if not (isinstance(v, (int, float)) and v == v and v >= 0):
                problems.add(f"{where}: phases[{k}]: {name!r}: expected a number >= 0, got {v!r}")
    if not 0 <= plan.reference_phase < len(plan.phases):
        problems.add(f"{where}: 'reference_phase': expected in [0, {len(plan.phases)}), got {plan.reference_phase}")


def transition_states(prev: str, nxt: str) -> tuple[str, str]:
    """SUMO states of the yellow and all-red between two green states.

    A link green in both keeps its character from ``prev``; a link that loses green shows
    ``y`` then ``r``; every other link shows its ``prev`` character if not green (``r``,
    ``s``, ``o``) during both.

    Returns
    -------
    yellow, all_red : str
    """
    yellow, red = [], []
    for a, b in zip(prev, nxt, strict=True):
        if a in GREEN and b in GREEN:
            yellow.append(a)
            red.append(a)
        elif a in GREEN:
            yellow.append("y")
            red.append("r")
        else:
            yellow.append(a if a in "soO" else "r")
            red.append(a if a in "soO" else "r")
    return "".join(yellow), "".join(red)


def phase_movements(state: str, network: RoadNetwork, tls: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Movement ids given protected (all links ``G``) and permissive green by a state.

    A movement with several links counts as protected when every one of its links shows
    ``G``, as permissive when at least one shows green.
    """
    program = network.programs[tls]
    links: dict[int, list[str]] = {}
    for link in program.links:
        if link.index < len(state):
            links.setdefault(link.movement, []).append(state[link.index])
    protected, permissive = [], []
    for m, chars in sorted(links.items()):
        if all(c == "G" for c in chars):
            protected.append(network.movements[m].id)
        elif any(c in GREEN for c in chars):
            permissive.append(network.movements[m].id)
    return tuple(protected), tuple(permissive)
