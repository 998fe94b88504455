"""What a run of the twin is and what it returns.

:class:`RunSpec` names one run (scenario, controller, protocol, seed, backend),
:class:`PlanUpdate` is a checked plan pushed into a running twin, :class:`AppliedPlan` records
one that switched in, and :class:`RunResult` holds the run's metrics (see :mod:`simulation.metrics` for their definitions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from citybrain.control.preempt import PreemptionRecord, PreemptionSettings
from citybrain.plans import SignalPlan
from citybrain.plans.formats import plan_sha256, sumo_phases

from .cameras import CameraCounts
from .events import EventLog
from .scenario import Scenario

__all__ = ["RunSpec", "PlanUpdate", "AppliedPlan", "RunResult"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to run: one scenario, controller, protocol, seed and backend.

    Attributes
    ----------
    scenario : Scenario
        The scenario.
    controller : str
        Registered controller name (``citybrain.control.CONTROLLERS``).
    protocol : str
        ``"native"`` or ``"resco"``.
    seed : int
        SUMO's seed.
    backend : str
        ``"libsumo"`` or ``"traci"``.
    sumo_binary : str or None
        Another ``sumo`` program (TraCI only).
    cameras : bool
        Emulate the stop-line cameras.
    gui : bool
        Run ``sumo-gui`` (TraCI) instead of ``sumo``.
    serve_port : int or None
        Accept plan changes over HTTP on ``127.0.0.1:serve_port`` while running.
    gridlock_s : float
        A run is flagged gridlocked after this long (seconds) with vehicles in the network,
        no arrival and every watched vehicle halting.
    plan : str or None
        A signal plan file (JSON or SUMO additional) to run with the ``plan`` controller on
        the lights it covers (the others keep their programs); checked for safety first.
        With an adaptive controller, the controller chooses among the phases of the plan's
        first period instead (``adaptive-plan`` also starts from its splits).
    realtime : float or None
        Pace the run to the wall clock: this many simulated seconds per wall-clock second
        (``None``: as fast as SUMO runs).
    events : bool
        Record the hi-res controller events and emulated detectors (:mod:`simulation.events`).
    advance_m : float
        Distance of the emulated advance detectors from the stop line (metres).
    preempt : PreemptionSettings or None
        Pre-empt the lights on the routes of the scenario's emergency vehicles
        (:mod:`simulation.preemption`); ``None`` for no pre-emption.
    """

    scenario: Scenario
    controller: str = "fixed"
    protocol: str = "native"
    seed: int = 0
    backend: str = "libsumo"
    sumo_binary: str | None = None
    cameras: bool = False
    gui: bool = False
    serve_port: int | None = None
    gridlock_s: float = 600.0
    plan: str | None = None
    realtime: float | None = None
    events: bool = False
    advance_m: float = 120.0
    preempt: PreemptionSettings | None = None


@dataclass(frozen=True, slots=True)
class PlanUpdate:
    """A checked plan for one light, switched in at its next cycle boundary.

    Build it with :meth:`of`, after the plan passed the gate (:meth:`simulation.Twin.push_plan`).

    Attributes
    ----------
    plan : SignalPlan
        The plan, as checked.
    sha256 : str
        :func:`~citybrain.plans.formats.plan_sha256` of ``plan``: what ran can be traced to
        what was checked.
    phases : tuple of (float, str)
        ``(duration_s, state)`` of the SUMO program installed: exactly
        :func:`~citybrain.plans.formats.sumo_phases` of ``plan`` (what ``plan.add.xml`` holds).
    """

    plan: SignalPlan
    sha256: str
    phases: tuple[tuple[float, str], ...]

    @classmethod
    def of(cls, plan: SignalPlan) -> PlanUpdate:
        """The update that installs ``plan``'s SUMO states."""
        phases = tuple((float(d), s) for d, s, _ in sumo_phases(plan))
        return cls(plan, plan_sha256(plan), phases)

    @property
    def tls(self) -> str:
        """SUMO traffic-light id."""
        return self.plan.tls

    @property
    def program_id(self) -> str:
        """SUMO program id to install under: ``citybrain-`` and the hash's first 12 digits.

        Unique per plan (SUMO keeps every installed program), and ``getProgram`` then names
        what was checked.
        """
        return f"citybrain-{self.sha256[:12]}"


