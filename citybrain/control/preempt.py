"""Emergency-vehicle pre-emption: a layer over any controller that clears the lights on a route.

An emergency vehicle is *detected* ahead of each traffic light on its route, as a siren
detector or a dispatch system would report it: when its distance to the light's stop line is
at most :attr:`PreemptionSettings.detect_distance_m`, or its travel time there at the roads'
speed limits is at most :attr:`PreemptionSettings.detect_time_s` plus the time the light's
queue needs to discharge (the *queue lead*: the vehicles halting on the route's lanes between
the light before it on the route, or the vehicle, and its stop line, the most on any lane of
each edge, times :attr:`PreemptionSettings.queue_headway_s`, at most
:attr:`PreemptionSettings.max_lead_s`). Where that queue reaches back to the light before
(spill-back), that light's queue can only leave after it: the lead adds up the queues of the
lights so chained, and the light furthest on is called first. The light's pre-emption input
then goes on (a *call*); the light ends its current green through its full yellow and all-red
(the green cut short no further than the safety profile's ``preempt_min_green_s``),
shows a green that serves the vehicle's movement and holds it (dwell) until the vehicle has
crossed the stop line, when the input goes off and the light returns to its controller or
plan (the exit). Lights further along the route are called later, as the vehicle nears them,
so they are cleared in sequence: the queue ahead of the vehicle discharges before it arrives.
A call held longer than :attr:`PreemptionSettings.max_hold_s` beyond its queue lead (a vehicle
that stopped) is released all the same (max presence), so no other stream waits without bound.

A green for the vehicle discharges the queue ahead of it only where that queue can leave: a
vehicle ahead turning off the route into a lane backed up to its entrance (spill-back from the
next light on that lane) blocks it. While a light is called, each such lane's next light is
given a *clearance call* (:attr:`Call.clearance`) for the links leaving that lane, served as a
pre-emption too and ahead of the calls that still wait there; it is released once no vehicle
has halted on those lanes for 10 s, or with the call of the light it clears for. A light is
given one clearance call per light it clears for.

This module decides *when* and *for which movement*; it never touches a signal. The twin
(``simulation``) shows the transitions, through the one safety gate
(:func:`citybrain.plans.safety.require_safe_preemption`), and logs the Indiana hi-res
pre-emption events (:data:`EVENT_CODES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = [
    "EVENT_CODES",
    "PreemptionSettings",
    "RouteLight",
    "VehiclePosition",
    "Call",
    "Release",
    "PreemptionRecord",
    "Preemptor",
    "route_lights",
    "preempt_phase",
    "serves",
]

#: Indiana hi-res enumerations (Sturdevant et al. 2012) the twin logs; the parameter is the preempt number.
EVENT_CODES: dict[str, int] = {
    "input_on": 102,  # Preempt (Call) Input On
    "input_off": 104,  # Preempt (Call) Input Off
    "entry": 105,  # Preempt Entry Started
    "dwell": 107,  # Preemption Begin Dwell Service
    "max_presence": 110,  # Preemption Max Presence Exceeded
    "exit": 111,  # Preemption Begin Exit Interval
}


@dataclass(frozen=True, slots=True)
class PreemptionSettings:
    """When a light is called for an emergency vehicle, and for how long at most.

    Attributes
    ----------
    detect_time_s : float or None
        Call a light when the vehicle's travel time to its stop line, at the speed limits of
        the lanes between, is at most this (seconds); ``None`` to detect by distance only.
    detect_distance_m : float or None
        Call a light when the vehicle is at most this far from its stop line (metres);
        ``None`` to detect by travel time only.
    max_hold_s : float
        Release a call this long after it went on, plus its queue lead, even if the vehicle
        has not passed (seconds).
    queue_headway_s : float
        Discharge time per vehicle of the queue ahead (seconds; a saturation headway): with
        travel-time detection a light is called that much earlier per vehicle in its queue
        ahead of the emergency vehicle (the module docstring); 0 for no queue lead.
    max_lead_s : float
        The longest queue lead (seconds).
    preempt_number : int
        The pre-emption input (1-10) emergency vehicles use, the events' parameter.

    Raises
    ------
    ValueError
        If neither detection is set, a value is not positive, or the number is outside 1-10.
    """

    detect_time_s: float | None = 30.0
    detect_distance_m: float | None = None
    max_hold_s: float = 60.0
    queue_headway_s: float = 2.0
    max_lead_s: float = 90.0
    preempt_number: int = 1

    def __post_init__(self) -> None:
        if self.detect_time_s is None and self.detect_distance_m is None:
            msg = "PreemptionSettings needs detect_time_s or detect_distance_m (or both); got neither."
            raise ValueError(msg)
        for name in ("detect_time_s", "detect_distance_m", "max_hold_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                msg = f"The {name!r} of PreemptionSettings must be a finite number > 0. Got {value!r} instead."
                raise ValueError(msg)
        for name in ("queue_headway_s", "max_lead_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                msg = f"The {name!r} of PreemptionSettings must be a finite number >= 0. Got {value!r} instead."
                raise ValueError(msg)
        if not 1 <= self.preempt_number <= 10:
            msg = f"The 'preempt_number' of PreemptionSettings must be in [1, 10]. Got {self.preempt_number!r} instead."
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class RouteLight:
    """A traffic light on a route: where the route meets it and the links it uses there.

    Attributes
    ----------
    tls : str
        SUMO traffic-light id.
    route_index : int
        Index in the route of the approach edge, the edge that ends at the light's stop line.
    links : tuple of int
        The light's link indices from the approach edge to the route's next edge, and, where
        the route crosses several junctions of the light one after the other (a cluster), from
        each of its approach edges there.
    exit_index : int
        Index in the route of the light's last approach edge in that run (``route_index`` but in
        a cluster): the vehicle has passed the light once it leaves that edge.
    options : tuple of tuple of int
        The link sets a pre-emption green may serve, widest first: every link of the approach
        edge (the whole queue ahead discharges, whichever way it turns), the links of the lanes
        the route's movement uses (vehicles sharing them), then ``links``; the first set some
        green serves is served (:func:`preempt_phase`).
    """

    tls: str
    route_index: int
    links: tuple[int, ...]
    stop_m: float
    free_s: float
    exit_index: int = -1
    options: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.exit_index < 0:
            object.__setattr__(self, "exit_index", self.route_index)
        if not self.options:
            object.__setattr__(self, "options", (self.links,))


@dataclass(frozen=True, slots=True)
class VehiclePosition:
    """Where an emergency vehicle is: its route, the route edge it is on and how far along (m).

    ``route_index`` is the index in ``route`` of the edge the vehicle is on, or last was on
    while it crosses a junction (``in_junction``); ``lane_pos_m`` its front's distance from
    the start of that edge's lane.
    """

    route: tuple[str, ...]
    route_index: int
    lane_pos_m: float
    in_junction: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """A light's pre-emption input goes on for a vehicle, to serve ``links`` (its movement).

    ``route_index`` is the light's (:class:`RouteLight`) in the vehicle's route, which tells two
    passages of one route by the same light apart; ``options`` as in :class:`RouteLight`. A
    ``clearance`` call empties lanes backed up into the junction of the route's light at
    ``route_index`` (``links`` leave them), not the vehicle's movement.
    """

    tls: str
    vehicle: str
    links: tuple[int, ...]
    time_s: float
    distance_m: float
    route_index: int = 0
    options: tuple[tuple[int, ...], ...] = ()
    clearance: bool = False


@dataclass(frozen=True, slots=True)
class Release:
    """A light's pre-emption input goes off: the vehicle passed, left the network, or max presence."""

    tls: str
    vehicle: str
    time_s: float
    reason: str
    route_index: int = 0


