"""Controller-ready timing sheets: integer seconds per phase, phases named by their movements.

A controller is programmed in whole seconds. :func:`controller_timing` turns one
:class:`~citybrain.plans.model.SignalPlan` into a :class:`PhaseTiming` per phase and
:func:`timing_table` a whole :class:`~citybrain.plans.model.NetworkPlan` into the rows of
``timing.csv`` (:data:`TIMING_COLUMNS`, written by :func:`write_timing_csv`).

Phases are numbered 1..n in the plan's order (phase ``k`` of the plan is number ``k + 1``),
the numbering of ``events.csv`` and the exports.

Rounding (seconds):

- yellow, all-red, walk and pedestrian clearance are rounded *up*, so no clearance is ever
  shorter than the plan's (which :mod:`citybrain.plans.safety` checked against the profile);
- the integer cycle is the plan's cycle (the sum of its splits) rounded half up, raised where
  the rounded-up clearances and the smallest greens would not fit;
- the greens take the rest of the integer cycle: each starts at its floor (never below walk
  plus pedestrian clearance, the plan's minimum green when the plan met it, or 1 s), then the
  seconds left over go one at a time to the phase whose green is most short of the plan's
  (seconds too many are taken from the one most over it), so green + yellow + all-red sums
  to the integer cycle exactly;
- min green is rounded up, max green up (and never below the integer green);
- the offset is the plan's, rounded half up, modulo the integer cycle, and refers to the
  start of the green of the plan's reference phase (``offset_reference``) in the common
  cycle whose time 0 is simulation time 0 (midnight for a controller's time base).

Names: each green vehicle movement is labelled by the compass direction of travel on its
approach (``NB``, ``SB``, ``EB``, ``WB``, from the approach edge's heading where it enters
the junction, +y being north) and its turn; approaches with the same turns are grouped, a
permissive left is marked so, and crossings add ``peds``: ``"NB/SB through + right, EB left
(permissive), peds"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .._validate import Problems
from .model import NetworkPlan, SignalPlan, network_plan_problems, phase_movements

if TYPE_CHECKING:
    from ..network import RoadNetwork

__all__ = [
    "TIMING_COLUMNS",
    "PhaseTiming",
    "ControllerTiming",
    "controller_timing",
    "phase_name",
    "approach_direction",
    "timing_table",
    "write_timing_csv",
    "require_plan_fits",
]

#: Columns of ``timing.csv`` (and of :func:`timing_table`), in order. Times are whole seconds.
TIMING_COLUMNS: tuple[str, ...] = (
    "light", "period", "phase", "name", "green_s", "yellow_s", "all_red_s", "walk_s", "ped_clearance_s",
    "split_s", "min_green_s", "max_green_s", "cycle_s", "offset_s", "offset_reference",
)

_EPS = 1e-6
_TURN_LABEL = {"through": "through", "right": "right", "partial_right": "right", "left": "left",
               "partial_left": "left", "uturn": "U-turn"}
_TURN_ORDER = ("through", "right", "left", "left (permissive)", "U-turn", "U-turn (permissive)")
_DIRECTION_ORDER = ("NB", "SB", "EB", "WB")


@dataclass(frozen=True, slots=True)
class PhaseTiming:
    """One phase of a timing sheet, in whole seconds.

    Attributes
    ----------
    phase : int
        Phase number, 1..n in the plan's order.
    name : str
        The movements it serves (:func:`phase_name`).
    green_s, yellow_s, all_red_s, walk_s, ped_clearance_s : int
        Displayed green, yellow, red clearance, pedestrian walk and clearance (seconds).
    min_green_s, max_green_s : int or None
        Bounds of the green for actuated operation (seconds), ``None`` where the plan has none.
    """

    phase: int
    name: str
    green_s: int
    yellow_s: int
    all_red_s: int
    walk_s: int
    ped_clearance_s: int
    min_green_s: int | None
    max_green_s: int | None

    @property
    def split_s(self) -> int:
        """Green plus yellow plus all-red (seconds)."""
        return self.green_s + self.yellow_s + self.all_red_s


@dataclass(frozen=True, slots=True)
class ControllerTiming:
    """A plan's timing sheet: phases, integer cycle and offset (seconds).

    ``offset_s`` is the start of the green of phase ``reference_phase`` (1-based) in the
    common cycle.
    """

    tls: str
    phases: tuple[PhaseTiming, ...]
    cycle_s: int
    offset_s: int
    reference_phase: int

    @property
    def offset_reference(self) -> str:
        """Where the offset points, in words."""
        return f"start of phase {self.reference_phase} green"


def controller_timing(plan: SignalPlan, network: RoadNetwork) -> ControllerTiming:
    """Integer-second timing of one plan (rounding and names as in the module docstring).

    Parameters
    ----------
    plan
        The plan; its light must be one of ``network``'s.
    network
        Gives the phase names (movement directions and turns).

    Raises
    ------
    KeyError
        If the network has no program for the plan's light.
    """
    phases = plan.phases
    yellow = [_up(p.yellow_s) for p in phases]
    all_red = [_up(p.all_red_s) for p in phases]
    walk = [_up(p.walk_s) for p in phases]
    ped = [_up(p.ped_clearance_s) for p in phases]
    floors = []
    for p, w, c in zip(phases, walk, ped, strict=True):
        floor = max(1 if p.green_s > 0 else 0, w + c)
        if p.min_green_s is not None and p.green_s + _EPS >= p.min_green_s:
            floor = max(floor, _up(p.min_green_s))
        floors.append(floor)
    cycle = max(_half_up(sum(plan.splits_s)), sum(yellow) + sum(all_red) + sum(floors))
    greens = _apportion([p.green_s for p in phases], floors, cycle - sum(yellow) - sum(all_red))
    rows = []
    for k, p in enumerate(phases):
        max_green = None if p.max_green_s is None else max(_up(p.max_green_s), greens[k])
        rows.append(PhaseTiming(
            phase=k + 1, name=phase_name(p.state, network, plan.tls), green_s=greens[k], yellow_s=yellow[k],
            all_red_s=all_red[k], walk_s=walk[k], ped_clearance_s=ped[k],
            min_green_s=None if p.min_green_s is None else _up(p.min_green_s), max_green_s=max_green))
    offset = _half_up(plan.offset_s) % cycle if cycle > 0 else 0
    return ControllerTiming(plan.tls, tuple(rows), cycle, offset, plan.reference_phase + 1)


def require_plan_fits(plan: NetworkPlan, network: RoadNetwork, where: str = "the plan") -> None:
    """Check that every plan is for a light of ``network`` with states of its link count.

    Raises
    ------
    ValidationError
        Naming every light the network lacks and every misfit state (not safety rules: see
        :func:`~citybrain.plans.safety.require_safe`).
    """
    problems = Problems(where)
    unknown = sorted(set(plan.tls_ids) - set(network.programs))
    if unknown:
        problems.add(f"{where}: plan for traffic light(s) {', '.join(map(repr, unknown))} not in network "
                     f"{network.path.name} (its lights: {', '.join(sorted(network.programs)) or 'none'})")
    else:
        network_plan_problems(plan.periods, plan.schedule, problems, where, network)
    problems.raise_if_any("plan")


def timing_table(plan: NetworkPlan, network: RoadNetwork) -> pd.DataFrame:
    """Rows of ``timing.csv`` (:data:`TIMING_COLUMNS`): one per light, period and phase.

    Periods come in the plan's order, lights sorted within a period, phases 1..n.

    Raises
    ------
    ValidationError
        If the plan does not fit the network (:func:`require_plan_fits`).
    """
    require_plan_fits(plan, network)
    rows = []
    for period in plan.periods:
        for signal_plan in sorted(period.plans, key=lambda p: p.tls):
            sheet = controller_timing(signal_plan, network)
            for ph in sheet.phases:
                rows.append({
                    "light": sheet.tls, "period": period.name, "phase": ph.phase, "name": ph.name,
                    "green_s": ph.green_s, "yellow_s": ph.yellow_s, "all_red_s": ph.all_red_s,
                    "walk_s": ph.walk_s, "ped_clearance_s": ph.ped_clearance_s, "split_s": ph.split_s,
                    "min_green_s": ph.min_green_s, "max_green_s": ph.max_green_s, "cycle_s": sheet.cycle_s,
                    "offset_s": sheet.offset_s, "offset_reference": sheet.offset_reference,
                })
    table = pd.DataFrame(rows, columns=list(TIMING_COLUMNS))
    for col in ("min_green_s", "max_green_s"):
        table[col] = table[col].astype("Int64")
    return table


def write_timing_csv(plan: NetworkPlan, network: RoadNetwork, path: str | Path) -> Path:
    """Write :func:`timing_table` as CSV (empty cells where a plan has no min/max green); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    timing_table(plan, network).to_csv(path, index=False)
    return path


