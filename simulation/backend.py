"""The SUMO seam: one backend interface over libsumo and TraCI.

:class:`Backend` is everything the twin asks of a simulator: ``load`` (start it), ``watch``
(say what to observe), ``step``, ``observe``, ``apply`` (a signal command), ``close`` (safe to
call twice), and a few getters (a light's ``phase``, ``state`` and ``program``, the vehicle
``counts``, a vehicle's ``route`` and ``route_index``, ``version``, ``supports``). Nothing
outside this module touches SUMO's API, so a fake backend can drive a real twin in tests.

``libsumo`` (:class:`LibsumoBackend`, the default)
    SUMO linked into this process: fastest, but one simulation per process, so the
    runner gives every run its own process.
``traci`` (:class:`TraciBackend`)
    SUMO as a separate program over a labelled TraCI socket: slower, but it can drive
    any ``sumo`` binary (``sumo_binary=``), e.g. SUMO 1.9.1 to reproduce published results,
    and several runs can share one process.

TraCI reads the step's data through subscriptions, so one round trip per step fetches every
watched lane, light (phase and shown state) and counter. libsumo reads them with direct getters
instead: in-process a getter costs well under a microsecond, while subscriptions slow every SUMO step down and
rebuild a dict of dicts per step (vehicles and halting vehicles of the 4x4 grid's 160 lanes,
per simulated hour: about 0.23 s of getters against 0.6-0.7 s added by subscriptions); the 16
lights' shown states, per simulated hour: 19 ms of getters against 25 ms of reading subscription
results, measured in one run). It reads no more than a step needs: a light after its next switch
(``getNextSwitch``) or a command of ours, since its state cannot change otherwise; the halting
vehicles of a lane only on an edge with any (:meth:`LibsumoBackend.observe_lean`); the vehicles
of a lane only when asked (:meth:`Backend.lane_vehicles`) or on a whole reading (:meth:`observe`).
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
_TLS_VARS = (tc.TL_CURRENT_PHASE, tc.TL_RED_YELLOW_GREEN_STATE)


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
    tls_state : dict of str to str
        Per watched light, the signal state string it shows (for the conflict monitor).
    detector_gap_s : numpy.ndarray
        Per watched induction loop, seconds since it last saw a vehicle (empty when none).
    area_vehicles, area_halting : numpy.ndarray
        Per watched lane-area detector, vehicles and halting vehicles on it (empty when none).
    tls_changed : tuple of str or None
        The watched lights whose phase or shown state changed since the last observation (in
        watch order); ``None`` when the backend does not say (any light may have changed).
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
    tls_state: dict[str, str] = field(default_factory=dict)
    area_vehicles: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    area_halting: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    tls_changed: tuple[str, ...] | None = None


class Backend(ABC):
    """What the twin needs of a simulator: the interface the twin, its signals and cameras use.

    A backend is created unloaded, started once with :meth:`load` and ended with
    :meth:`close`. Between them, :meth:`watch` says what each :meth:`observe` returns,
    :meth:`step` advances one step, :meth:`apply` sends a signal command, and a few
    getters answer what the loop asks outside the per-step data (a light's phase, state
    and program, the vehicle counters, a vehicle's route). A test double implements the
    same methods over a model of its own (``tests/simulation/fake_backend.py``).
    """

    #: Short name, reported in each :class:`~simulation.run.RunResult`.
    name: str = ""

    @abstractmethod
    def load(self, args: list[str]) -> None:
        """Start the simulation with SUMO command-line ``args`` (without the program name).

        Raises
        ------
        SimulationError
            If the simulator refuses the options or the input files.
        """

    @abstractmethod
    def version(self) -> str:
        """The simulator's version string, e.g. ``"1.28.0"``."""

    @abstractmethod
    def supports(self, option: str) -> bool:
        """Whether the simulator knows a SUMO command-line option (asked before :meth:`load`)."""

    @abstractmethod
    def watch(
        self, lanes: tuple[str, ...], tls: tuple[str, ...], *, vehicle_ids: bool = False, detectors: tuple[str, ...] = (),
        areas: tuple[str, ...] = (), lights_every_step: bool = False,
    ) -> None:
        """Say what :meth:`observe` returns: per-lane counts (and vehicle ids), light phases, detectors, areas.

        ``lights_every_step``: SUMO may switch the lights' programs outside their logic (a WAUT).
        """

    @abstractmethod
    def step(self) -> float:
        """Advance one step; return the new simulation time (seconds).

        Raises
        ------
        SimulationError
            If the simulator fails during the step.
        """

    @abstractmethod
    def observe(self) -> StepData:
        """Return the watched values after the last step."""

    def observe_lean(self) -> StepData:
        """The watched values after the last step without what only decisions read.

        ``lane_halting``, the lights and the counters as :meth:`observe` returns them; a
        backend may leave ``lane_vehicles`` ``None`` (read them with :meth:`lane_vehicles`) and
        the detector and lane-area readings empty. The default returns :meth:`observe`.
        """
        return self.observe()

    def lane_vehicles(self, index: np.ndarray) -> np.ndarray:
        """Vehicles on the watched lanes at positions ``index`` (watch order) after the last step."""
        return self.observe().lane_vehicles[index]

    @abstractmethod
    def apply(self, command: SetState | SetPhase | SetProgram) -> None:
        """Apply one signal command.

        Raises
        ------
        SimulationError
            If the simulator rejects it (unknown light, wrong state length ...).
        """

    @abstractmethod
    def phase(self, tls: str) -> int:
        """The phase index a light's active program shows now."""

    @abstractmethod
    def state(self, tls: str) -> str:
        """The signal state string a light shows now."""

    @abstractmethod
    def next_switch_s(self, tls: str) -> float:
        """Simulation time (s) at which a light's active program leaves its current phase."""

    @abstractmethod
    def program(self, tls: str) -> str:
        """The id of a light's active program."""

    @abstractmethod
    def counts(self) -> tuple[int, int, int]:
        """Vehicles loaded, inserted and arrived in the last step (after :meth:`load`: at the start)."""

    @abstractmethod
    def route(self, vehicle: str) -> tuple[str, ...]:
        """A vehicle's route, as edge ids."""

    @abstractmethod
    def route_index(self, vehicle: str) -> int:
        """The index in its route of the edge a vehicle is on (or last was on)."""

    @abstractmethod
    def halted(self, lane: str) -> tuple[float, ...]:
        """Distances (m) from the lane's end of the vehicles halting on a lane now (below 0.1 m/s)."""

    @abstractmethod
    def pending(self) -> tuple[str, ...]:
        """Vehicles whose departure time has come but that the simulator could not insert yet."""

    @abstractmethod
    def close(self) -> None:
        """End the simulation (flushes tripinfo and other outputs); safe to call twice."""

    # -- vehicles, for emergency-vehicle pre-emption (a backend without them refuses it) ----------
    def _no_vehicles(self) -> SimulationError:
        msg = f"The {self.name or type(self).__name__} backend does not report vehicles (needed for pre-emption)."
        return SimulationError(msg)

    def departed_ids(self) -> tuple[str, ...]:
        """Vehicles inserted in the last step."""
        raise self._no_vehicles()

    def arrived_ids(self) -> tuple[str, ...]:
        """Vehicles that left the network in the last step."""
        raise self._no_vehicles()

    def vehicle_type(self, vehicle: str) -> str:
        """A vehicle's type id."""
        raise self._no_vehicles()

    def vehicle_place(self, vehicle: str) -> tuple[str, float, int]:
        """Where a vehicle is: ``(edge id, position on its lane (m), index of its route edge)``.

        On a junction's internal lane the edge id starts with ``":"`` and the index is that of
        the route edge it came from.
        """
        raise self._no_vehicles()


class _SumoBackend(Backend):
    """SUMO behind its TraCI-style API (the ``libsumo`` module or a TraCI connection)."""

    def __init__(self) -> None:
        self._api = None
        self._lanes: tuple[str, ...] = ()
        self._tls: tuple[str, ...] = ()
        self._ids = False
        self._detectors: tuple[str, ...] = ()
        self._areas: tuple[str, ...] = ()
        self._closed = False

    @property
    def api(self):
        """The TraCI-style domain object, for debugging; the twin uses the methods above only."""
        if self._api is None:
            msg = f"The {self.name} backend is not loaded; call load() first."
            raise SimulationError(msg)
        return self._api

    def version(self) -> str:
        """SUMO's version string, e.g. ``"1.28.0"``."""
        return str(self.api.getVersion()[1]).removeprefix("SUMO ").strip()

    def _remember(self, lanes: tuple[str, ...], tls: tuple[str, ...], vehicle_ids: bool, detectors: tuple[str, ...],
                  areas: tuple[str, ...] = ()) -> None:
        self._lanes, self._tls, self._ids = tuple(lanes), tuple(tls), vehicle_ids
        self._detectors, self._areas = tuple(detectors), tuple(areas)

    def step(self) -> float:
        """Advance one step; see :meth:`Backend.step`."""
        try:
            self.api.simulationStep()
            return float(self.api.simulation.getTime())
        except SimulationError:
            raise
        except Exception as exc:
            msg = f"SUMO ({self.name}) failed in a step: {exc}"
            raise SimulationError(msg) from exc

    def apply(self, command: SetState | SetPhase | SetProgram) -> None:
        """Apply one signal command; see :meth:`Backend.apply`."""
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

    def next_switch_s(self, tls: str) -> float:
        """Simulation time (s) at which a light's active program leaves its current phase."""
        return float(self.api.trafficlight.getNextSwitch(tls))

    def phase(self, tls: str) -> int:
        """The phase index a light's active program shows now."""
        return self.api.trafficlight.getPhase(tls)

    def state(self, tls: str) -> str:
        """The signal state string a light shows now."""
        return self.api.trafficlight.getRedYellowGreenState(tls)

    def program(self, tls: str) -> str:
        """The id of a light's active program."""
        return self.api.trafficlight.getProgram(tls)

    def counts(self) -> tuple[int, int, int]:
        """Vehicles loaded, inserted and arrived in the last step."""
        sim = self.api.simulation
        return sim.getLoadedNumber(), sim.getDepartedNumber(), sim.getArrivedNumber()

    def route(self, vehicle: str) -> tuple[str, ...]:
        """A vehicle's route, as edge ids."""
        return self.api.vehicle.getRoute(vehicle)

    def route_index(self, vehicle: str) -> int:
        """The index in its route of the edge a vehicle is on."""
        return self.api.vehicle.getRouteIndex(vehicle)

    def departed_ids(self) -> tuple[str, ...]:
        """Vehicles inserted in the last step."""
        return tuple(self.api.simulation.getDepartedIDList())

    def arrived_ids(self) -> tuple[str, ...]:
        """Vehicles that left the network in the last step."""
        return tuple(self.api.simulation.getArrivedIDList())

    def vehicle_type(self, vehicle: str) -> str:
        """A vehicle's type id."""
        return self.api.vehicle.getTypeID(vehicle)

    def vehicle_place(self, vehicle: str) -> tuple[str, float, int]:
        """Edge, lane position (m) and route index of a vehicle; see :meth:`Backend.vehicle_place`."""
        v = self.api.vehicle
        return v.getRoadID(vehicle), float(v.getLanePosition(vehicle)), int(v.getRouteIndex(vehicle))
    def halted(self, lane: str) -> tuple[float, ...]:
        """Distances (m) from the lane's end of the vehicles halting on it (SUMO's 0.1 m/s)."""
        api = self.api
        length = api.lane.getLength(lane)
        veh = api.vehicle
        return tuple(
            length - veh.getLanePosition(v) for v in api.lane.getLastStepVehicleIDs(lane) if veh.getSpeed(v) < 0.1
        )

    def pending(self) -> tuple[str, ...]:
        """Vehicles waiting for insertion (``simulation.getPendingVehicles``)."""
        return tuple(self.api.simulation.getPendingVehicles())

    def close(self) -> None:
        """End the simulation; safe to call twice."""
        if self._api is None or self._closed:
            return
        self._closed = True
        self._end()

    @abstractmethod
    def _end(self) -> None:
        """Close the API once (called by :meth:`close`)."""


def _traci_logic_cls():
    import traci

    return traci.trafficlight.Logic


def _traci_phase_cls():
    import traci

    return traci.trafficlight.Phase


class _Getters:
    """The ``_libsumo`` extension's flat getter names over the libsumo domains (a wheel without it)."""

    def __init__(self, api) -> None:
        for domain in ("lane", "edge", "trafficlight", "simulation"):
            for name in dir(getattr(api, domain)):
                if not name.startswith("_"):
                    setattr(self, f"{domain}_{name}", getattr(getattr(api, domain), name))


class LibsumoBackend(_SumoBackend):
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

    def supports(self, option: str) -> bool:
        """True: the installed SUMO 1.28 knows every option the twin asks about."""
        return True

    def watch(
        self, lanes: tuple[str, ...], tls: tuple[str, ...], *, vehicle_ids: bool = False, detectors: tuple[str, ...] = (),
        areas: tuple[str, ...] = (), lights_every_step: bool = False,
    ) -> None:
        """Remember what to read each step (no subscriptions; see the module docstring).

        ``lights_every_step`` reads every light every step instead of at its next switch (for
        programs SUMO switches from outside their logic, e.g. a WAUT).
        """
        self._remember(lanes, tls, vehicle_ids, detectors, areas)
        fast = self._fast = getattr(self.api, "_libsumo", None) or _Getters(self.api)
        self._every_step = lights_every_step
        self._tls_pos = {t: i for i, t in enumerate(self._tls)}
        self._due_from = np.full(len(self._tls), -np.inf)  # per light, the time from which it may change
        self._commanded: set[str] = set()
        self._phases: dict[str, int] = {}
        self._states: dict[str, str] = {}
        self._read_at = -np.inf
        self._next_due = -np.inf  # the earliest of the lights' next switches
        # the halting vehicles of a lane are counted only on lanes of an edge with some halting
        on_edge: dict[str, list[int]] = {}
        for i, lane in enumerate(self._lanes):
            on_edge.setdefault(fast.lane_getEdgeID(lane), []).append(i)
        self._gate_edges = tuple(e for e in on_edge if not e.startswith(":"))
        self._gate_index = [on_edge[e] for e in self._gate_edges]
        self._gate_lanes = [[self._lanes[i] for i in on_edge[e]] for e in self._gate_edges]
        # an edge of one lane: its count is the lane's
        self._gate_whole = np.array([fast.edge_getLaneNumber(e) == 1 for e in self._gate_edges], bool)
        self._any_whole = bool(self._gate_whole.any())
        self._gate_single = np.array([on_edge[e][0] for e in self._gate_edges], np.int64)
        self._always = [i for e, idx in on_edge.items() if e.startswith(":") for i in idx]
        self._always_lanes = [self._lanes[i] for i in self._always]

    def step(self) -> float:
        """Advance one step; see :meth:`Backend.step` (the extension's step: no step listeners are run)."""
        fast = getattr(self, "_fast", None)
        if fast is None:
            return super().step()
        try:
            fast.simulation_step(0.0)
            return fast.simulation_getTime()
        except Exception as exc:
            msg = f"SUMO ({self.name}) failed in a step: {exc}"
            raise SimulationError(msg) from exc

    def apply(self, command: SetState | SetPhase | SetProgram) -> None:
        """Apply one signal command; see :meth:`Backend.apply` (the light is read again after the next step)."""
        self._commanded.add(command.tls)
        super().apply(command)

    def _lights(self, t: float) -> tuple[str, ...]:
        """Read the lights that may have changed since their last reading; return those that did.

        A light's state changes only at its next switch (SUMO's ``getNextSwitch``) or on a
        command of ours: it is read from then on until it has changed, and after every command.
        """
        if self._read_at == t:  # read already in this step
            return ()
        self._read_at = t
        if t + 1e-9 < self._next_due and not self._commanded and not self._every_step:
            return ()
        fast, tls = self._fast, self._tls
        if self._every_step or not self._phases:
            due = range(len(tls))
        else:
            due = (self._due_from <= t + 1e-9).nonzero()[0].tolist()
            if self._commanded:
                due = sorted({*due, *(self._tls_pos[x] for x in self._commanded if x in self._tls_pos)})
        self._commanded.clear()
        changed = []
        phases, states, due_from = self._phases, self._states, self._due_from
        phase, rygs, switch = fast.trafficlight_getPhase, fast.trafficlight_getRedYellowGreenState, fast.trafficlight_getNextSwitch
        for k in due:
            x = tls[k]
            p, st = phase(x), rygs(x)
            if phases.get(x) != p or states.get(x) != st:
                phases[x], states[x] = p, st
                changed.append(x)
            due_from[k] = switch(x)
        self._next_due = float(due_from.min()) if len(due_from) else np.inf
        return tuple(changed)

    def _halting(self) -> np.ndarray:
        """Halting vehicles per watched lane, read lane by lane only on the edges with any."""
        fast = self._fast
        halt = np.zeros(len(self._lanes), np.int64)
        if not self._gate_edges:
            return halt
        edge = np.fromiter(map(fast.edge_getLastStepHaltingNumber, self._gate_edges), np.int64, len(self._gate_edges))
        busy = edge > 0
        if self._any_whole:
            whole = busy & self._gate_whole
            halt[self._gate_single[whole]] = edge[whole]
            busy &= ~self._gate_whole
        names: list[str] = []
        index: list[int] = []
        gate_lanes, gate_index = self._gate_lanes, self._gate_index
        for k in busy.nonzero()[0].tolist():
            names += gate_lanes[k]
            index += gate_index[k]
        names += self._always_lanes
        index += self._always
        if names:
            halt[index] = np.fromiter(map(fast.lane_getLastStepHaltingNumber, names), np.int64, len(names))
        return halt

    def lane_vehicles(self, index: np.ndarray) -> np.ndarray:
        """Vehicles on the watched lanes at positions ``index`` after the last step."""
        lanes, n_veh = self._lanes, self._fast.lane_getLastStepVehicleNumber
        return np.fromiter((n_veh(lanes[i]) for i in index.tolist()), np.int64, len(index))

    def observe_lean(self) -> StepData:
        """The lights, counters and halting vehicles; ``lane_vehicles`` ``None`` (see :meth:`Backend.observe_lean`)."""
        if self._ids:
            return self.observe()
        fast = self._fast
        t = fast.simulation_getTime()
        changed = self._lights(t)
        return StepData(
            time_s=t,
            lane_vehicles=None,
            lane_halting=self._halting(),
            lane_vehicle_ids={},
            arrived_ids=(),
            loaded=fast.simulation_getLoadedNumber(),
            departed=fast.simulation_getDepartedNumber(),
            arrived=fast.simulation_getArrivedNumber(),
            teleports=fast.simulation_getStartingTeleportNumber(),
            tls_phase=dict(self._phases),
            tls_state=dict(self._states),
            tls_changed=changed,
        )

    def observe(self) -> StepData:
        """Read the watched lanes, lights, detectors and step counters with direct getters."""
        api, fast = self.api, self._fast
        lane, sim = api.lane, api.simulation
        lanes = self._lanes
        n = len(lanes)
        veh = np.fromiter(map(fast.lane_getLastStepVehicleNumber, lanes), np.int64, n)
        halt = np.fromiter(map(fast.lane_getLastStepHaltingNumber, lanes), np.int64, n)
        ids: dict[str, tuple[str, ...]] = {}
        arrived_ids: tuple[str, ...] = ()
        if self._ids:
            ids = {x: tuple(lane.getLastStepVehicleIDs(x)) for x in lanes}
            arrived_ids = tuple(sim.getArrivedIDList())
        gaps = np.empty(0)
        if self._detectors:
            since = api.inductionloop.getTimeSinceDetection
            gaps = np.array(list(map(since, self._detectors)), dtype=np.float64)
        area_veh = area_halt = np.empty(0, np.int64)
        if self._areas:
            area = api.lanearea
            area_veh = np.array(list(map(area.getLastStepVehicleNumber, self._areas)), dtype=np.int64)
            area_halt = np.array(list(map(area.getLastStepHaltingNumber, self._areas)), dtype=np.int64)
        t = fast.simulation_getTime()
        changed = self._lights(t)
        return StepData(
            time_s=t,
            lane_vehicles=veh,
            lane_halting=halt,
            lane_vehicle_ids=ids,
            arrived_ids=arrived_ids,
            loaded=fast.simulation_getLoadedNumber(),
            departed=fast.simulation_getDepartedNumber(),
            arrived=fast.simulation_getArrivedNumber(),
            teleports=fast.simulation_getStartingTeleportNumber(),
            tls_phase=dict(self._phases),
            detector_gap_s=gaps,
            tls_state=dict(self._states),
            area_vehicles=area_veh,
            area_halting=area_halt,
            tls_changed=changed,
        )

    def _end(self) -> None:
        try:
            self._api.close()
        finally:
            LibsumoBackend._active = False


class TraciBackend(_SumoBackend):
    """SUMO as a separate program over a labelled TraCI connection.

    TraCI reads each step's data through subscriptions: one round trip per step.

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

    def supports(self, option: str) -> bool:
        """Whether this SUMO program lists the option in its ``--help`` (asked once per program)."""
        key = (str(self.binary), option)
        if key not in _SUPPORT_CACHE:
            try:
                out = subprocess.run([str(self.binary), "--help"], capture_output=True, text=True, timeout=60, check=False)
                _SUPPORT_CACHE[key] = option in out.stdout
            except (OSError, subprocess.SubprocessError):
                _SUPPORT_CACHE[key] = False
        return _SUPPORT_CACHE[key]

    def watch(
        self, lanes: tuple[str, ...], tls: tuple[str, ...], *, vehicle_ids: bool = False, detectors: tuple[str, ...] = (),
        areas: tuple[str, ...] = (), lights_every_step: bool = False,
    ) -> None:
        """Subscribe to per-lane counts (and vehicle ids), light phases and states, detectors and step counters."""
        api = self.api
        self._remember(lanes, tls, vehicle_ids, detectors, areas)
        for det in self._detectors:
            api.inductionloop.subscribe(det, (tc.LAST_STEP_TIME_SINCE_DETECTION,))
        for area in self._areas:
            api.lanearea.subscribe(area, _LANE_VARS)
        lane_vars = (*_LANE_VARS, tc.LAST_STEP_VEHICLE_ID_LIST) if vehicle_ids else _LANE_VARS
        for lane in self._lanes:
            api.lane.subscribe(lane, lane_vars)
        for light in self._tls:
            api.trafficlight.subscribe(light, _TLS_VARS)
        sim_vars = (*_SIM_VARS, tc.VAR_ARRIVED_VEHICLES_IDS) if vehicle_ids else _SIM_VARS
        api.simulation.subscribe(sim_vars)

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
        area_veh = area_halt = np.empty(0, np.int64)
        if self._areas:
            areas = api.lanearea.getAllSubscriptionResults()
            counts = np.array([(areas[a][_VEH], areas[a][_HALT]) for a in self._areas], np.int64).reshape(-1, 2)
            area_veh, area_halt = counts[:, 0], counts[:, 1]
        lights = api.trafficlight.getAllSubscriptionResults()
        phases = {t: int(lights[t][tc.TL_CURRENT_PHASE]) for t in self._tls}
        states = {t: lights[t][tc.TL_RED_YELLOW_GREEN_STATE] for t in self._tls}
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
            tls_state=states,
            area_vehicles=area_veh,
            area_halting=area_halt,
        )

    def _end(self) -> None:
        try:
            self._api.close()
        except Exception:  # noqa: BLE001 - SUMO already gone; nothing left to close
            pass


_SUPPORT_CACHE: dict[tuple[str, str], bool] = {}


#: Backend names accepted by :func:`make_backend`.
BACKENDS: tuple[str, ...] = ("libsumo", "traci")


def make_backend(name: str = "libsumo", *, sumo_binary: str | Path | None = None, gui: bool = False) -> Backend:
    """Return a new, unloaded backend.

    Parameters
    ----------
    name : str
        ``"libsumo"`` or ``"traci"``.
    sumo_binary : str or Path or None
        Another ``sumo`` program (TraCI only).
    gui : bool
        Run ``sumo-gui`` from the folder of ``sumo_binary`` (or of the installed SUMO) instead
        (TraCI only).

    Raises
    ------
    ValueError
        If ``name`` is unknown, or ``sumo_binary`` or ``gui`` is given with libsumo.
    BackendUnavailableError
        If ``sumo_binary`` does not exist.
    SimulationError
        If ``gui`` is asked for and there is no ``sumo-gui`` beside ``sumo``.
    """
    if name == "libsumo":
        if sumo_binary is not None or gui:
            option = "--gui" if gui else "--sumo-binary"
            msg = f"{option} needs the traci backend (libsumo is the installed SUMO, no GUI)."
            raise ValueError(msg)
        return LibsumoBackend()
    if name == "traci":
        return TraciBackend(_gui_binary(sumo_binary) if gui else sumo_binary)
    msg = f"Unknown backend {name!r}; expected one of {list(BACKENDS)}."
    raise ValueError(msg)


def _gui_binary(sumo_binary: str | Path | None) -> Path:
    base = Path(sumo_binary).parent if sumo_binary else default_sumo_binary().parent
    gui = base / "sumo-gui"
    if not gui.is_file():
        msg = f"--gui needs sumo-gui next to sumo; not found at {gui}."
        raise SimulationError(msg)
    return gui