@dataclass(slots=True)
class PreemptionRecord:
    """One pre-emption of one light for one vehicle (times in simulation seconds, ``None`` if not reached).

    ``call_s`` input on, ``entry_s`` the light began its clearance to the vehicle's green (or
    already showed it), ``dwell_s`` the vehicle's green shown, ``release_s`` input off,
    ``exit_s`` the return to the controller or plan began; ``reason`` why the input went off;
    ``clearance`` for a clearance call (the lanes backed up into the route's junction emptied).
    """

    tls: str
    vehicle: str
    number: int
    call_s: float
    entry_s: float | None = None
    dwell_s: float | None = None
    release_s: float | None = None
    exit_s: float | None = None
    reason: str = ""
    clearance: bool = False

    def to_json(self) -> dict:
        """The record as a JSON-ready dict."""
        return {k: getattr(self, k) for k in ("tls", "vehicle", "number", "call_s", "entry_s", "dwell_s",
                                              "release_s", "exit_s", "reason", "clearance")}


def route_lights(network: RoadNetwork, route: Sequence[str],
                 edges: Mapping[str, Mapping] | None = None) -> tuple[RouteLight, ...]:
    """The traffic lights a route passes, in route order, each with the links the route uses there.

    Where the route crosses junctions of one light one after the other (a cluster), they are one
    passage when a green of the light's program serves, at each of them, every link of the
    lanes the route uses there (the vehicles ahead of the emergency vehicle in its lane go
    whichever way they turn), else one passage each (the light then serves them in turn).

    Parameters
    ----------
    network
        The road network.
    route
        Edge ids, in order.
    edges
        ``network.edges`` if already at hand (it is rebuilt on every access).
    """
    edges = network.edges if edges is None else edges
    by_pair: dict[tuple[str, str], list] = {}
    for m in network.movements:
        if m.tls is not None and m.turn != "crossing":
            by_pair.setdefault((m.from_edge, m.to_edge), []).append(m)
    out: list[RouteLight] = []
    lane_links: tuple[int, ...] = ()  # the links of the lanes the route uses at the last passage's junctions
    at_m = at_s = 0.0
    for i, edge in enumerate(route):
        data = edges.get(edge, {})
        length = float(data.get("length_m", 0.0))
        at_m += length
        at_s += length / max(float(data.get("speed_mps", 13.89)), 0.1)
        movs = by_pair.get((edge, route[i + 1]), []) if i + 1 < len(route) else []
        for tls in dict.fromkeys(m.tls for m in movs):
            ms = [m for m in movs if m.tls == tls]
            links = tuple(sorted({k for m in ms for k in m.link_indices}))
            if not links:
                continue
            lanes = {x for m in ms for x in m.from_lanes}
            vehicle_links = [x for x in network.programs[tls].links
                             if network.movements[x.movement].turn != "crossing"]
            approach = tuple(sorted({x.index for x in vehicle_links if x.from_lane.rsplit("_", 1)[0] == edge}))
            shared = tuple(sorted({x.index for x in vehicle_links if x.from_lane in lanes} | set(links)))
            options = tuple(dict.fromkeys((approach, shared, links)))
            last = out[-1] if out else None
            union = tuple(sorted({*last.links, *links})) if last is not None else links
            both = tuple(sorted({*lane_links, *shared}))
            if last is not None and last.tls == tls and preempt_phase(_greens(network, tls), both) is not None:
                # the next junction of the same light (a cluster), one of whose greens serves both: one passage
                wider = (tuple(sorted({*a, *b})) for a in last.options for b in options)
                out[-1] = RouteLight(tls, last.route_index, union, last.stop_m, last.free_s, i,
                                     tuple(dict.fromkeys((*wider, union))))
                lane_links = both
            else:
                out.append(RouteLight(tls, i, links, at_m, at_s, i, options))
                lane_links = shared
    return tuple(out)


