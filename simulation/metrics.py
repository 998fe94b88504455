"""Run metrics: the RESCO delay and its companions, from SUMO's outputs and per-step queues.

Definitions (per run)
---------------------
delay_s
    RESCO's metric: mean over every tripinfo entry of a vehicle that was inserted, finished
    or not (``--tripinfo-output.write-unfinished``), of ``timeLoss + departDelay`` (s).
delay_all_s
    The same mean with each never-inserted vehicle counted too, from its scheduled departure
    to the end of the window (SUMO's ``--tripinfo-output.write-undeparted`` entries, whose
    ``departDelay`` is exactly that). ``None`` when the SUMO version cannot write them.
resco_delay_s
    The figure RESCO's result code computes (``resco_benchmark/utils/readXML.py`` in
    Pi-Star-Lab/RESCO): the sum over the tripinfo entries of inserted vehicles of ``timeLoss +
    departDelay``, plus, for every ``<vehicle>`` of the route files scheduled after the scheduled
    departure of the last vehicle inserted (the entry of largest ``depart``) and before the
    window's end, the time from its scheduled departure to the window's end, divided by the
    entries and those vehicles together. As in RESCO, ``<trip>`` and ``<flow>`` demand adds
    nothing (on cologne1 and the Ingolstadt scenarios it equals ``delay_s``).
trip_time_s, waiting_s, stops
    Means over the same entries as ``delay_s`` of ``duration``, ``waitingTime`` and
    ``waitingCount`` (number of stops).
emergency
    The emergency vehicles' trips (``simulation.emergency``), reported apart and left out of
    every figure above: ``count`` (inserted), ``finished``, and the means of ``trip_time_s``,
    ``delay_s``, ``waiting_s`` and ``stops`` over the finished ones (an unfinished emergency run
    is counted but has no travel time yet).
queue_veh
    Mean over steps of the number of halting vehicles (speed < 0.1 m/s) on the incoming
    lanes of signalised junctions.
arrived, loaded, teleports, never_inserted
    Vehicles that reached their destination, vehicles loaded, teleports started (0 with
    ``--time-to-teleport -1``), vehicles still waiting for insertion at the end.
junction_delay_s, junction_queue_veh
    Per signalised junction: time loss on its approach edges per vehicle that used them
    (from SUMO's edge data), and the mean number of halting vehicles on its approach lanes.

Lane queues over time (the main job's queue figures) come from a SUMO ``laneData`` output
on the signalised approaches (:func:`lane_queue_additional`, :func:`read_lane_queues`).
"""

from __future__ import annotations

import math
import statistics
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from citybrain.exceptions import SimulationError
from citybrain.network import RoadNetwork

__all__ = [
    "QUEUE_PERIOD_S",
    "TripStats",
    "read_tripinfo",
    "resco_delay",
    "read_edge_data",
    "junction_delay",
    "lane_queue_additional",
    "read_lane_queues",
    "summarise",
]

#: Period (s) of the per-lane queue output.
QUEUE_PERIOD_S = 60


@dataclass(frozen=True, slots=True)
class TripStats:
    """Vehicle-level metrics from one tripinfo file (seconds unless stated).

    Attributes
    ----------
    delay_s, delay_all_s, trip_time_s, waiting_s, stops
        See the module docstring; ``delay_all_s`` is ``None`` without undeparted entries.
    entries : int
        Tripinfo entries of inserted vehicles (finished and unfinished).
    finished : int
        Entries of vehicles that arrived.
    never_inserted : int
        Entries of vehicles never inserted (0 when SUMO did not write them).
    emergency : dict or None
        The emergency vehicles' figures (module docstring), ``None`` when not asked for.
    """

    delay_s: float
    delay_all_s: float | None
    trip_time_s: float
    waiting_s: float
    stops: float
    entries: int
    finished: int
    never_inserted: int
    emergency: dict | None = None


