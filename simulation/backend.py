"""The SUMO seam: one backend interface over libsumo and TraCI.

Every backend offers ``load`` (start SUMO), ``watch`` (say what to observe), ``step``,
``observe``, ``apply`` (a signal command) and ``close`` (safe to call twice).

``libsumo`` (:class:`LibsumoBackend`, the default)
    SUMO linked into this process: fastest, but one simulation per process, so the
    runner gives every run its own process.
``traci`` (:class:`TraciBackend`)
    SUMO as a separate program over a labelled TraCI socket: slower, but it can drive
    any ``sumo`` binary (``sumo_binary=``), e.g. SUMO 1.9.1 to reproduce published results,
    and several runs can share one process.

TraCI reads the step's data through subscriptions, so one round trip per step fetches every
watched lane, light and counter. libsumo reads them with direct getters instead: in-process a
getter costs well under a microsecond, while subscriptions slow every SUMO step down and
rebuild a dict of dicts per step (vehicles and halting vehicles of the 4x4 grid's 160 lanes,
per simulated hour: about 0.23 s of getters against 0.6-0.7 s added by subscriptions).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import traci.constants as tc

from citybrain.exceptions import BackendUnavailableError, SimulationError
from citybrain.sumo_tools import sumo_binary as default_sumo_binary
from citybrain.sumo_tools import sumo_home

__all__ = [
    "SetState",
    "SetPhase",
    "SetProgram",
    "StepData",
    "Backend",
    "LibsumoBackend",
    "TraciBackend",
    "make_backend",
    "BACKENDS",
]

_VEH, _HALT = tc.LAST_STEP_VEHICLE_NUMBER, tc.LAST_STEP_VEHICLE_HALTING_NUMBER
_LANE_VARS = (_VEH, _HALT)
_SIM_VARS = (
    tc.VAR_LOADED_VEHICLES_NUMBER,
    tc.VAR_DEPARTED_VEHICLES_NUMBER,
    tc.VAR_ARRIVED_VEHICLES_NUMBER,
    tc.VAR_TELEPORT_STARTING_VEHICLES_NUMBER,
)
_TLS_VARS = (tc.TL_CURRENT_PHASE,)


@dataclass(frozen=True, slots=True)
class SetState:
    """Show a signal state string on a light (switches it to an online program)."""

    tls: str
    state: str


@dataclass(frozen=True, slots=True)
class SetPhase:
    """Jump a light's active program to ``phase``; optionally fix its remaining duration (s)."""

    tls: str
    phase: int
    duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class SetProgram:
    """Install and activate a static program: ``phases`` as (duration_s, state) pairs."""

    tls: str
    program_id: str
    phases: tuple[tuple[float, str], ...]


@dataclass(slots=True)
class StepData:
    """What one step's subscriptions returned.

    Attributes
    ----------
    time_s : float
        Simulation time after the step (seconds).
    lane_vehicles, lane_halting : numpy.ndarray
        Per watched lane (in :meth:`Backend.watch` order), vehicles and halting vehicles.
    lane_vehicle_ids : dict of str to tuple of str
        Vehicle ids per watched lane, when ids were asked for (else empty).
    arrived_ids : tuple of str
        Vehicles that arrived in this step, when ids were asked for (else empty).
    loaded, departed, arrived, teleports : int
        Vehicles loaded, inserted, arrived and starting a teleport in this step.
    tls_phase : dict of str to int
        Per watched light, the current program phase index.
    detector_gap_s : numpy.ndarray
        Per watched induction loop, seconds since it last saw a vehicle (empty when none).
    """

    time_s: float
    lane_vehicles: np.ndarray
    lane_halting: np.ndarray
    lane_vehicle_ids: dict[str, tuple[str, ...]]
    arrived_ids: tuple[str, ...]
    loaded: int
    departed: int
    arrived: int
    teleports: int
    tls_phase: dict[str, int]
    detector_gap_s: np.ndarray = field(default_factory=lambda: np.empty(0))


