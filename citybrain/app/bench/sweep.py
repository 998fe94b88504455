"""A sweep: scenarios x controllers (with their parameters) x seeds under one protocol.

A sweep comes from the command line (:func:`sweep_from_options`) or from one reviewable TOML
file (:func:`read_sweep`)::

    scenarios = ["scenarios/demo.toml", "../shared/real/resco/cologne1/cologne1.sumocfg"]
    seeds = 3                  # validation seeds 1..3, or a list: [1, 2, 3]
    protocol = "native"        # or "resco"
    duration_s = 900           # optional: shorten every scenario's window (seconds)
    timeout_s = 600            # optional: wall-clock limit of one run (seconds)
    results = "results/study"  # optional: the results folder (--results overrides it)

    controllers = ["fixed", "maxpressure", "webster", "mine.py:MyController",
                   { name = "actuated", params = { gap_s = 2.5 } }]   # a controller with parameters

(or one ``[[controllers]]`` table per controller, with ``name`` and ``params``).

Paths in the file are relative to it. ``--seeds N`` means seeds ``1..N``: seed 0 is the run
whose emulated cameras the plan strategies (:mod:`.strategies`) are made from, so no strategy
is judged on the seed it was tuned on. Every run of the sweep is a :class:`BenchRun`, whose
:attr:`~BenchRun.run_id` names it in the results store.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from citybrain.control import PROTOCOLS
from citybrain.exceptions import ValidationError

__all__ = ["ControllerChoice", "BenchRun", "Sweep", "read_sweep", "sweep_from_options", "with_window"]

_KEYS = {"scenarios", "controllers", "seeds", "protocol", "duration_s", "timeout_s", "results", "sumo_binary",
         "workers", "scheduler"}


@dataclass(frozen=True, slots=True)
class ControllerChoice:
    """One controller of a sweep: a name (registered, a strategy or a plug-in reference) and its parameters.

    Attributes
    ----------
    name : str
        ``"maxpressure"``, ``"webster"``, ``"rl:policy.npz"``, ``"pkg.module:Class"`` or
        ``"path/file.py:Class"`` (:mod:`.plugins`).
    params : tuple of (str, value)
        Keyword arguments of the controller's factory, sorted by name.
    """

    name: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def key(self) -> str:
        """The controller as stored and reported: its name, with its parameters in brackets when it has any."""
        if not self.params:
            return self.name
        return self.name + "[" + ",".join(f"{k}={v!r}" for k, v in self.params) + "]"

    @property
    def kwargs(self) -> dict[str, object]:
        """The parameters as keyword arguments."""
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class BenchRun:
    """One run of a sweep, and what identifies it in the results store.

    Attributes
    ----------
    scenario : str
        The scenario's name.
    scenario_file : Path
        Its TOML or ``.sumocfg`` file.
    window_s : tuple of float
        Simulated window ``(begin, end)`` (seconds).
    controller : ControllerChoice
        The controller and its parameters.
    seed : int
        SUMO's seed.
    protocol : str
        ``"native"`` or ``"resco"``.
    sumo_version, citybrain_version : str
        The versions the run is made with.
    """

    scenario: str
    scenario_file: Path
    window_s: tuple[float, float]
    controller: ControllerChoice
    seed: int
    protocol: str
    sumo_version: str
    citybrain_version: str

    @property
    def identity(self) -> dict[str, object]:
        """The fields that make two runs the same run."""
        return {"scenario": self.scenario, "window_s": list(self.window_s), "controller": self.controller.key,
                "seed": self.seed, "protocol": self.protocol, "sumo_version": self.sumo_version,
                "citybrain_version": self.citybrain_version}

    @property
    def run_id(self) -> str:
        """A stable 16-digit hash of :attr:`identity`."""
        text = json.dumps(self.identity, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """``scenario / controller / seed N`` for progress lines and failure lists."""
        return f"{self.scenario} / {self.controller.key} / seed {self.seed}"


@dataclass(frozen=True)
class Sweep:
    """What a sweep runs.

    Attributes
    ----------
    scenarios : tuple of Path
        Scenario files (TOML or ``.sumocfg``).
    controllers : tuple of ControllerChoice
        The controllers, in report order.
    seeds : tuple of int
        Validation seeds.
    protocol : str
        Decision protocol of every run.
    duration_s : float or None
        Shorten every scenario's window to this many seconds.
    timeout_s : float or None
        Wall-clock limit of one run (seconds; default ``config.SUMO_WALL_CLOCK_LIMIT_S``).
    sumo_binary : str or None
        Another ``sumo`` program to drive over TraCI.
    results : Path or None
        Results folder named in the sweep file.
    workers : int or None
        Runs at a time on the local pool.
    scheduler : str or None
        A Dask scheduler address (``tcp://HOST:PORT``).
    camera_seed : int
        Seed of the camera run the plan strategies are made from.
    """

    scenarios: tuple[Path, ...]
    controllers: tuple[ControllerChoice, ...]
    seeds: tuple[int, ...]
    protocol: str = "native"
    duration_s: float | None = None
    timeout_s: float | None = None
    sumo_binary: str | None = None
    results: Path | None = None
    workers: int | None = None
    scheduler: str | None = None
    camera_seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if not self.scenarios:
            problems.append("no scenarios (give --scenarios S1 S2 ... or `scenarios = [...]`)")
        for path in self.scenarios:
            if not Path(path).is_file():
                problems.append(f"scenario {path}: file not found (expected a .toml scenario or a .sumocfg)")
        if not self.controllers:
            problems.append("no controllers (give --controllers C1 C2 ... or `controllers = [...]`)")
        keys = [c.key for c in self.controllers]
        if len(set(keys)) != len(keys):
            problems.append(f"controllers named twice: {sorted({k for k in keys if keys.count(k) > 1})}")
        if not self.seeds:
            problems.append("no seeds (give --seeds N or `seeds = N`)")
        if any(s < 0 for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            problems.append(f"seeds must be distinct and >= 0; got {list(self.seeds)}")
        if self.camera_seed in self.seeds and any(c.name in _plan_strategies() for c in self.controllers):
            problems.append(f"seed {self.camera_seed} is the plan strategies' camera run; validate on other seeds")
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol {self.protocol!r}: expected one of {sorted(PROTOCOLS)}")
        for name, value in (("duration_s", self.duration_s), ("timeout_s", self.timeout_s)):
            if value is not None and not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a positive number of seconds; got {value!r}")
        if problems:
            msg = "The sweep is unusable: " + "; ".join(problems) + "."
            raise ValidationError(msg, problems)


def _plan_strategies() -> frozenset[str]:
    from .strategies import STRATEGIES

    return frozenset(STRATEGIES)


def sweep_from_options(scenarios, controllers, *, seeds: int, protocol: str = "native", **kw) -> Sweep:
    """The sweep of the command line: seeds ``1..seeds``, controllers without parameters.

    ``kw`` are further :class:`Sweep` fields (``duration_s``, ``timeout_s``, ``sumo_binary`` ...).

    Raises
    ------
    ValidationError
        If the sweep is unusable (every problem listed).
    """
    if seeds < 1:
        msg = f"--seeds must be >= 1; got {seeds}."
        raise ValidationError(msg)
    return Sweep(tuple(Path(s) for s in scenarios), tuple(ControllerChoice(c) for c in controllers),
                 tuple(range(1, seeds + 1)), protocol, **kw)


def read_sweep(path: str | Path) -> Sweep:
    """Read a sweep file (TOML, see the module docstring); paths in it are relative to it.

    Raises
    ------
    ValidationError
        If the file is missing, not TOML, or breaks the schema (naming the field and what was expected).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: sweep file not found (expected a TOML sweep, see `citybrain bench --help`)."
        raise ValidationError(msg)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML ({exc})."
        raise ValidationError(msg) from None
    problems = [f"{path}: unknown field {k!r} (expected one of {sorted(_KEYS)})" for k in data if k not in _KEYS]
    base = path.parent

    def relative(value: object, where: str) -> Path | None:
        if not isinstance(value, str) or not value:
            problems.append(f"{path}: {where} must be a path (a string); got {value!r}")
            return None
        p = Path(value)
        return p if p.is_absolute() else base / p

    raw_scenarios = data.get("scenarios", [])
    if not isinstance(raw_scenarios, list):
        problems.append(f"{path}: scenarios must be a list of scenario files; got {raw_scenarios!r}")
        raw_scenarios = []
    scenarios = [relative(s, f"scenarios[{i}]") for i, s in enumerate(raw_scenarios)]
    controllers = [_controller(c, f"{path}: controllers[{i}]", problems)
                   for i, c in enumerate(data.get("controllers", []))]
    seeds = data.get("seeds", 3)
    if isinstance(seeds, bool) or not (isinstance(seeds, int) and seeds >= 1
                                       or isinstance(seeds, list) and all(isinstance(s, int) for s in seeds)):
        problems.append(f"{path}: seeds must be a count >= 1 (seeds 1..N) or a list of integers; got {seeds!r}")
        seeds = 1
    seed_list = tuple(range(1, seeds + 1)) if isinstance(seeds, int) else tuple(seeds)
    numbers = {}
    for key in ("duration_s", "timeout_s"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{path}: {key} must be a number of seconds; got {value!r}")
            value = None
        numbers[key] = None if value is None else float(value)
    workers = data.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        problems.append(f"{path}: workers must be an integer >= 1; got {workers!r}")
        workers = None
    for key in ("protocol", "scheduler", "sumo_binary"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{path}: {key} must be a string; got {data[key]!r}")
    if problems:
        raise ValidationError("; ".join(problems), problems)
    results = relative(data["results"], "results") if "results" in data else None
    binary = data.get("sumo_binary")
    try:
        return Sweep(tuple(s for s in scenarios if s is not None), tuple(c for c in controllers if c is not None),
                     seed_list, data.get("protocol", "native"), results=results, workers=workers,
                     scheduler=data.get("scheduler"), sumo_binary=binary, **numbers)
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}", [f"{path}: {p}" for p in exc.problems]) from None


def _controller(raw: object, where: str, problems: list[str]) -> ControllerChoice | None:
    """A controller entry of a sweep file: a name, or a table ``{name, params}``."""
    if isinstance(raw, str) and raw:
        return ControllerChoice(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        problems.append(f"{where}: expected a controller name or a table with name = \"...\" and params = {{...}}; "
                        f"got {raw!r}")
        return None
    extra = sorted(set(raw) - {"name", "params"})
    params = raw.get("params", {})
    if extra or not isinstance(params, dict):
        problems.append(f"{where}: a controller table has only name and params (a table); got {raw!r}")
        return None
    return ControllerChoice(raw["name"], tuple(sorted(params.items())))


def with_window(scenario, duration_s: float | None):
    """``scenario`` with its window shortened to ``duration_s`` seconds (unchanged when ``None``)."""
    if duration_s is None:
        return scenario
    return replace(scenario, end_s=min(scenario.end_s, scenario.begin_s + float(duration_s)))