def read_tripinfo(path: str | Path, *, has_undeparted: bool = True, emergency_type: str | None = None) -> TripStats:
    """Read a tripinfo file and compute the RESCO delay and its companions.

    Parameters
    ----------
    path : str or Path
        SUMO ``--tripinfo-output`` file, written with ``write-unfinished``.
    has_undeparted : bool
        Whether SUMO also wrote never-inserted vehicles (``write-undeparted``); if not,
        ``delay_all_s`` is ``None``.
    emergency_type : str or None
        The vehicle type of emergency vehicles: their entries are left out of the headline
        figures and summarised in ``emergency``.

    Raises
    ------
    SimulationError
        If the file is missing or not valid XML (SUMO did not finish writing it).
    """
    path = Path(path)
    delay = trip = wait = stops = 0.0
    n = finished = undeparted = 0
    undeparted_delay = 0.0
    ev: list[tuple[bool, float, float, float, float]] = []  # finished, duration, delay, waiting, stops
    try:
        for _, elem in ET.iterparse(path):
            if elem.tag != "tripinfo":
                continue
            if emergency_type is not None and elem.get("vType") == emergency_type:
                if float(elem.get("depart", 0.0)) >= 0:
                    ev.append((float(elem.get("arrival", -1.0)) >= 0, float(elem.get("duration", 0.0)),
                               float(elem.get("timeLoss", 0.0)) + float(elem.get("departDelay", 0.0)),
                               float(elem.get("waitingTime", 0.0)), float(elem.get("waitingCount", 0.0))))
                elem.clear()
                continue
            depart_delay = float(elem.get("departDelay", 0.0))
            if float(elem.get("depart", 0.0)) < 0:
                undeparted += 1
                undeparted_delay += depart_delay
            else:
                n += 1
                delay += float(elem.get("timeLoss", 0.0)) + depart_delay
                trip += float(elem.get("duration", 0.0))
                wait += float(elem.get("waitingTime", 0.0))
                stops += float(elem.get("waitingCount", 0.0))
                if float(elem.get("arrival", -1.0)) >= 0:
                    finished += 1
            elem.clear()
    except FileNotFoundError as exc:
        msg = f"Tripinfo output {path} was not written (SUMO ended early?)."
        raise SimulationError(msg) from exc
    except ET.ParseError as exc:
        msg = f"Tripinfo output {path} is not valid XML ({exc}); SUMO did not finish it."
        raise SimulationError(msg) from exc
    mean = (lambda s: s / n) if n else (lambda s: math.nan)
    total = n + undeparted
    all_delay = (delay + undeparted_delay) / total if total else math.nan
    return TripStats(
        delay_s=mean(delay),
        delay_all_s=all_delay if has_undeparted else None,
        trip_time_s=mean(trip),
        waiting_s=mean(wait),
        stops=mean(stops),
        entries=n,
        finished=finished,
        never_inserted=undeparted,
        emergency=_emergency_stats(ev) if emergency_type is not None else None,
    )


def _emergency_stats(trips: list[tuple[bool, float, float, float, float]]) -> dict:
    """``count``, ``finished`` and the means over finished trips (``None`` without any) of the emergency runs."""
    done = [x for x in trips if x[0]]

    def mean(i):
        return statistics.fmean(x[i] for x in done) if done else None

    return {"count": len(trips), "finished": len(done), "trip_time_s": mean(1), "delay_s": mean(2),
            "waiting_s": mean(3), "stops": mean(4)}
def resco_delay(tripinfo: str | Path, route_files: tuple[str | Path, ...] | list[str | Path], end_s: float) -> float:
    """Return RESCO's delay (s/veh) of one run: tripinfo delay plus never-inserted vehicles' waits.

    See ``resco_delay_s`` in the module docstring. The scheduled departure of the last vehicle
    inserted is its ``depart - departDelay`` (what RESCO looks up in the route file).

    Parameters
    ----------
    tripinfo : str or Path
        SUMO ``--tripinfo-output`` file (entries with ``depart < 0``, SUMO's undeparted
        vehicles, are left out: RESCO's SUMO did not write them).
    route_files : sequence of str or Path
        The run's route files; their ``<vehicle>`` elements are the scheduled vehicles.
    end_s : float
        End of the window (seconds).

    Raises
    ------
    SimulationError
        If a file is missing or not valid XML.
    """
    total, n, last_depart, last_scheduled = 0.0, 0, -math.inf, -math.inf
    for elem in _iter_tags(tripinfo, "tripinfo", "Tripinfo output"):
        depart = float(elem.get("depart", -1.0))
        if depart < 0:
            continue
        depart_delay = float(elem.get("departDelay", 0.0))
        n += 1
        total += float(elem.get("timeLoss", 0.0)) + depart_delay
        if depart > last_depart:
            last_depart, last_scheduled = depart, depart - depart_delay
    never = 0
    if n:
        for path in route_files:
            for elem in _iter_tags(path, "vehicle", "Route file"):
                try:
                    scheduled = float(elem.get("depart", ""))
                except ValueError:  # "triggered", "now" ...: not a scheduled time
                    continue
                if last_scheduled < scheduled < end_s:
                    never += 1
                    total += end_s - scheduled
    return total / (n + never) if n + never else math.nan


