"""The conflict monitor of the twin: a cabinet's malfunction management unit (MMU), emulated.

Every step, :meth:`ConflictMonitor.observe` takes the signal state string every light shows in
SUMO and records four kinds of violation:

``conflict``
    a state gives green to movements that may not be green together, by the rules of the
    safety gate (:func:`citybrain.plans.safety.check_plan`'s ``conflict``, ``permissive`` and
    ``merge`` rules over the network's conflict classes): two ``NEVER`` movements green, a
    yielding stream shown protected ``G`` beside the stream it gives way to, or two protected
    lanes merging. A permissive ``g`` that yields is not a conflict. One event per light each
    time it starts showing such a state.
``no-yellow``
    a vehicle link goes from green (``G``/``g``) straight to red (``r``, ``u`` or ``s``).
``short-yellow``
    a vehicle link's yellow ends in red after less than ``min_yellow_s`` (the profile's
    ``yellow_min_s``, 3 s, the gate's hard minimum).
``short-green``
    a vehicle link's green ends after less than ``min_green_s`` (the profile's
    ``min_green_s``, 5 s).

Durations are measured at the step resolution (a state first seen at step ``t1`` and replaced
at ``t2`` lasted ``t2 - t1``). An interval that was already running at the first observation
is not judged (its start is unknown). Pedestrian-crossing links are left out of the three timing
kinds (walk and clearance have their own rules). A timing event is one light at one step: every
link that broke the rule then is listed in its detail.

The work per step is a string comparison per light, or per light said to have changed
(``observe(..., changed=)``: a state is constant between its light's switches); only when some
light changed does the monitor compare the changed lights' link classes (cached per state) with
the ones they showed before (numpy, the changed lights' links at once). Conflict checks run once
per distinct state of a light and are cached.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from citybrain.network import RoadNetwork
from citybrain.plans.model import PlanPhase, SignalPlan
from citybrain.plans.safety import HARD_MIN_YELLOW_S, LightGeometry, SafetyProfile, check_plan, get_profile

__all__ = ["KINDS", "MonitorEvent", "ConflictMonitor", "monitor_warnings"]

#: Violation kinds, in report order.
KINDS: tuple[str, ...] = ("conflict", "no-yellow", "short-yellow", "short-green")
_CONFLICT_RULES = frozenset({"conflict", "permissive", "merge"})
_RED, _YELLOW, _GREEN, _OFF = 0, 1, 2, 3
_CLASS = np.full(256, _OFF, dtype=np.int8)
for _c in "rRus":
    _CLASS[ord(_c)] = _RED
for _c in "yY":
    _CLASS[ord(_c)] = _YELLOW
for _c in "Gg":
    _CLASS[ord(_c)] = _GREEN
#: Events kept in full per run (the counts are always complete).
MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class MonitorEvent:
    """One violation: its kind, the light, the simulation time (s) it began, and what broke."""

    kind: str
    tls: str
    time_s: float
    detail: str

    def to_json(self) -> dict:
        """The event as a JSON-ready dict."""
        return {"kind": self.kind, "tls": self.tls, "time_s": self.time_s, "detail": self.detail}


class ConflictMonitor:
    """Watch every light's shown state and record the violations (see the module docstring).

    Parameters
    ----------
    network
        The network the lights belong to (conflict classes, links, crossings).
    lights
        The lights to watch, in the order of the states given to :meth:`observe`.
    profile
        Safety profile (``"us"``, ``"eu"`` or a :class:`~citybrain.plans.safety.SafetyProfile`);
        supplies the minimum yellow and green.
    ours
        The lights whose signals are citybrain's (a plan or controller of ours; default all):
        their violations are also counted in the summary's ``ours``. The others run baseline
        programs (:func:`simulation.controllers.is_baseline`) until :meth:`mark_ours`.
    min_green_s, min_yellow_s
        Override the profile's minimum green and yellow (seconds).
    geometry
        The lights' :class:`~citybrain.plans.safety.LightGeometry` of ``network``, if already built.
    """

    def __init__(self, network: RoadNetwork, lights: Sequence[str], profile: str | SafetyProfile | None = None,
                 *, ours: Collection[str] | None = None, min_green_s: float | None = None,
                 min_yellow_s: float | None = None, geometry: Mapping[str, LightGeometry] | None = None) -> None:
        prof = get_profile(profile)
        self.network = network
        self.lights = tuple(lights)
        self.profile = prof
        self.min_green_s = float(prof.min_green_s if min_green_s is None else min_green_s)
        self.min_yellow_s = float(max(prof.yellow_min_s, HARD_MIN_YELLOW_S) if min_yellow_s is None else min_yellow_s)
        known = geometry or {}
        self._geometry: dict[str, LightGeometry] = {t: known.get(t) or LightGeometry.of(network, t) for t in self.lights}
        widths = [len(network.programs[t].phases[0].state) for t in self.lights]
        self._width = dict(zip(self.lights, widths, strict=True))
        starts = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        self._start = dict(zip(self.lights, starts[:-1].tolist(), strict=True))
        self._links = {t: np.arange(self._start[t], self._start[t] + self._width[t]) for t in self.lights}
        n = int(starts[-1])
        self._link_light = np.repeat(np.arange(len(self.lights)), widths)
        self._link_index = np.arange(n) - starts[:-1][self._link_light] if n else np.zeros(0, np.int64)
        vehicle = np.ones(n, dtype=bool)
        for t in self.lights:
            for i in self._geometry[t].crossing_links:
                if i < self._width[t]:
                    vehicle[self._start[t] + i] = False
        self._vehicle = vehicle
        self._cls = np.full(n, _OFF, dtype=np.int8)
        self._since = np.zeros(n, dtype=np.float64)
        self._judged = np.zeros(n, dtype=bool)  # False while the interval began before the first observation
        self._last: dict[str, str] = {}
        self._order = {t: i for i, t in enumerate(self.lights)}
        self._conflicts: dict[tuple[str, str], tuple[str, ...]] = {}
        self._class_cache: dict[tuple[str, str], np.ndarray] = {}
        self._check_cache: dict = dict(self._geometry)  # check_plan's geometry cache, by light
        self.counts: dict[str, dict[str, int]] = {t: dict.fromkeys(KINDS, 0) for t in self.lights}
        self.first: dict[str, MonitorEvent] = {}
        self._ours = set(self.lights) if ours is None else set(ours)
        self._ours_counts: dict[str, dict[str, int]] = {t: dict.fromkeys(KINDS, 0) for t in self.lights}
        self._ours_first: dict[str, MonitorEvent] = {}
        self.events: list[tuple[MonitorEvent, bool]] = []
        self.steps = 0

    # -- per step ----------------------------------------------------------------------------
    def observe(self, time_s: float, states: Mapping[str, str], changed: Collection[str] | None = None) -> None:
        """Record the states every light shows at ``time_s`` (seconds); ``states`` maps light -> state.

        ``changed`` names the lights whose state may differ from the last observation (default:
        any light); the others are not compared.
        """
        if changed is None or not self._last:
            changed = [t for t in self.lights if states[t] != self._last.get(t)]
        else:
            order = self._order
            changed = sorted((t for t in changed if t in order and states[t] != self._last.get(t)), key=order.__getitem__)
        self.steps += 1
        if not changed:
            return
        first = not self._last
        for t in changed:
            state = states[t]
            self._last[t] = state
            found = self._conflicts_of(t, state)
            if found:
                more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
                self._record("conflict", t, time_s, f"state {state}: {found[0]}{more}")
        links = np.concatenate([self._links[t] for t in changed])  # ascending: lights in order
        cls = np.concatenate([self._classes_of(t, states[t]) for t in changed])
        if first:
            self._cls[links], self._since[:] = cls, time_s
            return
        changing = np.flatnonzero(cls != self._cls[links])
        if changing.size == 0:
            return
        moved = links[changing]
        prev, new = self._cls[moved], cls[changing]
        judged = self._judged[moved] & self._vehicle[moved]
        dur = time_s - self._since[moved]
        eps = 1e-6
        self._timing("no-yellow", moved[self._vehicle[moved] & (prev == _GREEN) & (new == _RED)], time_s,
                     "green to red without yellow")
        short_y = judged & (prev == _YELLOW) & (new == _RED) & (dur < self.min_yellow_s - eps)
        self._timing("short-yellow", moved[short_y], time_s, f"yellow under {self.min_yellow_s:g} s",
                     dur[short_y])
        short_g = judged & (prev == _GREEN) & (new != _GREEN) & (dur < self.min_green_s - eps)
        self._timing("short-green", moved[short_g], time_s, f"green under {self.min_green_s:g} s", dur[short_g])
        self._cls[moved] = new
        self._since[moved] = time_s
        self._judged[moved] = True

    def _classes_of(self, tls: str, state: str) -> np.ndarray:
        """Per link, red/yellow/green/off of a state (cut or padded with off to the light's width; cached)."""
        key = (tls, state)
        if key not in self._class_cache:
            n = self._width[tls]
            fitted = state[:n].ljust(n, "O").encode("ascii", "replace")
            self._class_cache[key] = _CLASS[np.frombuffer(fitted, dtype=np.uint8)]
        return self._class_cache[key]

    def _conflicts_of(self, tls: str, state: str) -> tuple[str, ...]:
        """The gate's conflict findings for one shown state (cached per light and state)."""
        key = (tls, state)
        if key not in self._conflicts:
            geo = self._geometry[tls]
            fitted = state[: geo.n_links].ljust(geo.n_links, "r")
            plan = SignalPlan(tls, (), 60.0, 0.0, (PlanPhase(fitted, green_s=60.0),))
            found = check_plan(plan, self.network, self.profile, _geometry=self._check_cache)
            self._conflicts[key] = tuple(f"{v.rule}: {v.message}" for v in found if v.rule in _CONFLICT_RULES)
        return self._conflicts[key]

    def _timing(self, kind: str, links: np.ndarray, time_s: float, what: str, dur: np.ndarray | None = None) -> None:
        if links.size == 0:
            return
        lights = self._link_light[links]
        for li in np.unique(lights):
            mine = lights == li
            idx = self._link_index[links[mine]].tolist()
            shown = ",".join(str(i) for i in idx[:8]) + ("..." if len(idx) > 8 else "")
            extra = f" (shortest {float(dur[mine].min()):g} s)" if dur is not None else ""
            self._record(kind, self.lights[li], time_s, f"links {shown}: {what}{extra}")

    def _record(self, kind: str, tls: str, time_s: float, detail: str) -> None:
        event = MonitorEvent(kind, tls, float(time_s), detail)
        ours = tls in self._ours
        self.counts[tls][kind] += 1
        self.first.setdefault(kind, event)
        if ours:
            self._ours_counts[tls][kind] += 1
            self._ours_first.setdefault(kind, event)
        if len(self.events) < MAX_EVENTS:
            self.events.append((event, ours))

    def mark_ours(self, tls: str) -> None:
        """Count a light's violations from now on as citybrain's (a plan of ours took it over)."""
        self._ours.add(tls)

    def unmark_ours(self, tls: str) -> None:
        """Count a light's violations as its baseline program's again (a pre-emption handed it back)."""
        self._ours.discard(tls)

    # -- results -------------------------------------------------------------------------------
    def summary(self) -> dict:
        """The run's violations as a JSON-ready dict.

        Returns
        -------
        dict
            ``total`` and ``counts`` (by kind), ``first`` (kind -> ``{"time_s", "tls",
            "detail"}``), ``by_tls`` (light -> kind -> count, lights with any), ``ours`` (the
            same ``total``, ``counts`` and ``first`` for the violations by citybrain's signals,
            see :meth:`mark_ours`), ``events`` (the first :data:`MAX_EVENTS`, each with
            ``ours``), ``min_green_s``, ``min_yellow_s`` and ``steps`` observed.
        """
        def part(counts: Mapping[str, Mapping[str, int]], first: Mapping[str, MonitorEvent]) -> dict:
            by_kind = {k: sum(c[k] for c in counts.values()) for k in KINDS}
            return {"total": sum(by_kind.values()), "counts": by_kind,
                    "first": {k: _brief(first[k]) for k in KINDS if k in first}}

        return {
            **part(self.counts, self.first),
            "by_tls": {t: {k: n for k, n in c.items() if n} for t, c in self.counts.items() if any(c.values())},
            "ours": part(self._ours_counts, self._ours_first),
            "events": [{**e.to_json(), "ours": o} for e, o in self.events],
            "min_green_s": self.min_green_s,
            "min_yellow_s": self.min_yellow_s,
            "steps": self.steps,
        }


def _brief(e: MonitorEvent) -> dict:
    return {"time_s": e.time_s, "tls": e.tls, "detail": e.detail}


def monitor_warnings(summary: Mapping | None, *, ours_only: bool = False) -> list[str]:
    """One warning line per violation kind of a run's monitor summary (kind, count, light, first time).

    With ``ours_only``, only the violations of citybrain's own signals (``summary["ours"]``).
    """
    if not summary:
        return []
    part = summary["ours"] if ours_only else summary
    lines = []
    for kind in KINDS:
        n = part["counts"].get(kind, 0)
        if n:
            f = part["first"][kind]
            who = "our signals" if ours_only else "signals"
            lines.append(f"conflict monitor: {n} {kind} violation(s) by {who}, first at t={f['time_s']:g} s "
                         f"on light {f['tls']}: {f['detail']}")
    return lines
