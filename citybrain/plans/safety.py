"""Safety checks for signal plans: hard rules and per-profile policy.

:func:`check_plan` (one light) and :func:`check_network_plan` (every period) return *every*
:class:`Violation`, each with a rule name and a severity. :func:`require_safe` is the one gate
on every path to a signal (stored, pushed, simulated): it runs them and refuses a plan with
any ``"error"``, listing them all.

Hard rules (always ``"error"``; the movement conflict classes come from
:mod:`citybrain.network.conflicts`):

``conflict``
    two movements that may never be green together (``NEVER``) are green at the same time,
    protected or permissive;
``permissive``
    a stream is green together with a stream it must give way to (``YIELD``/``MERGE``) but is
    shown protected ``G`` instead of permissive ``g``;
``merge``
    two protected (``G``) links from different lanes enter the same lane;
``yellow``
    a vehicle link loses green with less than 3 s of yellow (``HARD_MIN_YELLOW_S``);
``yellow-trap``
    a permissive stream loses green while the stream it yields to stays green (left-turn
    yellow trap);
``structure``
    the link count is not the light's, the splits do not sum to the cycle, the offset is
    outside ``[0, cycle)``, or walk plus clearance exceeds the green;
``served``, ``idle-phase``, ``max-red``
    a link never green in the cycle, a green that serves no link, a red longer than the
    profile's ``max_red_s`` (:mod:`citybrain.plans.coverage`).

A plan for a traffic light the network does not have is unusable input, not a violation:
:class:`~citybrain.exceptions.ValidationError`.

An emergency-vehicle pre-emption's transition (:func:`require_safe_preemption`) is checked as a
switch from the green shown to the vehicle's green, with the profile's ``preempt_min_green_s``
as the minimum green (the only rule pre-emption relaxes: never the yellow or the all-red).

The switch from a running plan to a pushed one (``require_safe(..., running=...)``,
:func:`switch_violations`) is checked with the same rule names; the semantics are in
:mod:`citybrain.plans.switch`.

Profile rules (severity set by the :class:`SafetyProfile`; the defaults make ``cycle``,
``min-green`` and ``pedestrian`` errors and the clearance formulas warnings):

``cycle``
    cycle within ``[cycle_min_s, cycle_max_s]`` (30-180 s);
``min-green``
    every green at least ``min_green_s`` (5 s); a pure clearance phase (no link green, no green
    time) has none;
``pedestrian``
    walk at least ``walk_min_s`` (7 s US, 5 s RiLSA) and clearance at least crossing length
    over the walking speed (1.07 m/s US, 1.2 m/s RiLSA);
``yellow-time``
    yellow at least the profile's required yellow and at most ``yellow_max_s`` (6 s). US ITE:
    ``Y = t + v / (2a + 2Gg)`` (t = 1 s, a = 3.05 m/s^2, G = 9.81 m/s^2, g the grade, v the
    approach speed limit), rounded up to 0.5 s, clamped to 3-6 s. RiLSA-like: 3 s up to
    50 km/h, 4 s up to 60 km/h, 5 s above;
``all-red``
    all-red at least ``(W + L) / v`` (W the crossing distance measured across the junction
    shape along the approach, L = 6.1 m vehicle length), capped at 6 s, and at most 6 s.

Notes
-----
ITE, *Traffic Control Devices Handbook* (2013), ch. 13 (change and clearance intervals);
MUTCD 2009 sections 4D.26 and 4E.06; FGSV, *RiLSA* (2015) for the European profile.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..network.conflicts import MERGE, NEVER, YIELD
from ..exceptions import UnsafePlanError, ValidationError
from .coverage import check_coverage
from .model import GREEN, NetworkPlan, PlanPhase, SignalPlan
from .switch import check_switch

if TYPE_CHECKING:
    from ..network import RoadNetwork

__all__ = [
    "HARD_MIN_YELLOW_S",
    "SafetyProfile",
    "US_ITE",
    "EU_RILSA",
    "PROFILES",
    "require_safe",
    "switch_violations",
    "get_profile",
    "Violation",
    "check_plan",
    "check_network_plan",
    "required_yellow_s",
    "required_all_red_s",
    "crossing_distance_m",
    "crossing_length_m",
    "crossing_lane_lengths",
    "clearance_times",
    "pedestrian_times",
    "LightGeometry",
    "apply_clearances",
    "preemption_violations",
    "require_safe_preemption",
]

HARD_MIN_YELLOW_S = 3.0
GRAVITY_MPS2 = 9.81


@dataclass(frozen=True, slots=True)
class SafetyProfile:
    """Policy numbers of a safety profile (seconds, metres, m/s).

    Attributes
    ----------
    name : str
        ``"us"`` or ``"eu"`` for the shipped ones.
    yellow_rule : str
        ``"ite"`` (kinematic formula) or ``"speed-table"`` (RiLSA-like 3/4/5 s).
    perception_s, decel_mps2, grade : float
        ITE formula's reaction time, deceleration and approach grade (fraction).
    yellow_min_s, yellow_max_s, yellow_round_s : float
        Bounds and rounding step of the required yellow.
    vehicle_length_m, all_red_max_s : float
        ``L`` of the all-red formula and its cap.
    min_green_s, walk_min_s, ped_speed_mps : float
        Minimum green, minimum walk, pedestrian clearance walking speed.
    preempt_min_green_s : float
        The least green an emergency-vehicle pre-emption may cut a green to (seconds; MUTCD
        4D.27 lets pre-emption shorten greens and walks, never the yellow and red clearance);
        5 s, the profile's minimum green, so the conflict monitor's short-green rule holds.
    cycle_min_s, cycle_max_s : float
        Cycle bounds.
    max_red_s : float
        Longest red any link may see in a cycle (hard rule ``max-red``).
    severity : dict
        Severity (``"error"``/``"warning"``) of each profile rule.
    """

    name: str
    yellow_rule: str = "ite"
    perception_s: float = 1.0
    decel_mps2: float = 3.05
    grade: float = 0.0
    yellow_min_s: float = 3.0
    yellow_max_s: float = 6.0
    yellow_round_s: float = 0.5
    vehicle_length_m: float = 6.1
    all_red_max_s: float = 6.0
    min_green_s: float = 5.0
    preempt_min_green_s: float = 5.0
    walk_min_s: float = 7.0
    ped_speed_mps: float = 1.07
    cycle_min_s: float = 30.0
    cycle_max_s: float = 180.0
    max_red_s: float = 180.0
    severity: dict = field(
        default_factory=lambda: {
            "cycle": "error",
            "min-green": "error",
            "pedestrian": "error",
            "yellow-time": "warning",
            "all-red": "warning",
        }
    )


US_ITE = SafetyProfile("us")
EU_RILSA = SafetyProfile("eu", yellow_rule="speed-table", walk_min_s=5.0, ped_speed_mps=1.2)
PROFILES: dict[str, SafetyProfile] = {"us": US_ITE, "eu": EU_RILSA}


def get_profile(profile: str | SafetyProfile | None) -> SafetyProfile:
    """Return a profile by name (``"us"``, ``"eu"``), or the profile itself; ``None`` is US.

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    if profile is None:
        return US_ITE
    if isinstance(profile, SafetyProfile):
        return profile
    if profile not in PROFILES:
        msg = f"The 'profile' must be one of {sorted(PROFILES)}. Got {profile!r} instead."
        raise ValueError(msg)
    return PROFILES[profile]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (light, period, phase), which rule, how bad, and a message."""

    tls: str
    period: str
    phase: int | None
    rule: str
    severity: str
    message: str

    def __str__(self) -> str:
        where = f"tls {self.tls}" + (f" phase {self.phase}" if self.phase is not None else "")
        if self.period:
            where = f"[{self.period}] " + where
        return f"{self.severity}: {where}: {self.rule}: {self.message}"


# -- clearance formulas ----------------------------------------------------------------
def required_yellow_s(speed_mps: float, profile: str | SafetyProfile | None = None) -> float:
    """Return the profile's yellow (seconds) for an approach speed limit (m/s).

    Examples
    --------
    >>> required_yellow_s(50 / 3.6)   # ITE: 1 + 13.89 / 6.1 = 3.28 -> 3.5
    3.5
    >>> required_yellow_s(50 / 3.6, "eu")
    3.0
    """
    p = get_profile(profile)
    if p.yellow_rule == "speed-table":
        kmh = speed_mps * 3.6
        y = 3.0 if kmh <= 50.05 else 4.0 if kmh <= 60.05 else 5.0  # 13.89 m/s is 50 km/h
    else:
        y = p.perception_s + speed_mps / (2.0 * p.decel_mps2 + 2.0 * GRAVITY_MPS2 * p.grade)
        y = math.ceil(y / p.yellow_round_s - 1e-9) * p.yellow_round_s
    return float(min(max(y, p.yellow_min_s), p.yellow_max_s))


def required_all_red_s(width_m: float, speed_mps: float, profile: str | SafetyProfile | None = None) -> float:
    """Return the all-red (seconds) ``(W + L) / v``, rounded up to 0.5 s and capped.

    Examples
    --------
    >>> required_all_red_s(20.0, 50 / 3.6)   # (20 + 6.1) / 13.89 = 1.88 -> 2.0
    2.0
    """
    p = get_profile(profile)
    if speed_mps <= 0:
        return float(p.all_red_max_s)
    r = (width_m + p.vehicle_length_m) / speed_mps
    return float(min(math.ceil(r / 0.5 - 1e-9) * 0.5, p.all_red_max_s))


def crossing_distance_m(network: RoadNetwork, junction: str, approach_edge: str) -> float:
    """Distance (m) across a junction's shape along an approach's heading (``W``)."""
    shape = network.junction_shapes.get(junction) or ()
    heading = network.edges.get(approach_edge, {}).get("heading_in_deg")
    if len(shape) < 2 or heading is None:
        return 0.0
    pts = np.asarray(shape, dtype=float)
    u = np.array([math.cos(math.radians(heading)), math.sin(math.radians(heading))])
    proj = pts @ u
    return float(proj.max() - proj.min())


_CROSSING_LENGTHS: dict[str, dict[str, float]] = {}


def crossing_lane_lengths(network: RoadNetwork) -> dict[str, float]:
    """Length (m) of every pedestrian-crossing lane of the network file, by lane id (cached per file)."""
    path = str(getattr(network, "path", "") or "")
    if path in _CROSSING_LENGTHS:
        return _CROSSING_LENGTHS[path]
    out: dict[str, float] = {}
    try:
        in_crossing = False
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if elem.tag == "edge":
                in_crossing = event == "start" and elem.get("function") == "crossing"
                if event == "end":
                    elem.clear()
            elif elem.tag == "lane" and event == "start" and in_crossing:
                try:
                    out[elem.get("id", "")] = float(elem.get("length", "nan"))
                except ValueError:
                    pass
    except (OSError, ET.ParseError):
        out = {}
    _CROSSING_LENGTHS[path] = out
    return out


def crossing_length_m(network: RoadNetwork, movement: int, lane_width_m: float = 3.2) -> float:
    """Length (m) of a pedestrian crossing.

    The crossing lane's own length in the network file (SUMO measures it along the crossing's
    shape, kerb to kerb), else the vehicle lanes of the edges it crosses times a lane width
    (sidewalks may then be counted, which overestimates).
    """
    m = network.movements[movement]
    lengths = crossing_lane_lengths(network)
    known = [lengths[x] for x in m.from_lanes if x in lengths and math.isfinite(lengths[x]) and lengths[x] > 0]
    if known:
        return float(max(known))
    edges = network.edges
    lanes = sum(edges[e]["lanes"] for e in m.crosses if e in edges)
    return float(max(lanes, 1) * lane_width_m)


@dataclass(frozen=True, slots=True)
class LightGeometry:
    """What the checks need of one light: link -> movements, vehicle speed and width per link."""

    tls: str
    n_links: int
    link_movements: dict
    crossing_links: frozenset
    link_speed_mps: dict
    link_width_m: dict
    crossing_length_m: dict

    @classmethod
    def of(cls, network: RoadNetwork, tls: str) -> LightGeometry:
        """Collect the geometry of one traffic light."""
        prog = network.programs[tls]
        lm = prog.link_movements()
        edges = network.edges
        crossing, speed, width, clen = set(), {}, {}, {}
        for idx, movs in lm.items():
            for m in movs:
                mv = network.movements[m]
                if mv.turn == "crossing":
                    crossing.add(idx)
                    clen[idx] = crossing_length_m(network, m)
                else:
                    speed[idx] = max(speed.get(idx, 0.0), float(edges.get(mv.from_edge, {}).get("speed_mps", 13.89)))
                    width[idx] = max(width.get(idx, 0.0), crossing_distance_m(network, mv.junction, mv.from_edge))
        return cls(tls, prog.n_links, lm, frozenset(crossing), speed, width, clen)


def clearance_times(prev_state: str, next_state: str, geometry: LightGeometry,
                    profile: str | SafetyProfile | None = None) -> tuple[float, float]:
    """Required yellow and all-red (seconds) between two green states of one light.

    Zero for both when no vehicle link loses green. The all-red protects streams that
    *enter* on the next state from vehicles still clearing; when no link (vehicle or
    crossing) gains green (a protected left following its own permissive phase, say), nobody
    enters and the all-red is 0; the yellow is still required.
    """
    p = get_profile(profile)
    lost = [i for i, (a, b) in enumerate(zip(prev_state, next_state, strict=True))
            if a in GREEN and b not in GREEN and i not in geometry.crossing_links]
    if not lost:
        return 0.0, 0.0
    yellow = max(required_yellow_s(geometry.link_speed_mps.get(i, 13.89), p) for i in lost)
    if not any(a not in GREEN and b in GREEN for a, b in zip(prev_state, next_state, strict=True)):
        return yellow, 0.0
    all_red = max(required_all_red_s(geometry.link_width_m.get(i, 0.0), geometry.link_speed_mps.get(i, 13.89), p)
                  for i in lost)
    return yellow, all_red


def pedestrian_times(state: str, geometry: LightGeometry, profile: str | SafetyProfile | None = None) -> tuple[float, float]:
    """Required walk and clearance (seconds) for the crossings a green state serves (0, 0 if none)."""
    p = get_profile(profile)
    served = [i for i in geometry.crossing_links if i < len(state) and state[i] in GREEN]
    if not served:
        return 0.0, 0.0
    clearance = max(geometry.crossing_length_m.get(i, 3.2) / p.ped_speed_mps for i in served)
    return float(p.walk_min_s), float(math.ceil(clearance - 1e-9))


# -- checks ----------------------------------------------------------------------------
def check_network_plan(plan: NetworkPlan, network: RoadNetwork,
                       profile: str | SafetyProfile | None = None) -> list[Violation]:
    """Check every plan of every period; return all violations (empty when safe).

    Raises
    ------
    ValidationError
        Naming every traffic light with a plan that the network does not have.
    """
    unknown = sorted({p.tls for _, p in plan.all_plans()} - set(network.programs))
    if unknown:
        raise ValidationError(_unknown_message(unknown, network))
    out: list[Violation] = []
    geometry: dict[str, LightGeometry] = {}
    for period, p in plan.all_plans():
        out.extend(check_plan(p, network, profile, period=period if len(plan.periods) > 1 else "", _geometry=geometry))
    return out


def check_plan(plan: SignalPlan, network: RoadNetwork, profile: str | SafetyProfile | None = None, *,
               period: str = "", _geometry: dict | None = None) -> list[Violation]:
    """Check one plan against the hard rules and a profile (see the module docstring).

    Parameters
    ----------
    plan
        The plan.
    network
        The network it runs on (conflict classes, speeds, junction shapes).
    profile
        ``"us"`` (default), ``"eu"`` or a :class:`SafetyProfile`.
    period
        Period name, for messages.

    Returns
    -------
    list of Violation
        Every violation found; empty when the plan is safe.

    Raises
    ------
    ValidationError
        If the network has no traffic light ``plan.tls``.
    """
    prof = get_profile(profile)
    out: list[Violation] = []

    def add(phase, rule, message, severity="error"):
        out.append(Violation(plan.tls, period, phase, rule, severity, message))

    def policy(phase, rule, message):
        add(phase, rule, message, prof.severity.get(rule, "error"))

    if plan.tls not in network.programs:
        raise ValidationError(_unknown_message([plan.tls], network))
    cache = _geometry if _geometry is not None else {}
    if plan.tls not in cache:
        cache[plan.tls] = LightGeometry.of(network, plan.tls)
    geo = cache[plan.tls]
    bad_len = [k for k, ph in enumerate(plan.phases) if len(ph.state) != geo.n_links]
    for k in bad_len:
        add(k, "structure", f"state has {len(plan.phases[k].state)} links, expected {geo.n_links} (the light's link count)")
    if bad_len or not plan.phases:
        if not plan.phases:
            add(None, "structure", "no phases, expected at least one")
        return out

    total = sum(plan.splits_s)
    if abs(total - plan.cycle_s) > 1e-6:
        add(None, "structure", f"splits (green + yellow + all-red) sum to {total:g} s, expected the cycle {plan.cycle_s:g} s")
    if not 0.0 <= plan.offset_s < max(plan.cycle_s, 1e-9):
        add(None, "structure", f"offset {plan.offset_s:g} s, expected in [0, {plan.cycle_s:g})")
    if not prof.cycle_min_s - 1e-6 <= plan.cycle_s <= prof.cycle_max_s + 1e-6:
        policy(None, "cycle", f"cycle {plan.cycle_s:g} s, expected within [{prof.cycle_min_s:g}, {prof.cycle_max_s:g}] s")

    check_coverage(plan, prof.max_red_s, add)
    junction_conf, pos = _light_conflicts(network, plan, geo)
    prog = network.programs[plan.tls]
    n = len(plan.phases)
    for k, ph in enumerate(plan.phases):
        status = _movement_status(ph.state, geo)
        _check_green_state(k, status, network, junction_conf, pos, add)
        _check_merges(k, ph.state, prog, add)
        if ph.green_s < prof.min_green_s and any(c in GREEN for c in ph.state):  # not a pure clearance phase
            policy(k, "min-green", f"green {ph.green_s:g} s, expected at least {prof.min_green_s:g} s")
        walk_req, clear_req = pedestrian_times(ph.state, geo, prof)
        if walk_req > 0:
            walk = ph.walk_s if ph.walk_s > 0 else ph.green_s
            if walk < walk_req:
                policy(k, "pedestrian", f"walk {walk:g} s, expected at least {walk_req:g} s")
            if ph.ped_clearance_s < clear_req:
                policy(k, "pedestrian", f"pedestrian clearance {ph.ped_clearance_s:g} s, expected at least "
                       f"{clear_req:g} s (crossing length / {prof.ped_speed_mps:g} m/s)")
            if walk + ph.ped_clearance_s > ph.green_s + 1e-9:
                add(k, "structure", f"walk {walk:g} s + clearance {ph.ped_clearance_s:g} s exceed the green {ph.green_s:g} s")
        nxt = plan.phases[(k + 1) % n]
        if n == 1:
            continue
        lost = [i for i, (a, b) in enumerate(zip(ph.state, nxt.state)) if a in GREEN and b not in GREEN
                and i not in geo.crossing_links]
        if lost:
            if ph.yellow_s < HARD_MIN_YELLOW_S:
                add(k, "yellow", f"links {_fmt_links(lost)} lose green with {ph.yellow_s:g} s yellow, expected at "
                    f"least {HARD_MIN_YELLOW_S:g} s")
            y_req, ar_req = clearance_times(ph.state, nxt.state, geo, prof)
            if ph.yellow_s + 1e-9 < y_req and ph.yellow_s >= HARD_MIN_YELLOW_S:
                policy(k, "yellow-time", f"yellow {ph.yellow_s:g} s, expected at least {y_req:g} s ({prof.name} profile)")
            if ph.yellow_s > prof.yellow_max_s + 1e-9:
                policy(k, "yellow-time", f"yellow {ph.yellow_s:g} s, expected at most {prof.yellow_max_s:g} s")
            if ph.all_red_s + 1e-9 < ar_req:
                policy(k, "all-red", f"all-red {ph.all_red_s:g} s, expected at least {ar_req:g} s ((W + L) / v)")
            if ph.all_red_s > prof.all_red_max_s + 1e-9:
                policy(k, "all-red", f"all-red {ph.all_red_s:g} s, expected at most {prof.all_red_max_s:g} s")
            _check_yellow_trap(k, ph.state, nxt.state, geo, network, junction_conf, pos, add)
    return out


def switch_violations(running: SignalPlan, pushed: SignalPlan, network: RoadNetwork,
                      profile: str | SafetyProfile | None = None, *, period: str = "") -> list[Violation]:
    """Check the switch from the plan a light runs to a pushed plan (semantics: :mod:`citybrain.plans.switch`).

    Parameters
    ----------
    running
        What the light runs now; it ends its cycle, its last phase's yellow and all-red included.
    pushed
        The plan that takes over with its phase 0 (checked on its own by :func:`check_plan`).
    network, profile
        As in :func:`check_plan`.
    period
        The pushed plan's period name, for messages.

    Returns
    -------
    list of Violation
        Placed at the running plan's last phase; empty when the switch is safe.

    Raises
    ------
    ValidationError
        If the two plans are for different lights, or their states have different lengths
        (the light's link count changed), or the network has no such light.
    """
    prof = get_profile(profile)
    if pushed.tls not in network.programs:
        raise ValidationError(_unknown_message([pushed.tls], network))
    if running.tls != pushed.tls:
        msg = f"cannot switch traffic light {pushed.tls!r} from a plan of light {running.tls!r}"
        raise ValidationError(msg)
    if not running.phases or not pushed.phases or running.n_links != pushed.n_links:
        msg = (f"traffic light {pushed.tls!r}: the pushed plan has {pushed.n_links} links, the running plan "
               f"{running.n_links}; a push must keep the light's link count")
        raise ValidationError(msg)
    geo = LightGeometry.of(network, pushed.tls)
    k, last, first = len(running.phases) - 1, running.phases[-1], pushed.phases[0]
    if len(first.state) != geo.n_links:
        return []  # check_plan reports the pushed plan's link count
    out: list[Violation] = []

    def add(rule, message, severity="error"):
        out.append(Violation(pushed.tls, period, k, rule, severity, f"switch: {message}"))

    check_switch(last, first, crossing_links=geo.crossing_links, required_s=clearance_times(last.state, first.state,
                 geo, prof), min_yellow_s=HARD_MIN_YELLOW_S, min_green_s=prof.min_green_s, add=add,
                 policy=lambda rule, message: add(rule, message, prof.severity.get(rule, "error")))
    if any(c in GREEN for c in last.state):
        conf, pos = _light_conflicts(network, pushed, geo)
        _check_yellow_trap(k, last.state, first.state, geo, network, conf, pos,
                           lambda _k, rule, message: add(rule, message))
    return out


def require_safe(plan: NetworkPlan | SignalPlan, network: RoadNetwork,
                 profile: str | SafetyProfile | None = None, *, source: str = "The plan",
                 running: Mapping[str, SignalPlan] | None = None) -> list[Violation]:
    """Check a plan and refuse it on any error: the one gate on every path to a signal.

    An error is a broken hard rule, or a profile rule the profile makes an error (see the
    module docstring).

    Parameters
    ----------
    plan
        A network plan (every period checked, :func:`check_network_plan`) or one light's plan
        (:func:`check_plan`).
    network, profile
        As in :func:`check_plan`.
    source
        What the plan is, for the message (a file name, "the optimised plan").
    running
        What runs now, by traffic light, when the plan is pushed onto running lights: the
        switch from each light's running plan into every period's plan for it is checked too
        (:func:`switch_violations`). Lights without a running plan start the plan afresh.

    Returns
    -------
    list of Violation
        The warnings (empty when there are none), when there is no error.

    Raises
    ------
    UnsafePlanError
        Listing every error.
    ValidationError
        For unusable input: a light the network does not have, a push that changes a light's
        link count.
    """
    if isinstance(plan, SignalPlan):
        found = check_plan(plan, network, profile)
        pushed = [("", plan)]
    else:
        found = check_network_plan(plan, network, profile)
        pushed = [(name if len(plan.periods) > 1 else "", p) for name, p in plan.all_plans()]
    for period, p in pushed:
        if running and p.tls in running:
            found.extend(switch_violations(running[p.tls], p, network, profile, period=period))
    errors = [str(v) for v in found if v.severity == "error"]
    if errors:
        msg = f"{source} is unsafe and will not run ({len(errors)} error(s)):\n" + "\n".join(errors)
        raise UnsafePlanError(msg, errors)
    return found


def _light_conflicts(network: RoadNetwork, plan: SignalPlan, geo: LightGeometry) -> tuple[dict, dict]:
    """Conflict classes of every junction the light's links serve, and movement positions in them."""
    conf = {j: network.conflicts(j) for j in plan.junctions if j in network.graph} or {}
    for j in {network.movements[m].junction for ms in geo.link_movements.values() for m in ms}:
        if j not in conf:
            conf[j] = network.conflicts(j)
    return conf, {j: {m: i for i, m in enumerate(c.movements)} for j, c in conf.items()}


def _unknown_message(tls: list[str], network: RoadNetwork) -> str:
    known = sorted(network.programs)
    return (f"plan for traffic light(s) {', '.join(map(repr, tls))} not in network {network.path.name}; "
            f"expected one of {known[:10]}" + (f" ({len(known)} lights)" if len(known) > 10 else ""))


def _fmt_links(links) -> str:
    links = list(links)
    return ",".join(str(i) for i in links[:8]) + ("..." if len(links) > 8 else "")


def _movement_status(state: str, geo: LightGeometry) -> dict[int, str]:
    """Movement -> ``"G"`` (every link G), ``"g"`` (some link green) for the green movements."""
    chars: dict[int, list[str]] = {}
    for idx, movs in geo.link_movements.items():
        if idx < len(state):
            for m in movs:
                chars.setdefault(m, []).append(state[idx])
    out = {}
    for m, cs in chars.items():
        if all(c == "G" for c in cs):
            out[m] = "G"
        elif any(c in GREEN for c in cs):
            out[m] = "g"
    return out


def _check_green_state(k, status, network, conf, pos, add) -> None:
    green = sorted(status)
    for a_i, a in enumerate(green):
        ma = network.movements[a]
        for b in green[a_i + 1:]:
            mb = network.movements[b]
            if ma.junction != mb.junction:
                continue
            c = conf[ma.junction]
            pa, pb = pos[ma.junction][a], pos[ma.junction][b]
            kind = int(c.kind[pa, pb])
            if kind == NEVER:
                add(k, "conflict", f"{ma.id} and {mb.id} may never be green together")
            elif kind in (YIELD, MERGE):
                yielder, other = (a, b) if c.yields[pa, pb] else (b, a)
                if status[yielder] == "G":
                    add(k, "permissive", f"{network.movements[yielder].id} is protected (G) while "
                        f"{network.movements[other].id}, which it must give way to, is green; expected 'g'")


def _check_merges(k, state, prog, add) -> None:
    by_lane: dict[str, set[str]] = {}
    for link in prog.links:
        if link.index < len(state) and state[link.index] == "G":
            by_lane.setdefault(link.to_lane, set()).add(link.from_lane)
    merging = sorted(lane for lane, src in by_lane.items() if len(src) > 1)
    if merging:
        add(k, "merge", f"lanes entered by several protected (G) lanes: {', '.join(merging[:6])}")


def _check_yellow_trap(k, state, nxt, geo, network, conf, pos, add) -> None:
    now, after = _movement_status(state, geo), _movement_status(nxt, geo)
    for m, st in now.items():
        if m in after:
            continue
        mm = network.movements[m]
        if mm.turn == "crossing":
            continue
        c = conf[mm.junction]
        for o in after:
            if o not in now or network.movements[o].junction != mm.junction:
                continue
            pm, po = pos[mm.junction][m], pos[mm.junction][o]
            if int(c.kind[pm, po]) == YIELD and c.yields[pm, po] and network.movements[o].turn != "crossing":
                add(k, "yellow-trap", f"{mm.id} (yielding) gets yellow while {network.movements[o].id}, which it "
                    "gives way to, stays green")


def apply_clearances(plan: SignalPlan, network: RoadNetwork, profile: str | SafetyProfile | None = None, *,
                     keep_greens: bool = False) -> SignalPlan:
    """Return the plan with the profile's yellow, all-red, walk and clearance on every phase.

    Greens are raised to the minimum green and to walk plus clearance; unless
    ``keep_greens``, nothing else changes. The cycle is recomputed from the splits and the
    offset wrapped into it.
    """
    p = get_profile(profile)
    geo = LightGeometry.of(network, plan.tls)
    n = len(plan.phases)
    phases = []
    for k, ph in enumerate(plan.phases):
        nxt = plan.phases[(k + 1) % n]
        y, ar = clearance_times(ph.state, nxt.state, geo, p) if n > 1 else (0.0, 0.0)
        if y > 0:
            y = max(y, HARD_MIN_YELLOW_S)
        walk, clear = pedestrian_times(ph.state, geo, p)
        floor = max(p.min_green_s, walk + clear, ph.min_green_s or 0.0)
        green = ph.green_s if keep_greens else max(ph.green_s, floor)
        phases.append(replace(ph, yellow_s=y, all_red_s=ar, walk_s=walk, ped_clearance_s=clear,
                              green_s=green, min_green_s=max(floor, ph.min_green_s or 0.0)))
    cycle = float(sum(ph.duration_s for ph in phases))
    return replace(plan, phases=tuple(phases), cycle_s=cycle, offset_s=plan.offset_s % cycle,
                   crossing_links=tuple(sorted(geo.crossing_links)))


def preemption_violations(tls: str, from_state: str, green_s: float, yellow_s: float, all_red_s: float,
                          to_state: str, network: RoadNetwork, profile: str | SafetyProfile | None = None,
                          *, geometry: LightGeometry | None = None) -> list[Violation]:
    """Check one pre-emption transition: from a green shown ``green_s`` s, through a yellow and all-red, to ``to_state``.

    The rules of a plan switch (:func:`switch_violations`: hard 3 s yellow, the profile's yellow
    and all-red for the two states, no yellow trap) with the profile's ``preempt_min_green_s``
    as the minimum green, and the ``conflict``, ``permissive`` and ``merge`` rules on
    ``to_state``. A return from pre-emption is checked the same way, from the vehicle's green.

    Raises
    ------
    ValidationError
        If the network has no light ``tls`` or a state's length is not its link count.
    """
    prof = get_profile(profile)
    if tls not in network.programs:
        raise ValidationError(_unknown_message([tls], network))
    geo = geometry or LightGeometry.of(network, tls)
    if len(from_state) != geo.n_links or len(to_state) != geo.n_links:
        msg = (f"traffic light {tls!r}: pre-emption states of {len(from_state)} and {len(to_state)} links, "
               f"expected {geo.n_links}")
        raise ValidationError(msg)
    out: list[Violation] = []

    def add(rule, message, severity="error"):
        out.append(Violation(tls, "", None, rule, severity, f"pre-emption: {message}"))

    last = PlanPhase(from_state, green_s, yellow_s, all_red_s)
    check_switch(last, PlanPhase(to_state, 0.0), crossing_links=geo.crossing_links,
                 required_s=clearance_times(from_state, to_state, geo, prof), min_yellow_s=HARD_MIN_YELLOW_S,
                 min_green_s=prof.preempt_min_green_s, add=add,
                 policy=lambda rule, message: add(rule, message, prof.severity.get(rule, "error")),
                 where="into the pre-emption green")
    junctions = {network.movements[m].junction for ms in geo.link_movements.values() for m in ms}
    conf = {j: network.conflicts(j) for j in junctions}
    pos = {j: {m: i for i, m in enumerate(c.movements)} for j, c in conf.items()}
    _check_green_state(None, _movement_status(to_state, geo), network, conf, pos, lambda _k, rule, message: add(rule, message))
    _check_merges(None, to_state, network.programs[tls], lambda _k, rule, message: add(rule, message))
    if any(c in GREEN for c in from_state):
        _check_yellow_trap(None, from_state, to_state, geo, network, conf, pos, lambda _k, rule, message: add(rule, message))
    return out


def require_safe_preemption(tls: str, from_state: str, green_s: float, yellow_s: float, all_red_s: float,
                            to_state: str, network: RoadNetwork, profile: str | SafetyProfile | None = None,
                            *, geometry: LightGeometry | None = None) -> list[Violation]:
    """The gate on a pre-emption transition: :func:`preemption_violations`, refused on any error.

    Returns
    -------
    list of Violation
        The warnings, when there is no error.

    Raises
    ------
    UnsafePlanError
        Listing every error.
    """
    found = preemption_violations(tls, from_state, green_s, yellow_s, all_red_s, to_state, network, profile,
                                  geometry=geometry)
    errors = [str(v) for v in found if v.severity == "error"]
    if errors:
        msg = f"The pre-emption of light {tls!r} is unsafe and will not run ({len(errors)} error(s)):\n" + "\n".join(errors)
        raise UnsafePlanError(msg, errors)
    return found