def _iter_tags(path: str | Path, tag: str, what: str):
    """Yield the elements ``tag`` of an XML file as they are parsed (cleared after use)."""
    path = Path(path)
    try:
        for _, elem in ET.iterparse(path):
            if elem.tag == tag:
                yield elem
                elem.clear()
    except FileNotFoundError as exc:
        msg = f"{what} {path} was not written or is missing."
        raise SimulationError(msg) from exc
    except ET.ParseError as exc:
        msg = f"{what} {path} is not valid XML ({exc})."
        raise SimulationError(msg) from exc


def read_edge_data(path: str | Path) -> dict[str, tuple[float, int]]:
    """Read SUMO edge data and return, per edge, total time loss (s) and vehicles seen.

    Vehicles seen are those that entered the edge or were inserted on it, summed over
    intervals.

    Raises
    ------
    SimulationError
        If the file is missing or not valid XML.
    """
    out: dict[str, tuple[float, int]] = {}
    try:
        for _, elem in ET.iterparse(path):
            if elem.tag == "edge":
                loss, seen = out.get(elem.get("id", ""), (0.0, 0))
                loss += float(elem.get("timeLoss", 0.0))
                seen += int(float(elem.get("entered", 0))) + int(float(elem.get("departed", 0)))
                out[elem.get("id", "")] = (loss, seen)
            elif elem.tag == "interval":
                elem.clear()
    except (FileNotFoundError, ET.ParseError) as exc:
        msg = f"Edge data output {path} is missing or unfinished ({exc})."
        raise SimulationError(msg) from exc
    return out


def junction_delay(
    edge_data: dict[str, tuple[float, int]], approaches: dict[str, tuple[str, ...]]
) -> dict[str, float]:
    """Return per junction the time loss (s) per vehicle on its approach edges.

    Parameters
    ----------
    edge_data : dict
        From :func:`read_edge_data`.
    approaches : dict of str to tuple of str
        Approach edges per junction.
    """
    out: dict[str, float] = {}
    for junction, edges in approaches.items():
        loss = sum(edge_data.get(e, (0.0, 0))[0] for e in edges)
        seen = sum(edge_data.get(e, (0.0, 0))[1] for e in edges)
        out[junction] = loss / seen if seen else 0.0
    return out


def lane_queue_additional(folder: str | Path, network: RoadNetwork) -> tuple[Path, Path]:
    """Write a laneData definition: queues per signalised approach lane every :data:`QUEUE_PERIOD_S`.

    Parameters
    ----------
    folder : str or Path
        The run's folder (created).
    network : RoadNetwork
        The scenario's network (its signalised approach edges are watched).

    Returns
    -------
    additional, output : Path
        The additional file to give SUMO and the laneData file SUMO will write.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    edges = sorted({mv.from_edge for mv in network.movements if mv.tls is not None and mv.turn != "crossing"})
    out = folder / "lanes.xml"
    add = folder / "lanes.add.xml"
    # absolute: SUMO reads a path in an additional file relative to that file's folder
    add.write_text(f'<additional><laneData id="citybrain_queues" file="{out.absolute()}" period="{QUEUE_PERIOD_S}" '
                   f'edges="{" ".join(edges)}" excludeEmpty="true"/></additional>\n')
    return add, out


def read_lane_queues(path: str | Path) -> pd.DataFrame:
    """Return ``time_s, lane, queue_veh`` (mean halting vehicles per interval) from laneData output.

    An empty frame when SUMO wrote no file (a failed run).
    """
    path = Path(path)
    rows = []
    if not path.is_file():
        return pd.DataFrame(columns=["time_s", "lane", "queue_veh"])
    for _, elem in ET.iterparse(path):
        if elem.tag == "interval":
            b, e = float(elem.get("begin", 0)), float(elem.get("end", 0))
            span = max(e - b, 1e-9)
            for lane in elem.iter("lane"):
                rows.append((b, lane.get("id"), float(lane.get("waitingTime", 0.0)) / span))
            elem.clear()
    return pd.DataFrame(rows, columns=["time_s", "lane", "queue_veh"])


def summarise(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and 95% confidence half-width (Student t) of values.

    Returns ``nan`` for what cannot be computed (no values; one value has no spread).
    """
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"mean": math.nan, "sd": math.nan, "ci95": math.nan}
    mean = statistics.fmean(clean)
    if len(clean) < 2:
        return {"mean": mean, "sd": math.nan, "ci95": math.nan}
    from scipy import stats

    sd = statistics.stdev(clean)
    half = float(stats.t.ppf(0.975, len(clean) - 1)) * sd / math.sqrt(len(clean))
    return {"mean": mean, "sd": sd, "ci95": half}
