"""Emulated queue readings of the stop-line cameras: ``queue_veh`` at each counting interval's end.

A camera on an approach reports how many vehicles are queued on it at the end of every
counting interval, as video analytics do: the vehicles halting (SUMO's halting speed, below
0.1 m/s) on the approach lanes and on the lanes feeding them through unsignalised junctions,
no farther back from the stop line than the camera's range (``range_m``, default
:data:`citybrain.counts.DEFAULT_CAMERA_RANGE_M`). A queue longer than the range is reported
as what the range holds.

Vehicles that SUMO could not insert yet (their departure time has come, the entry lane is
full) wait on the entry road beyond the model: the camera of the approach they would depart
on (their route's first edge, an approach edge or a lane the camera watches behind it) adds
them to its queue, as a camera looking up the real road would see them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from citybrain.counts import DEFAULT_CAMERA_RANGE_M
from citybrain.network import RoadNetwork

__all__ = ["QueueReadings"]


class QueueReadings:
    """Queue readings (vehicles) per camera and counting interval, taken at each interval's end.

    Parameters
    ----------
    cameras : tuple of simulation.cameras.Camera
        The cameras (:func:`simulation.cameras.cameras_for_network`).
    network : RoadNetwork
        The network they watch (lane lengths, feeder lanes).
    interval_s, begin_s, end_s : float
        Counting interval and the scenario's window (seconds); the last interval ends at
        ``end_s``.
    range_m : float
        How far back from the stop line a camera sees a queue (metres).
    """

    def __init__(
        self,
        cameras: tuple,
        network: RoadNetwork,
        interval_s: float,
        begin_s: float,
        end_s: float,
        range_m: float = DEFAULT_CAMERA_RANGE_M,
    ) -> None:
        self.range_m = float(range_m)
        self.interval_s, self.begin_s, self.end_s = float(interval_s), float(begin_s), float(end_s)
        self.n_intervals = max(1, math.ceil((self.end_s - self.begin_s) / self.interval_s - 1e-9))
        # per camera: (lane, distance of the lane's end from the stop line)
        self._lanes: dict[str, tuple[tuple[str, float], ...]] = {}
        self._entry_camera: dict[str, str] = {}  # departure edge -> camera that sees its waiting vehicles
        for cam in cameras:
            watched = [(lane, 0.0) for lane in cam.lanes]
            watched += list(network.upstream_lanes(cam.lanes, self.range_m))
            self._lanes[cam.camera_id] = tuple(watched)
            for lane, _ in watched:
                self._entry_camera.setdefault(lane.rsplit("_", 1)[0], cam.camera_id)
            self._entry_camera[cam.from_edge] = cam.camera_id
        self._values: dict[tuple[int, str], float] = {}
        self._next = 0

    def boundary_s(self, k: int) -> float:
        """Simulation time (s) at which interval ``k`` ends."""
        return min(self.begin_s + (k + 1) * self.interval_s, self.end_s)

    def due(self, t: float) -> bool:
        """Whether an interval's end has been reached at simulation time ``t`` (s) and not read yet."""
        return self._next < self.n_intervals and t >= self.boundary_s(self._next) - 1e-9

    def read(
        self,
        halted: Callable[[str], tuple[float, ...]],
        pending: Callable[[], tuple[str, ...]],
        route: Callable[[str], tuple[str, ...]],
    ) -> None:
        """Take the readings of the interval that just ended.

        Parameters
        ----------
        halted : callable
            ``halted(lane) -> distances (m)`` of the halting vehicles on a lane from its end.
        pending : callable
            ``pending() -> vehicle ids`` that SUMO could not insert yet.
        route : callable
            ``route(vehicle) -> edge ids`` of a vehicle's route.
        """
        k = self._next
        for cam, lanes in self._lanes.items():
            n = 0
            for lane, offset in lanes:
                n += sum(1 for d in halted(lane) if offset + d <= self.range_m)
            self._values[(k, cam)] = float(n)
        for vehicle in pending():
            edges = route(vehicle)
            cam = self._entry_camera.get(edges[0]) if edges else None
            if cam is not None:
                self._values[(k, cam)] += 1.0
        self._next += 1

    def value(self, k: int, camera_id: str) -> float:
        """The reading (vehicles) of camera ``camera_id`` at the end of interval ``k``; NaN if not taken."""
        return self._values.get((k, camera_id), math.nan)
