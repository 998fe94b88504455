"""Max-pressure control (Varaiya 2013), acyclic and cyclic.

The pressure of a phase is the sum over the movements it serves of saturation flow x
(upstream queue - turning-ratio-weighted downstream queue); the light serves the phase of
highest pressure. The downstream queue of a movement is read from the neighbouring light's
approach queues, weighted by the turning ratios there, when that light is observed, and from
the vehicles on the movement's exit lanes otherwise.

One :class:`PressureModel` per network holds the arrays of every light and computes all
pressures in one numba kernel call (:meth:`PressureModel.decide_all`); each light's
:class:`MaxPressureController` shares it, and exposes it to the twin as its ``batch`` so that
the twin asks for every light's decision in one call per step.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._kernels.control import _downstream_queues, _phase_pressures
from .base import Observation, green_phase_movements, phases_after, register_controller

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = [
    "PressureModel",
    "MaxPressureController",
    "pressure_model",
    "phase_pressures",
    "downstream_queues",
    "default_turn_ratios",
]


def default_turn_ratios(network: RoadNetwork) -> np.ndarray:
    """Turning ratio of every movement (fraction of its approach edge's traffic), from lane use.

    Without measured flows, each movement's share of its approach is its share of the
    approach's saturation flow. Crossings get 0.
    """
    arr = network.to_arrays()
    sat = arr.mov_sat_flow_vph
    ratios = np.zeros(len(network.movements), dtype=np.float64)
    for e in range(len(arr.edge_ids)):
        movs = arr.edge_out_mov[arr.edge_out_ptr[e] : arr.edge_out_ptr[e + 1]]
        total = sat[movs].sum()
        if total > 0:
            ratios[movs] = sat[movs] / total
    return ratios


def downstream_queues(
    network: RoadNetwork, turn_ratio: np.ndarray, upstream: np.ndarray, observed: np.ndarray, exit_vehicles: np.ndarray
) -> np.ndarray:
    """Return the turning-ratio-weighted downstream queue (vehicles) of every movement.

    Kernel: :func:`citybrain._kernels.control._downstream_queues`.
    """
    arr = network.to_arrays()
    return _downstream_queues(
        arr.mov_to_edge,
        arr.edge_out_ptr,
        arr.edge_out_mov,
        np.ascontiguousarray(turn_ratio, dtype=np.float64),
        np.ascontiguousarray(upstream, dtype=np.float64),
        np.ascontiguousarray(observed, dtype=np.uint8),
        np.ascontiguousarray(exit_vehicles, dtype=np.float64),
    )


def phase_pressures(
    tls_phase_ptr: np.ndarray,
    phase_mov_ptr: np.ndarray,
    phase_mov: np.ndarray,
    sat_flow_vph: np.ndarray,
    upstream: np.ndarray,
    downstream: np.ndarray,
) -> np.ndarray:
    """Return the pressure (veh^2/s) of every phase of every light, CSR-indexed.

    Kernel: :func:`citybrain._kernels.control._phase_pressures`.
    """
    return _phase_pressures(
        np.ascontiguousarray(tls_phase_ptr, dtype=np.int64),
        np.ascontiguousarray(phase_mov_ptr, dtype=np.int64),
        np.ascontiguousarray(phase_mov, dtype=np.int64),
        np.ascontiguousarray(sat_flow_vph, dtype=np.float64),
        np.ascontiguousarray(upstream, dtype=np.float64),
        np.ascontiguousarray(downstream, dtype=np.float64),
    )


class PressureModel:
    """The max-pressure state of one network: phase-to-movement arrays and latest queues.

    Parameters
    ----------
    network
        The road network.
    turn_ratio
        Turning ratio per movement (length ``len(network.movements)``); defaults to
        :func:`default_turn_ratios`.
    """

    def __init__(self, network: RoadNetwork, turn_ratio: np.ndarray | None = None) -> None:
        self.network = network
        n = len(network.movements)
        self.turn_ratio = default_turn_ratios(network) if turn_ratio is None else np.asarray(turn_ratio, dtype=np.float64)
        if self.turn_ratio.shape != (n,):
            msg = f"turn_ratio must have one value per movement ({n}), got shape {self.turn_ratio.shape}."
            raise ValueError(msg)
        self.tls_ids = tuple(sorted(network.programs))
        self._tls_pos = {t: i for i, t in enumerate(self.tls_ids)}
        tls_ptr, phase_ptr, phase_mov, phase_index = [0], [0], [], []
        for tls in self.tls_ids:
            for k, served in green_phase_movements(network, tls).items():
                phase_mov.extend(served)
                phase_ptr.append(len(phase_mov))
                phase_index.append(k)
            tls_ptr.append(len(phase_index))
        self.tls_phase_ptr = np.array(tls_ptr, dtype=np.int64)
        self.phase_mov_ptr = np.array(phase_ptr, dtype=np.int64)
        self.phase_mov = np.array(phase_mov, dtype=np.int64)
        self.phase_index = np.array(phase_index, dtype=np.int64)
        self.upstream = np.zeros(n, dtype=np.float64)
        self.exit_vehicles = np.zeros(n, dtype=np.float64)
        self.observed = np.zeros(n, dtype=np.uint8)
        self._phases_of = {
            tls: (int(tls_ptr[t]), int(tls_ptr[t + 1]), [int(k) for k in phase_index[tls_ptr[t] : tls_ptr[t + 1]]])
            for t, tls in enumerate(self.tls_ids)
        }
        self._movement_index: dict[tuple[int, ...], np.ndarray] = {}

    def update(self, observation: Observation) -> None:
        """Store one light's latest queues."""
        movs = self._movement_index.get(observation.movements)
        if movs is None:
            movs = self._movement_index[observation.movements] = np.asarray(observation.movements, dtype=np.int64)
        self.upstream[movs] = observation.movement_vehicles
        self.exit_vehicles[movs] = observation.movement_out_vehicles
        self.observed[movs] = 1

    def _flat_pressures(self) -> list[float]:
        """Pressure of every green phase of every light, in the order of ``phase_index``."""
        down = downstream_queues(self.network, self.turn_ratio, self.upstream, self.observed, self.exit_vehicles)
        flat = phase_pressures(
            self.tls_phase_ptr, self.phase_mov_ptr, self.phase_mov, self.network.to_arrays().mov_sat_flow_vph,
            self.upstream, down,
        )
        return flat.tolist()

    def _of(self, tls: str, flat: list[float]) -> dict[int, float]:
        """One light's pressures by program phase index."""
        start, end, phases = self._phases_of[tls]
        return dict(zip(phases, flat[start:end], strict=True))

    def decide_all(self, observations: Mapping[str, Observation], *, cyclic: bool = False) -> dict[str, int | None]:
        """Update with every light's observation, then choose every light's next green at once."""
        for obs in observations.values():
            self.update(obs)
        flat = self._flat_pressures()
        return {tls: choose_phase(self._of(tls, flat), obs, cyclic=cyclic) for tls, obs in observations.items()}


def choose_phase(pressure: Mapping[int, float], observation: Observation, *, cyclic: bool) -> int | None:
    """Pick the next green from phase pressures; ``None`` keeps the current green.

    Acyclic: the phase of highest pressure (the current one on a tie). Cyclic: keep the
    current phase while its pressure is the highest, else move to the next phase in program
    order with positive pressure (skipping the others), or simply the next if none has.
    """
    current = observation.green
    best = max(pressure.values(), default=0.0)
    if current is not None and pressure.get(current, -np.inf) >= best:
        return None
    if not cyclic or current is None:
        return max(pressure, key=lambda k: (pressure[k], -k))
    following = phases_after(observation)
    return next((k for k in following if pressure.get(k, 0.0) > 0), following[0])


class _Batch:
    """The twin's batch hook: every light of one network decided in one kernel call."""

    def __init__(self, model: PressureModel, cyclic: bool) -> None:
        self.model, self.cyclic = model, cyclic

    def decide_all(self, observations: Mapping[str, Observation]) -> dict[str, int | None]:
        return self.model.decide_all(observations, cyclic=self.cyclic)


_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def pressure_model(network: RoadNetwork) -> PressureModel:
    """The shared :class:`PressureModel` of a network (built on first use)."""
    if network not in _MODELS:
        _MODELS[network] = (PressureModel(network), {})
    return _MODELS[network][0]


def _shared_batch(network: RoadNetwork, cyclic: bool) -> _Batch:
    model = pressure_model(network)
    batches = _MODELS[network][1]
    if cyclic not in batches:
        batches[cyclic] = _Batch(model, cyclic)
    return batches[cyclic]


class MaxPressureController:
    """Max-pressure control of one light, sharing its network's :class:`PressureModel`.

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    cyclic
        Serve phases in program order (skipping phases without pressure) instead of any order.
    """

    program_driven = False

    def __init__(self, network: RoadNetwork, tls: str, *, cyclic: bool = False) -> None:
        self.tls = tls
        self.cyclic = cyclic
        self.name = "maxpressure-cyclic" if cyclic else "maxpressure"
        self.model = pressure_model(network)
        self.batch = _shared_batch(network, cyclic)

    def decide(self, observation: Observation) -> int | None:
        """Update the model with this light's queues and return its next green (or ``None``)."""
        return self.model.decide_all({self.tls: observation}, cyclic=self.cyclic)[self.tls]


register_controller("maxpressure", MaxPressureController)
register_controller("maxpressure-cyclic", lambda network, tls: MaxPressureController(network, tls, cyclic=True))
