"""Emulated stop-line cameras: counts per movement and per approach, as a count file.

Every approach edge of a signalised junction gets one camera (``cam_<junction>_<edge>``)
that counts the vehicles crossing its stop line, per counting interval, for each movement
(from-edge -> to-edge) and as an approach total. A vehicle crosses when it leaves the
approach's lanes, and the lanes feeding them through unsignalised junctions up to
:data:`~citybrain.control.APPROACH_REACH_M` back, with its route already past the approach
edge: real networks have approach edges of 1-10 m that a car crosses between two steps
without ever being on them. The true counts are kept beside what the cameras report, which
may be degraded by

- a detection rate: each crossing is seen with probability ``detection_rate``;
- noise: each reported count is multiplied by ``1 + N(0, noise_sd)`` and rounded (>= 0);
- outages: a camera reports nothing for an interval, at random (``outage_rate``) or as
  scheduled.

With queue readings (:class:`simulation.queues.QueueReadings`) every approach-total row also
carries ``queue_veh``, the vehicles queued on the approach at the interval's end (blank on
movement rows), and the registry the cameras' ``range_m``.

The cameras also read plates: each crossing's plate (the twin's vehicle id) is read with
probability ``read_rate`` and then read wrong (one character changed) with probability
``misread_rate``; the sightings are a raw camera feed, hashed by
:func:`citybrain.counts.sightings.read_sightings` when the engine reads them.

Tables (pandas DataFrames; times in seconds from the scenario's begin, ``to_edge`` empty
for an approach total):

counts
    the count schema, :data:`citybrain.counts.COUNT_COLUMNS`
truth
    ``interval_start, interval_s, junction, from_edge, to_edge, count``
registry
    the registry schema, :data:`citybrain.counts.REGISTRY_COLUMNS` (``lanes``: the lane ids,
    space-separated)
sightings
    the sightings schema, :data:`citybrain.counts.sightings.SIGHTING_COLUMNS` (``time_s``:
    when the vehicle crossed the stop line)

:meth:`CameraCounts.count_table` hands the counts to the engine as a validated
:class:`citybrain.counts.CountTable`, without a file in between.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from citybrain.control import APPROACH_REACH_M
from citybrain.counts import COUNT_COLUMNS, QUEUE_COLUMN, REGISTRY_COLUMNS, CountTable, counts_from_frame
from citybrain.counts.sightings import SIGHTING_COLUMNS
from citybrain.network import RoadNetwork

from .scenario import CameraConfig

if TYPE_CHECKING:
    from .queues import QueueReadings

__all__ = [
    "TRUTH_COLUMNS",
    "Camera",
    "CameraCounts",
    "cameras_for_network",
    "CameraCounter",
    "write_camera_tables",
]

#: Columns of the true counts (what the cameras would report if perfect; no camera id).
TRUTH_COLUMNS = ["interval_start", "interval_s", "junction", "from_edge", "to_edge", "count"]


@dataclass(frozen=True, slots=True)
class Camera:
    """One stop-line camera on the approach ``from_edge`` of ``junction``.

    Attributes
    ----------
    camera_id : str
        ``cam_<junction>_<from_edge>``.
    junction, from_edge : str
        SUMO junction and approach edge ids.
    to_edges : tuple of str
        Exit edges of the movements it counts.
    lanes : tuple of str
        Approach lanes it watches.
    movement_lanes : tuple of tuple of str
        Per exit edge, the approach lanes of that movement.
    feeder_lanes : tuple of str
        Lanes feeding the approach lanes through unsignalised junctions, up to
        :data:`~citybrain.control.APPROACH_REACH_M` back (empty unless the approach is short).
    """

    camera_id: str
    junction: str
    from_edge: str
    to_edges: tuple[str, ...]
    lanes: tuple[str, ...]
    movement_lanes: tuple[tuple[str, ...], ...]
    feeder_lanes: tuple[str, ...] = ()

    @property
    def watch_lanes(self) -> tuple[str, ...]:
        """The approach lanes and their feeders: where a counted vehicle is seen."""
        return (*self.lanes, *self.feeder_lanes)


@dataclass(frozen=True, slots=True)
class CameraCounts:
    """The tables one run's cameras produced (see the module docstring)."""

    counts: pd.DataFrame
    truth: pd.DataFrame
    registry: pd.DataFrame
    sightings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SIGHTING_COLUMNS)))

    def between(self, start_s: float, end_s: float) -> CameraCounts:
        """Return the counts and true counts of the intervals within ``[start_s, end_s]``.

        Parameters
        ----------
        start_s, end_s : float
            Seconds from the scenario's begin; an interval is kept when it starts at or after
            ``start_s`` and ends at or before ``end_s``.
        """

        def within(frame: pd.DataFrame) -> pd.DataFrame:
            start = frame["interval_start"]
            keep = (start >= start_s - 1e-9) & (start + frame["interval_s"] <= end_s + 1e-9)
            return frame[keep].reset_index(drop=True)

        t = self.sightings["time_s"].astype(float)
        sightings = self.sightings[(t >= start_s - 1e-9) & (t < end_s)].reset_index(drop=True)
        return CameraCounts(
            counts=within(self.counts), truth=within(self.truth), registry=self.registry, sightings=sightings
        )

    def count_table(
        self, network: RoadNetwork | None = None, *, strict: bool = True, source: str = "the twin's cameras"
    ) -> CountTable:
        """Validate the counts once and return them as a :class:`~citybrain.counts.CountTable`.

        The counts are checked against the cameras' registry and, when given, the network
        (:func:`citybrain.counts.counts_from_frame`); the table's ``report`` is the full
        validation report.

        Parameters
        ----------
        network : RoadNetwork or None
            The scenario's network.
        strict : bool
            Raise on any problem (``True``), or drop the rows with problems and keep the
            report in the table (``False``).
        source : str
            Name of the counts in the report's messages.

        Raises
        ------
        ValidationError
            With every problem listed: in strict mode for any problem, else when no count is
            usable (e.g. every camera was out).
        """
        registry = self.registry.assign(lanes=self.registry["lanes"].str.split().str.len())
        return counts_from_frame(self.counts, network, strict=strict, registry=registry, source=source)