class Backend(ABC):
    """One SUMO simulation behind a common interface."""

    name: str = ""

    def __init__(self) -> None:
        self._api = None
        self._lanes: tuple[str, ...] = ()
        self._tls: tuple[str, ...] = ()
        self._ids = False
        self._detectors: tuple[str, ...] = ()
        self._closed = False

    @abstractmethod
    def load(self, args: list[str]) -> None:
        """Start SUMO with command-line ``args`` (without the program name).

        Raises
        ------
        SimulationError
            If SUMO refuses the options or the input files.
        """

    @property
    def api(self):
        """The TraCI-style domain object (``libsumo`` module or a TraCI connection)."""
        if self._api is None:
            msg = f"The {self.name} backend is not loaded; call load() first."
            raise SimulationError(msg)
        return self._api

    def version(self) -> str:
        """SUMO's version string, e.g. ``"1.28.0"``."""
        return str(self.api.getVersion()[1]).removeprefix("SUMO ").strip()

    def watch(
        self, lanes: tuple[str, ...], tls: tuple[str, ...], *, vehicle_ids: bool = False, detectors: tuple[str, ...] = ()
    ):
        """Subscribe to per-lane counts (and vehicle ids), light phases, detectors and step counters."""
        api = self.api
        self._lanes, self._tls, self._ids = tuple(lanes), tuple(tls), vehicle_ids
        self._detectors = tuple(detectors)
        for det in self._detectors:
            api.inductionloop.subscribe(det, (tc.LAST_STEP_TIME_SINCE_DETECTION,))
        lane_vars = (*_LANE_VARS, tc.LAST_STEP_VEHICLE_ID_LIST) if vehicle_ids else _LANE_VARS
        for lane in self._lanes:
            api.lane.subscribe(lane, lane_vars)
        for light in self._tls:
            api.trafficlight.subscribe(light, _TLS_VARS)
        sim_vars = (*_SIM_VARS, tc.VAR_ARRIVED_VEHICLES_IDS) if vehicle_ids else _SIM_VARS
        api.simulation.subscribe(sim_vars)

    def step(self) -> float:
        """Advance one step; return the new simulation time (seconds).

        Raises
        ------
        SimulationError
            If SUMO fails during the step.
        """
        try:
            self.api.simulationStep()
            return float(self.api.simulation.getTime())
        except SimulationError:
            raise
        except Exception as exc:
            msg = f"SUMO ({self.name}) failed in a step: {exc}"
            raise SimulationError(msg) from exc

    def observe(self) -> StepData:
        """Return the subscribed values of the last step."""
        api = self.api
        lanes = api.lane.getAllSubscriptionResults()
        rows = [lanes[x] for x in self._lanes]
        counts = np.array([(r[_VEH], r[_HALT]) for r in rows], dtype=np.int64).reshape(len(rows), 2)
        veh, halt = counts[:, 0], counts[:, 1]
        sim = api.simulation.getSubscriptionResults()
        ids: dict[str, tuple[str, ...]] = {}
        arrived_ids: tuple[str, ...] = ()
        if self._ids:
            ids = {x: tuple(r[tc.LAST_STEP_VEHICLE_ID_LIST]) for x, r in zip(self._lanes, rows, strict=True)}
            arrived_ids = tuple(sim[tc.VAR_ARRIVED_VEHICLES_IDS])
        gaps = np.empty(0)
        if self._detectors:
            loops = api.inductionloop.getAllSubscriptionResults()
            gaps = np.fromiter(
                (loops[d][tc.LAST_STEP_TIME_SINCE_DETECTION] for d in self._detectors), np.float64, len(self._detectors)
            )
        lights = api.trafficlight.getAllSubscriptionResults()
        phases = {t: int(lights[t][tc.TL_CURRENT_PHASE]) for t in self._tls}
        return StepData(
            time_s=float(api.simulation.getTime()),
            lane_vehicles=veh,
            lane_halting=halt,
            lane_vehicle_ids=ids,
            arrived_ids=arrived_ids,
            loaded=int(sim[tc.VAR_LOADED_VEHICLES_NUMBER]),
            departed=int(sim[tc.VAR_DEPARTED_VEHICLES_NUMBER]),
            arrived=int(sim[tc.VAR_ARRIVED_VEHICLES_NUMBER]),
            teleports=int(sim[tc.VAR_TELEPORT_STARTING_VEHICLES_NUMBER]),
            tls_phase=phases,
            detector_gap_s=gaps,
        )

    def apply(self, command: SetState | SetPhase | SetProgram) -> None:
        """Apply one signal command.

        Raises
        ------
        SimulationError
            If SUMO rejects it (unknown light, wrong state length ...).
        """
        tl = self.api.trafficlight
        try:
            if isinstance(command, SetState):
                tl.setRedYellowGreenState(command.tls, command.state)
            elif isinstance(command, SetPhase):
                tl.setPhase(command.tls, command.phase)
                if command.duration_s is not None:
                    tl.setPhaseDuration(command.tls, command.duration_s)
            elif isinstance(command, SetProgram):
                logic_cls = tl.Logic if hasattr(tl, "Logic") else _traci_logic_cls()
                phase_cls = tl.Phase if hasattr(tl, "Phase") else _traci_phase_cls()
                phases = [phase_cls(float(d), s) for d, s in command.phases]
                logic = logic_cls(command.program_id, 0, 0, phases)
                tl.setProgramLogic(command.tls, logic)
                tl.setProgram(command.tls, command.program_id)
                tl.setPhase(command.tls, 0)
            else:
                msg = f"Unknown signal command {command!r}."
                raise TypeError(msg)
        except (TypeError, SimulationError):
            raise
        except Exception as exc:
            msg = f"SUMO rejected {command!r}: {exc}"
            raise SimulationError(msg) from exc

    @abstractmethod
    def close(self) -> None:
        """End the simulation (flushes tripinfo and other outputs); safe to call twice."""


