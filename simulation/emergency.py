"""Emergency vehicles in the twin: the scenario's ``[emergency]`` section and the trips it makes.

TOML (in a scenario file; edges are the network's edge ids)::

    [emergency]
    every_min = 10                   # a run every 10 minutes from the begin ...
    edges = ["W_J1", "J5_E"]         # ... between two of these edges (default: the network's fringe)
    [[emergency.vehicles]]           # and/or given runs
    origin = "W_J1"
    destination = "J5_E"
    depart_s = 600.0

Every vehicle is of SUMO type :data:`EMERGENCY_TYPE` (``vClass="emergency"``, no blue-light
device: it stops at red like any vehicle, so only pre-emption clears its way; speed factor 1,
no deviation, so a run with and without pre-emption drives the same vehicles). With
``every_min = N`` the runs depart at ``begin + N, begin + 2N, ...`` minutes while a whole
period is left before the end; origin and destination are drawn (per run seed) among
``edges``, an origin among those traffic can leave by, a destination among those it can
reach from the origin. SUMO routes each trip (fastest path) when it departs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np

from citybrain._validate import Fields
from citybrain.network import RoadNetwork

__all__ = ["EMERGENCY_TYPE", "EmergencyTrip", "EmergencyConfig", "read_emergency", "emergency_trips",
           "emergency_routes_xml", "check_emergency_edges"]

#: SUMO vehicle type id of the twin's emergency vehicles (their tripinfo entries are reported apart).
EMERGENCY_TYPE = "citybrain_emergency"
_KEYS = {"every_min", "edges", "vehicles"}
_VEHICLE_KEYS = {"origin", "destination", "depart_s"}


@dataclass(frozen=True, slots=True)
class EmergencyTrip:
    """One emergency run: from the ``origin`` edge to the ``destination`` edge, departing at ``depart_s`` (s)."""

    origin: str
    destination: str
    depart_s: float


@dataclass(frozen=True, slots=True)
class EmergencyConfig:
    """A scenario's emergency vehicles: given runs and/or a random run every ``every_min`` minutes.

    ``edges`` are the random runs' candidate origins and destinations (empty: the network's
    fringe, :func:`fringe_edges`).
    """

    vehicles: tuple[EmergencyTrip, ...] = ()
    every_min: float | None = None
    edges: tuple[str, ...] = ()


def read_emergency(fields: Fields | None) -> EmergencyConfig | None:
    """Read a scenario's ``[emergency]`` table (problems go to ``fields.problems``); ``None`` when absent."""
    if fields is None:
        return None
    fields.unknown(_KEYS)
    every = fields.number("every_min", None, low=0.1, high=10**7)
    if every is not None and not math.isfinite(every):
        fields.problem("every_min", f"must be a finite number of minutes, got {every!r}")
        every = None
    edges = tuple(fields.strings("edges"))
    trips = []
    for v in fields.tables("vehicles"):
        v.unknown(_VEHICLE_KEYS)
        origin, destination = v.string("origin", required=True), v.string("destination", required=True)
        depart = v.number("depart_s", required=True, low=0, high=10**9)
        if None not in (origin, destination, depart):
            trips.append(EmergencyTrip(origin, destination, float(depart)))  # type: ignore[arg-type]
    if every is None and not trips:
        fields.problems.add(f"{fields.where}: needs 'every_min' (minutes between random runs) or "
                            "[[emergency.vehicles]] entries (origin, destination, depart_s)")
    if edges and every is None:
        fields.problem("edges", "are the random runs' origins and destinations: give 'every_min' too")
    return EmergencyConfig(tuple(sorted(trips, key=lambda x: x.depart_s)), every, edges)


def _successors(network: RoadNetwork) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for m in network.movements:
        if m.turn != "crossing":
            out.setdefault(m.from_edge, set()).add(m.to_edge)
    return out


def _reachable_from(successors: dict[str, set[str]], start: str) -> set[str]:
    seen, frontier = {start}, [start]
    while frontier:
        frontier = [n for e in frontier for n in successors.get(e, ()) if n not in seen]
        seen.update(frontier)
    return seen


def fringe_edges(network: RoadNetwork) -> tuple[str, ...]:
    """Edges where vehicles enter (fed by no movement) or leave (feeding none) the network, sorted."""
    succ = _successors(network)
    fed = {t for ts in succ.values() for t in ts}
    entries = {e for e in succ if e not in fed}
    exits = {t for t in fed if t not in succ}
    return tuple(sorted(entries | exits))


def check_emergency_edges(config: EmergencyConfig, network: RoadNetwork, where: str) -> list[str]:
    """Problems with the section's edges: unknown to the network, or a given run without a route."""
    succ = _successors(network)
    known = set(network.edges)
    problems = [f"{where}: edges: {e!r} is not an edge of {network.path.name}" for e in config.edges if e not in known]
    for i, trip in enumerate(config.vehicles):
        place = f"{where}: vehicles[{i}]"
        bad = [(k, e) for k, e in (("origin", trip.origin), ("destination", trip.destination)) if e not in known]
        problems += [f"{place}: {k} {e!r} is not an edge of {network.path.name}" for k, e in bad]
        if not bad and trip.destination not in _reachable_from(succ, trip.origin):
            problems.append(f"{place}: no route from {trip.origin!r} to {trip.destination!r} in {network.path.name}; "
                            "expected a destination vehicles can reach from the origin")
    return problems


def emergency_trips(config: EmergencyConfig, network: RoadNetwork, begin_s: float, end_s: float,
                    seed: int) -> list[EmergencyTrip]:
    """The runs of one simulation: the given ones and the random ones for ``seed``, by departure.

    Raises
    ------
    ValueError
        If random runs are asked for but no two candidate edges are joined by a route.
    """
    trips = [t for t in config.vehicles if begin_s <= t.depart_s < end_s]
    if config.every_min is not None:
        period = config.every_min * 60.0
        departures = [begin_s + k * period for k in range(1, int((end_s - begin_s) // period))]
        succ = _successors(network)
        candidates = config.edges or fringe_edges(network)
        origins = [e for e in candidates if e in succ]
        reach = {o: [d for d in candidates if d != o and d in _reachable_from(succ, o)] for o in origins}
        origins = [o for o in origins if reach[o]]
        if departures and not origins:
            msg = (f"emergency runs: no two of the {len(candidates)} candidate edges are joined by a route in "
                   f"{network.path.name}; give [emergency] edges that are")
            raise ValueError(msg)
        rng = np.random.default_rng([int(seed), 20])
        for depart in departures:
            origin = origins[int(rng.integers(len(origins)))]
            destination = reach[origin][int(rng.integers(len(reach[origin])))]
            trips.append(EmergencyTrip(origin, destination, depart))
    return sorted(trips, key=lambda x: x.depart_s)


def emergency_routes_xml(trips: Iterable[EmergencyTrip]) -> str:
    """A SUMO route file of the runs: the :data:`EMERGENCY_TYPE` type and one ``<trip>`` per run."""
    lines = ["<routes>",
             f'    <vType id="{EMERGENCY_TYPE}" vClass="emergency" speedFactor="1" speedDev="0" color="1,0,0"/>']
    for k, t in enumerate(trips):
        lines.append(f'    <trip id="emergency_{k}" type="{EMERGENCY_TYPE}" depart="{t.depart_s:.1f}" '
                     f'from={quoteattr(t.origin)} to={quoteattr(t.destination)} departLane="best" departSpeed="max"/>')
    lines.append("</routes>")
    return "\n".join(lines) + "\n"