@dataclass(frozen=True, slots=True)
class AppliedPlan:
    """A pushed plan that switched in: light, simulation time (s), hash and program id."""

    tls: str
    time_s: float
    sha256: str
    program_id: str

    def to_json(self) -> dict:
        """``{"tls", "time_s", "sha256", "program_id"}``."""
        return {"tls": self.tls, "time_s": self.time_s, "sha256": self.sha256, "program_id": self.program_id}


@dataclass(frozen=True, slots=True)
class RunResult:
    """The metrics of one run (see :mod:`simulation.metrics` for definitions).

    ``error`` is set (and the metrics are ``nan``) when the run failed; ``gridlocked``
    reports a gridlock, with ``gridlock_at_s`` the simulation time it began. ``monitor`` is the
    conflict monitor's summary (:meth:`simulation.monitor.ConflictMonitor.summary`; ``None``
    when the run failed). ``emergency`` holds the emergency vehicles' figures (left out of
    the others; ``None`` without emergency vehicles) and ``preemptions`` every pre-emption
    of a light (:class:`~citybrain.control.preempt.PreemptionRecord`).
    """

    scenario: str
    controller: str
    protocol: str
    seed: int
    backend: str
    sumo_version: str
    delay_s: float = math.nan
    delay_all_s: float | None = None
    resco_delay_s: float = math.nan
    trip_time_s: float = math.nan
    waiting_s: float = math.nan
    stops: float = math.nan
    queue_veh: float = math.nan
    arrived: int = 0
    loaded: int = 0
    teleports: int = 0
    never_inserted: int = 0
    junction_delay_s: dict[str, float] = field(default_factory=dict)
    junction_queue_veh: dict[str, float] = field(default_factory=dict)
    gridlocked: bool = False
    gridlock_at_s: float | None = None
    plans_applied: tuple[AppliedPlan, ...] = ()
    wall_s: float = 0.0
    error: str | None = None
    monitor: dict | None = field(default=None, repr=False)
    cameras: CameraCounts | None = field(default=None, repr=False)
    events: EventLog | None = field(default=None, repr=False)
    emergency: dict | None = None
    preemptions: tuple[PreemptionRecord, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """True when the run finished (gridlocked or not)."""
        return self.error is None

    def to_json(self) -> dict:
        """The run as a JSON-ready dict (the ``runs`` entries of ``citybrain simulate --json``)."""

        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else x

        return {
            "seed": self.seed,
            "delay_s": num(self.delay_s),
            "delay_all_s": num(self.delay_all_s),
            "resco_delay_s": num(self.resco_delay_s),
            "trip_time_s": num(self.trip_time_s),
            "waiting_s": num(self.waiting_s),
            "stops": num(self.stops),
            "queue_veh": num(self.queue_veh),
            "arrived": self.arrived,
            "loaded": self.loaded,
            "teleports": self.teleports,
            "never_inserted": self.never_inserted,
            "gridlocked": self.gridlocked,
            "gridlock_at_s": self.gridlock_at_s,
            "wall_s": round(self.wall_s, 3),
            "error": self.error,
            "applied": [a.to_json() for a in self.plans_applied],
            "monitor": _monitor_json(self.monitor),
            "emergency": self.emergency,
            "preemptions": [p.to_json() for p in self.preemptions],
        }


def _monitor_json(summary: dict | None) -> dict | None:
    """The monitor summary for ``--json``: counts by kind, first time and light, per light, ours."""
    if summary is None:
        return None
    return {k: summary[k] for k in ("total", "counts", "first", "by_tls", "ours", "min_green_s", "min_yellow_s")}