def _greens(network: RoadNetwork, tls: str) -> dict[int, str]:
    program = network.programs[tls]
    return {k: program.phases[k].state for k in program.green_phases()}


def serves(state: str, links: Sequence[int]) -> int:
    """How well a signal state serves ``links``: 2 all protected green, 1 all green, 0 otherwise."""
    shown = [state[k] if k < len(state) else "r" for k in links]
    if all(c == "G" for c in shown):
        return 2
    return 1 if all(c in "Gg" for c in shown) else 0


def preempt_phase(states: Mapping[int, str], links: Sequence[int]) -> int | None:
    """The green (key of ``states``) to show a pre-empting vehicle: all its links green, protected if any is.

    Among the greens serving every link, one with them all protected (``G``) is preferred, then
    the one giving green to the fewest other links (the least conflicting traffic let through);
    ``None`` when no green serves every link.
    """
    best, best_key = None, None
    for k, state in states.items():
        grade = serves(state, links)
        if grade == 0:
            continue
        others = sum(c in "Gg" for c in state)
        key = (-grade, others)
        if best_key is None or key < best_key:
            best, best_key = k, key
    return best


@dataclass(slots=True)
class _Track:
    lights: tuple[RouteLight, ...]
    lane_start_m: tuple[float, ...]  # per route edge, distance along the route to its start (m)
    lane_start_s: tuple[float, ...]  # per route edge, free-flow time along the route to its start (s)
    speed: tuple[float, ...]  # per route edge, its speed limit (m/s)
    lanes: tuple[tuple[str, ...], ...]  # per route edge, its lanes the route goes on from
    length: tuple[float, ...]  # per route edge, its length (m)
    status: dict[int, str] = field(default_factory=dict)  # per light (position in lights): "on" or "done"
    until: dict[int, float] = field(default_factory=dict)  # per light called, its max-presence time (s)
    clearing: dict[int, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # per light, cleared light -> lanes
    cleared: set[tuple[int, str]] = field(default_factory=set)  # (light, cleared light) pairs ever called
    room_since: dict[tuple[int, str], float] = field(default_factory=dict)  # since when a cleared lane has room


class Preemptor:
    """Detect emergency vehicles ahead of the lights on their routes; say which lights to call and release.

    Parameters
    ----------
    network
        The road network (routes, lights, lengths and speed limits).
    settings
        Detection and hold limits.

    Notes
    -----
    Feed :meth:`update` every step with every emergency vehicle in the network (and the
    halting vehicles, for the queue lead); it returns the calls and releases of that step, in
    route order per vehicle.
    """

    def __init__(self, network: RoadNetwork, settings: PreemptionSettings | None = None) -> None:
        self.network = network
        self.settings = settings or PreemptionSettings()
        self._edges = network.edges
        self._tracks: dict[str, _Track] = {}
        self._from_lanes: dict[tuple[str, str], tuple[str, ...]] = {}
        for m in network.movements:
            if m.turn != "crossing":
                key = (m.from_edge, m.to_edge)
                self._from_lanes[key] = tuple(dict.fromkeys((*self._from_lanes.get(key, ()), *m.from_lanes)))
        # per light and lane, the lanes its links lead to; per lane, the light and links it leaves by
        self._exits: dict[tuple[str, str], list[str]] = {}
        self._leaves: dict[str, tuple[str, list[int]]] = {}
        for tls, program in network.programs.items():
            for x in program.links:
                if network.movements[x.movement].turn == "crossing":
                    continue
                self._exits.setdefault((tls, x.from_lane), []).append(x.to_lane)
                self._leaves.setdefault(x.from_lane, (tls, []))[1].append(x.index)

    def _track(self, vehicle: str, route: tuple[str, ...]) -> _Track:
        track = self._tracks.get(vehicle)
        if track is None:
            lengths = [float(self._edges.get(e, {}).get("length_m", 0.0)) for e in route]
            speed = tuple(max(float(self._edges.get(e, {}).get("speed_mps", 13.89)), 0.1) for e in route)
            start_m, start_s, at_m, at_s = [], [], 0.0, 0.0
            for length, v in zip(lengths, speed, strict=True):
                start_m.append(at_m)
                start_s.append(at_s)
                at_m += length
                at_s += length / v
            lanes = tuple(self._from_lanes.get((e, n), ()) for e, n in zip(route, route[1:], strict=False)) + ((),)
            track = _Track(route_lights(self.network, route, self._edges), tuple(start_m), tuple(start_s), speed,
                           lanes, tuple(lengths))
            self._tracks[vehicle] = track
        return track

    def update(self, time_s: float, vehicles: Mapping[str, VehiclePosition],
               halted: Callable[[str], Sequence[float]] | None = None) -> tuple[list[Call], list[Release]]:
        """Calls and releases at ``time_s`` for the emergency vehicles now in the network.

        ``halted(lane)`` gives the distances (m) from the lane's end of the vehicles halting on
        a lane now (``None``: no queue lead). A vehicle that was seen before and is no longer
        in ``vehicles`` has left the network: its calls still on are released (reason ``"gone"``).
        """
        calls: list[Call] = []
        releases: list[Release] = []
        s = self.settings
        for vehicle, pos in vehicles.items():
            track = self._track(vehicle, pos.route)
            i = min(max(pos.route_index, 0), len(pos.route) - 1)
            here_m = track.lane_start_m[i] + pos.lane_pos_m
            here_s = track.lane_start_s[i] + pos.lane_pos_m / track.speed[i]
            queued = _QueueAhead(track, i, math.inf if pos.in_junction else pos.lane_pos_m, halted, self._full)
            for k, light in enumerate(track.lights):
                status = track.status.get(k)
                if status == "done":
                    continue
                passed = i > light.exit_index or (i == light.exit_index and pos.in_junction)
                if status == "on":
                    if passed:
                        releases.append(Release(light.tls, vehicle, time_s, "passed", light.route_index))
                        track.status[k] = "done"
                    elif time_s >= track.until[k]:
                        releases.append(Release(light.tls, vehicle, time_s, "max-presence", light.route_index))
                        track.status[k] = "done"
                    if track.status[k] == "done":
                        releases += [Release(m, vehicle, time_s, "passed", light.route_index)
                                     for m in track.clearing.pop(k, {})]
                    elif halted is not None:
                        self._clear(track, k, pos.route, vehicle, time_s, halted, calls, releases)
                    continue
                if passed:  # never called (entered past it, or detection too short): nothing to clear
                    track.status[k] = "done"
                    continue
                distance = max(light.stop_m - here_m, 0.0)
                eta = max(light.free_s - here_s, 0.0)
                lead = 0.0
                if s.detect_time_s is not None and eta <= s.detect_time_s + s.max_lead_s:
                    lead = min(s.queue_headway_s * queued.chained(k), s.max_lead_s)
                near = ((s.detect_distance_m is not None and distance <= s.detect_distance_m)
                        or (s.detect_time_s is not None and eta <= s.detect_time_s + lead))
                if near:
                    calls.append(Call(light.tls, vehicle, light.links, time_s, distance, light.route_index,
                                      light.options))
                    track.status[k], track.until[k] = "on", time_s + lead + s.max_hold_s
                elif s.detect_time_s is not None and eta > s.detect_time_s + s.max_lead_s:
                    break  # the lights further on are further still
        for vehicle in [v for v in self._tracks if v not in vehicles]:
            track = self._tracks.pop(vehicle)
            for k, light in enumerate(track.lights):
                if track.status.get(k) == "on":
                    releases.append(Release(light.tls, vehicle, time_s, "gone", light.route_index))
                    releases += [Release(m, vehicle, time_s, "gone", light.route_index)
                                 for m in track.clearing.get(k, {})]
        return calls, releases

    def _full(self, lane: str, halted: Callable[[str], Sequence[float]]) -> bool:
        """Whether a lane's queue reaches back to its entrance (a halting vehicle within a car's spacing of it)."""
        length = float(self._edges.get(lane.rsplit("_", 1)[0], {}).get("length_m", 0.0))
        return any(d >= length - _JAM_SPACING_M for d in halted(lane))

    def _clear(self, track: _Track, k: int, route: tuple[str, ...], vehicle: str, time_s: float,
               halted: Callable[[str], Sequence[float]], calls: list[Call], releases: list[Release]) -> None:
        """Clearance calls for the full lanes the called light ``k`` feeds off the route; their releases."""
        light = track.lights[k]
        clearing = track.clearing.setdefault(k, {})
        for m, lanes in list(clearing.items()):
            if any(halted(x) for x in lanes):
                track.room_since.pop((k, m), None)
            elif time_s - track.room_since.setdefault((k, m), time_s) >= _ROOM_S:
                releases.append(Release(m, vehicle, time_s, "cleared", light.route_index))
                del clearing[m]
        full: dict[str, list[str]] = {}
        for j in range(light.route_index, light.exit_index + 1):
            nxt = route[j + 1] if j + 1 < len(route) else ""
            for lane in track.lanes[j]:
                for out in self._exits.get((light.tls, lane), ()):
                    m = self._leaves.get(out, ("", []))[0]
                    if (m and m != light.tls and (k, m) not in track.cleared and out.rsplit("_", 1)[0] != nxt
                            and out not in full.get(m, ()) and self._full(out, halted)):
                        full.setdefault(m, []).append(out)
        for m, lanes in full.items():
            links = tuple(sorted({i for x in lanes for i in self._leaves[x][1]}))
            calls.append(Call(m, vehicle, links, time_s, 0.0, light.route_index, (links,), clearance=True))
            clearing[m] = tuple(lanes)
            track.cleared.add((k, m))


#: A queued car's length and gap (m): a lane is full when a halting vehicle is this close to its entrance.
_JAM_SPACING_M = 7.5
#: A clearance call is released once no vehicle has halted on its lanes for this long (s).
_ROOM_S = 10.0


class _QueueAhead:
    """The vehicles halting ahead of an emergency vehicle along its route, counted on demand.

    Per route edge, the most halting vehicles on any of its lanes the route goes on from
    (the queue the vehicle meets there, however it chooses its lane); on the vehicle's own
    edge only those ahead of it (``lane_pos_m`` inf: none, it is in the junction past the edge).
    """

    def __init__(self, track: _Track, index: int, lane_pos_m: float,
                 halted: Callable[[str], Sequence[float]] | None,
                 full: Callable[[str, Callable[[str], Sequence[float]]], bool]) -> None:
        self.track, self.index, self.lane_pos_m, self.halted, self.full = track, index, lane_pos_m, halted, full
        self.counted: list[int] = []  # per route edge from the vehicle's, its queue
        self.leads: dict[int, int] = {}  # per light, its chained queue

    def _edge(self, j: int) -> int:
        while self.index + len(self.counted) <= j:
            n = self.index + len(self.counted)
            ahead = self.track.length[n] - self.lane_pos_m if n == self.index else math.inf
            self.counted.append(max((sum(d < ahead for d in self.halted(x)) for x in self.track.lanes[n]), default=0))
        return self.counted[j - self.index]

    def chained(self, k: int) -> int:
        """Halting vehicles light ``k`` must discharge before the vehicle passes: its queue, and
        the queue of the light before it when its own reaches back to that light's junction."""
        if self.halted is None:
            return 0
        if k not in self.leads:
            lights = self.track.lights
            first = max(lights[k - 1].exit_index + 1 if k else 0, self.index)
            own = sum(self._edge(j) for j in range(first, lights[k].route_index + 1))
            spilled = k > 0 and first > self.index and any(self.full(x, self.halted) for x in self.track.lanes[first])
            self.leads[k] = own + (self.chained(k - 1) if spilled else 0)
        return self.leads[k]