def cameras_for_network(network: RoadNetwork) -> tuple[Camera, ...]:
    """Return one camera per approach edge of every signalised junction, sorted by id."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(dict)
    for m in network.movements:
        if m.tls is None or m.turn == "crossing":
            continue
        groups[(m.junction, m.from_edge)].setdefault(m.to_edge, []).extend(m.from_lanes)
    cams = []
    for (junction, from_edge), moves in groups.items():
        lanes = tuple(sorted({x for ls in moves.values() for x in ls}))
        to_edges = tuple(sorted(moves))
        cams.append(
            Camera(
                camera_id=f"cam_{junction}_{from_edge}",
                junction=junction,
                from_edge=from_edge,
                to_edges=to_edges,
                lanes=lanes,
                movement_lanes=tuple(tuple(dict.fromkeys(moves[t])) for t in to_edges),
                feeder_lanes=tuple(lane for lane, _ in network.upstream_lanes(lanes, APPROACH_REACH_M)),
            )
        )
    return tuple(sorted(cams, key=lambda c: c.camera_id))


class CameraCounter:
    """Count stop-line crossings during a run and turn them into camera tables.

    Parameters
    ----------
    cameras : tuple of Camera
        From :func:`cameras_for_network`.
    config : CameraConfig
        Interval, detection rate, noise and outages.
    begin_s, end_s : float
        The scenario's time window (seconds).
    route : callable
        ``route(vehicle_id) -> tuple of str``: the vehicle's route edges (asked once per
        vehicle and approach, when it first appears there).
    route_index : callable
        ``route_index(vehicle_id) -> int``: index in its route of the edge it is on (or last
        left, while inside a junction). Both raise when the vehicle has left the simulation.
    queues : QueueReadings or None
        The cameras' queue readings, reported as ``queue_veh`` on approach totals.
    """

    def __init__(
        self,
        cameras: tuple[Camera, ...],
        config: CameraConfig,
        begin_s: float,
        end_s: float,
        route: Callable[[str], tuple[str, ...]],
        route_index: Callable[[str], int],
        queues: QueueReadings | None = None,
    ) -> None:
        self.cameras = cameras
        self.queues = queues
        self.config = config
        self.begin_s, self.end_s = float(begin_s), float(end_s)
        self._route, self._route_index = route, route_index
        self.lanes = tuple(sorted({x for c in cameras for x in c.watch_lanes}))
        self._edge_lanes = {c.from_edge: c.watch_lanes for c in cameras}
        # per approach edge, tracked vehicles -> (route index of the edge, exit edge), or None
        # for a vehicle that will not cross this stop line
        self._tracked: dict[str, dict[str, tuple[int, str] | None]] = {e: {} for e in self._edge_lanes}
        self._true: dict[tuple[int, str, str], int] = defaultdict(int)
        self._camera_of = {c.from_edge: c.camera_id for c in cameras}
        self._crossings: list[tuple[float, str, str]] = []  # (s from the begin, camera, vehicle)

    def update(
        self, step_start_s: float, lane_ids: dict[str, tuple[str, ...]], arrived: tuple[str, ...]
    ) -> None:
        """Record the crossings of one step.

        Parameters
        ----------
        step_start_s : float
            Simulation time at the start of the step (seconds); crossings are dated by it.
        lane_ids : dict of str to tuple of str
            Vehicle ids per watched lane after the step (every lane in :attr:`lanes`).
        arrived : tuple of str
            Vehicles that arrived in the step (they did not cross a stop line).
        """
        k = int((step_start_s - self.begin_s) // self.config.interval_s)
        gone_arrived = set(arrived)
        for edge, lanes in self._edge_lanes.items():
            before = self._tracked[edge]
            now: dict[str, tuple[int, str] | None] = {}
            for lane in lanes:
                for v in lane_ids[lane]:
                    now[v] = before[v] if v in before else self._target(v, edge)
            for v, target in before.items():
                if v in now or target is None or v in gone_arrived:
                    continue
                crossed = self._crossed(v, target[0])
                if crossed:
                    self._true[(k, edge, target[1])] += 1
                    self._crossings.append((step_start_s - self.begin_s, self._camera_of[edge], v))
                elif crossed is not None:  # inside a junction upstream: still to cross
                    now[v] = target
            self._tracked[edge] = now

    def _target(self, vehicle: str, edge: str) -> tuple[int, str] | None:
        """Where ``vehicle`` meets ``edge`` in its route and the edge it takes next, if it does."""
        try:
            route, idx = self._route(vehicle), self._route_index(vehicle)
        except Exception:  # noqa: BLE001 - vehicle left the simulation; nothing to count
            return None
        for pos in range(max(idx, 0), len(route) - 1):
            if route[pos] == edge:
                return pos, route[pos + 1]
        return None

    def _crossed(self, vehicle: str, pos: int) -> bool | None:
        """Whether a vehicle gone from the watched lanes is past route index ``pos``; None if gone."""
        try:
            return self._route_index(vehicle) >= pos
        except Exception:  # noqa: BLE001 - vehicle left the simulation; nothing to count
            return None

    def tables(self, seed: int) -> CameraCounts:
        """Return the camera counts, true counts and registry of the run.

        Parameters
        ----------
        seed : int
            Seed of the detection, noise and outage draws (the run's seed).
        """
        cfg = self.config
        rng = np.random.default_rng([int(seed), 0xCA3E])
        n_int = max(1, math.ceil((self.end_s - self.begin_s) / cfg.interval_s - 1e-9))
        truth_rows, count_rows, reg_rows = [], [], []
        for cam in self.cameras:
            reg_rows.append((cam.camera_id, cam.junction, cam.from_edge, "", " ".join(cam.lanes)))
            for to, lanes in zip(cam.to_edges, cam.movement_lanes, strict=True):
                reg_rows.append((cam.camera_id, cam.junction, cam.from_edge, to, " ".join(lanes)))
        for k in range(n_int):
            start = k * cfg.interval_s
            length = min(cfg.interval_s, self.end_s - self.begin_s - start)
            for cam in self.cameras:
                true = [self._true.get((k, cam.from_edge, to), 0) for to in cam.to_edges]
                for to, n in zip(cam.to_edges, true, strict=True):
                    truth_rows.append((start, length, cam.junction, cam.from_edge, to, n))
                truth_rows.append((start, length, cam.junction, cam.from_edge, "", sum(true)))
                seen = [int(rng.binomial(n, cfg.detection_rate)) for n in true]
                down = rng.random() < cfg.outage_rate or any(
                    o.camera_id == cam.camera_id and o.start_s < start + length and o.end_s > start
                    for o in cfg.outages
                )
                if down:
                    continue
                queue = () if self.queues is None else (math.nan,)
                for to, n in zip(cam.to_edges, seen, strict=True):
                    row = (start, length, cam.camera_id, cam.junction, cam.from_edge, to)
                    count_rows.append((*row, self._noisy(n, rng), *queue))
                if self.queues is not None:
                    queue = (self.queues.value(k, cam.camera_id),)
                row = (start, length, cam.camera_id, cam.junction, cam.from_edge, "")
                count_rows.append((*row, self._noisy(sum(seen), rng), *queue))
        registry = pd.DataFrame(reg_rows, columns=list(REGISTRY_COLUMNS))
        count_columns = list(COUNT_COLUMNS)
        if self.queues is not None:
            count_columns.append(QUEUE_COLUMN)
            registry["range_m"] = self.queues.range_m
        return CameraCounts(
            counts=pd.DataFrame(count_rows, columns=count_columns),
            truth=pd.DataFrame(truth_rows, columns=TRUTH_COLUMNS),
            registry=registry,
            sightings=self._sightings(seed),
        )

    def _sightings(self, seed: int) -> pd.DataFrame:
        """The plates read at the crossings: ``read_rate`` of them, ``misread_rate`` of those wrong."""
        rng = np.random.default_rng([int(seed), 0x5167])  # its own stream: the counts do not change
        read = rng.random(len(self._crossings)) < self.config.read_rate
        rows = []
        for (t, camera, vehicle), ok in zip(self._crossings, read, strict=True):
            if not ok:
                continue
            plate = _misread(vehicle, rng) if rng.random() < self.config.misread_rate else vehicle
            rows.append((t, camera, plate))
        return pd.DataFrame(rows, columns=list(SIGHTING_COLUMNS))

    def _noisy(self, n: int, rng: np.random.Generator) -> int:
        if self.config.noise_sd <= 0:
            return n
        return max(0, int(round(n * (1.0 + rng.normal(0.0, self.config.noise_sd)))))


_PLATE_CHARACTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def _misread(plate: str, rng: np.random.Generator) -> str:
    """``plate`` with one character changed (or one appended to an empty plate)."""
    if not plate:
        return str(rng.choice(list(_PLATE_CHARACTERS)))
    i = int(rng.integers(len(plate)))
    other = [c for c in _PLATE_CHARACTERS if c != plate[i]]
    return plate[:i] + str(rng.choice(other)) + plate[i + 1 :]


def write_camera_tables(tables: CameraCounts, folder: str | Path, prefix: str, *, sightings: bool = False) -> list[Path]:
    """Write ``<prefix>counts.csv``, ``<prefix>truth.csv``, ``<prefix>cameras.csv`` (and ``<prefix>sightings.csv``).

    The sightings are the cameras' raw feed (unhashed plates), so they are written only when
    asked (``sightings=True``: ``simulate --cameras-out``), never into a run's report folder.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    frames = [("counts", tables.counts), ("truth", tables.truth), ("cameras", tables.registry)]
    for name, frame in frames + ([("sightings", tables.sightings)] if sightings else []):
        path = folder / f"{prefix}{name}.csv"
        frame.to_csv(path, index=False)
        out.append(path)
    return out