def _traci_logic_cls():
    import traci

    return traci.trafficlight.Logic


def _traci_phase_cls():
    import traci

    return traci.trafficlight.Phase


class LibsumoBackend(Backend):
    """SUMO linked into this process through ``libsumo`` (one simulation per process)."""

    name = "libsumo"
    _active = False

    def load(self, args: list[str]) -> None:
        """Start SUMO in this process; see :meth:`Backend.load`.

        Raises
        ------
        SimulationError
            If a libsumo simulation is already running in this process, or SUMO fails.
        BackendUnavailableError
            If libsumo is not installed.
        """
        try:
            import libsumo
        except ImportError as exc:  # pragma: no cover - a core dependency
            msg = "libsumo is not installed. Install it with: pip install 'libsumo==1.28.*'"
            raise BackendUnavailableError(msg) from exc
        if LibsumoBackend._active:
            msg = (
                "A libsumo simulation is already running in this process (libsumo runs one "
                "at a time); use one process per run or the traci backend."
            )
            raise SimulationError(msg)
        os.environ.setdefault("SUMO_HOME", str(sumo_home()))
        try:
            libsumo.start([str(default_sumo_binary()), *args])
        except Exception as exc:
            msg = f"SUMO (libsumo) could not start: {exc}"
            raise SimulationError(msg) from exc
        LibsumoBackend._active = True
        self._api = libsumo

    def watch(
        self, lanes: tuple[str, ...], tls: tuple[str, ...], *, vehicle_ids: bool = False, detectors: tuple[str, ...] = ()
    ):
        """Remember what to read each step (no subscriptions; see the module docstring)."""
        self._lanes, self._tls, self._ids = tuple(lanes), tuple(tls), vehicle_ids
        self._detectors = tuple(detectors)

    def observe(self) -> StepData:
        """Read the watched lanes, lights, detectors and step counters with direct getters."""
        api = self.api
        fast = getattr(api, "_libsumo", None)  # the extension's functions skip a Python wrapper each
        lane, sim = api.lane, api.simulation
        if fast is not None:
            n_veh, n_halt, phase = fast.lane_getLastStepVehicleNumber, fast.lane_getLastStepHaltingNumber, fast.trafficlight_getPhase
        else:  # pragma: no cover - every libsumo wheel ships _libsumo
            n_veh, n_halt, phase = lane.getLastStepVehicleNumber, lane.getLastStepHaltingNumber, api.trafficlight.getPhase
        lanes = self._lanes
        veh = np.array(list(map(n_veh, lanes)), dtype=np.int64)
        halt = np.array(list(map(n_halt, lanes)), dtype=np.int64)
        ids: dict[str, tuple[str, ...]] = {}
        arrived_ids: tuple[str, ...] = ()
        if self._ids:
            ids = {x: tuple(lane.getLastStepVehicleIDs(x)) for x in lanes}
            arrived_ids = tuple(sim.getArrivedIDList())
        gaps = np.empty(0)
        if self._detectors:
            since = api.inductionloop.getTimeSinceDetection
            gaps = np.array(list(map(since, self._detectors)), dtype=np.float64)
        return StepData(
            time_s=sim.getTime(),
            lane_vehicles=veh,
            lane_halting=halt,
            lane_vehicle_ids=ids,
            arrived_ids=arrived_ids,
            loaded=sim.getLoadedNumber(),
            departed=sim.getDepartedNumber(),
            arrived=sim.getArrivedNumber(),
            teleports=sim.getStartingTeleportNumber(),
            tls_phase={t: phase(t) for t in self._tls},
            detector_gap_s=gaps,
        )

    def close(self) -> None:
        """End the simulation; safe to call twice."""
        if self._api is None or self._closed:
            return
        self._closed = True
        try:
            self._api.close()
        finally:
            LibsumoBackend._active = False