def approach_direction(heading_deg: float | None) -> str:
    """Compass direction of travel (``NB``, ``SB``, ``EB``, ``WB``) of a heading.

    ``heading_deg`` is counter-clockwise from +x (east), as the network's ``heading_in_deg``;
    ``"?"`` when unknown.
    """
    if heading_deg is None or heading_deg != heading_deg:
        return "?"
    h = heading_deg % 360.0
    if 45.0 <= h < 135.0:
        return "NB"
    if 135.0 <= h < 225.0:
        return "WB"
    if 225.0 <= h < 315.0:
        return "SB"
    return "EB"


def phase_name(state: str, network: RoadNetwork, tls: str) -> str:
    """Name a green state by the movements it serves, e.g. ``"NB/SB through + right, peds"``.

    ``"clearance"`` when the state gives no green.
    """
    protected, permissive = phase_movements(state, network, tls)
    by_id = {m.id: m for m in (network.movements[i] for j in network.programs[tls].junctions
                                for i in network.junction_movements(j))}
    turns: dict[str, set[str]] = {}
    peds = False
    for ids, is_protected in ((protected, True), (permissive, False)):
        for mid in ids:
            m = by_id[mid]
            if m.turn == "crossing":
                peds = True
                continue
            label = _TURN_LABEL.get(m.turn, m.turn)
            if not is_protected and label in ("left", "U-turn"):
                label += " (permissive)"
            heading = network.edges.get(m.from_edge, {}).get("heading_in_deg")
            turns.setdefault(approach_direction(heading), set()).add(label)
    groups: dict[tuple[str, ...], list[str]] = {}
    for direction in sorted(turns, key=lambda d: (_DIRECTION_ORDER + (d,)).index(d)):
        labels = turns[direction]
        if "left" in labels:
            labels.discard("left (permissive)")
        key = tuple(sorted(labels, key=lambda t: (_TURN_ORDER + (t,)).index(t)))
        groups.setdefault(key, []).append(direction)
    parts = [f"{'/'.join(dirs)} {' + '.join(key)}" for key, dirs in groups.items()]
    if peds:
        parts.append("peds")
    return ", ".join(parts) or "clearance"


def _apportion(wanted: list[float], floors: list[int], total: int) -> list[int]:
    """Integers ``>= floors`` summing to ``total`` (``>= sum(floors)``), each near ``wanted``."""
    out = [max(f, math.floor(w + _EPS)) for w, f in zip(wanted, floors, strict=True)]
    while sum(out) < total:
        k = max(range(len(out)), key=lambda i: (wanted[i] - out[i], -i))
        out[k] += 1
    while sum(out) > total:
        k = max((i for i in range(len(out)) if out[i] > floors[i]), key=lambda i: (out[i] - wanted[i], -i))
        out[k] -= 1
    return out


def _up(x: float) -> int:
    """Round up to whole seconds, ignoring float noise below a microsecond."""
    return max(0, math.ceil(x - _EPS))


def _half_up(x: float) -> int:
    """Round half up to whole seconds."""
    return math.floor(x + 0.5 + _EPS)