class TraciBackend(Backend):
    """SUMO as a separate program over a labelled TraCI connection.

    Parameters
    ----------
    sumo_binary : str or Path or None
        The ``sumo`` (or ``sumo-gui``) program to run; default: the installed SUMO 1.28.
    """

    name = "traci"

    def __init__(self, sumo_binary: str | Path | None = None) -> None:
        super().__init__()
        self.binary = Path(sumo_binary) if sumo_binary else default_sumo_binary()
        if not self.binary.is_file():
            msg = f"SUMO binary {self.binary} not found (give the path of a 'sumo' program)."
            raise BackendUnavailableError(msg)
        self.label = f"citybrain-{uuid.uuid4().hex[:12]}"

    def load(self, args: list[str]) -> None:
        """Start the SUMO program and connect; see :meth:`Backend.load`."""
        import traci

        home = self.binary.resolve().parent.parent
        saved = os.environ.get("SUMO_HOME")
        os.environ["SUMO_HOME"] = str(home)
        try:
            traci.start(
                [str(self.binary), *args], label=self.label, stdout=subprocess.DEVNULL
            )
        except Exception as exc:
            msg = f"SUMO ({self.binary}) could not start over TraCI: {exc}"
            raise SimulationError(msg) from exc
        finally:
            if saved is None:
                os.environ.pop("SUMO_HOME", None)
            else:
                os.environ["SUMO_HOME"] = saved
        self._api = traci.getConnection(self.label)

    def close(self) -> None:
        """Close the connection and let SUMO write its outputs; safe to call twice."""
        if self._api is None or self._closed:
            return
        self._closed = True
        try:
            self._api.close()
        except Exception:  # noqa: BLE001 - SUMO already gone; nothing left to close
            pass


#: Backend names accepted by :func:`make_backend`.
BACKENDS: tuple[str, ...] = ("libsumo", "traci")


def make_backend(name: str = "libsumo", *, sumo_binary: str | Path | None = None) -> Backend:
    """Return a new, unloaded backend.

    Parameters
    ----------
    name : str
        ``"libsumo"`` or ``"traci"``.
    sumo_binary : str or Path or None
        Another ``sumo`` program (TraCI only).

    Raises
    ------
    ValueError
        If ``name`` is unknown, or ``sumo_binary`` is given with libsumo.
    BackendUnavailableError
        If ``sumo_binary`` does not exist.
    """
    if name == "libsumo":
        if sumo_binary is not None:
            msg = "--sumo-binary needs the traci backend (libsumo is the installed SUMO)."
            raise ValueError(msg)
        return LibsumoBackend()
    if name == "traci":
        return TraciBackend(sumo_binary)
    msg = f"Unknown backend {name!r}; expected one of {list(BACKENDS)}."
    raise ValueError(msg)
