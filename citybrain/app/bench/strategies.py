"""Plan strategies of a sweep: plans made once per scenario, then run on every validation seed.

- ``webster``, ``hcm``, ``coordinated``: citybrain's timing methods on the flows estimated from
  the scenario's emulated cameras of one seed (the sweep's ``camera_seed``, 0), as the main job
  and ``benchmarks/bench_plans_twin.py`` do: the camera run under the network's own programs,
  the counts validated, :func:`citybrain.estimation.estimate_flows`, then
  :func:`citybrain.app.runner.job.make_plans` (checked by the safety gate). The plan runs with
  the plan controller (``RunSpec.plan``: checked again, installed as the lights' programs).
- ``sumo-webster``: SUMO's ``tlsCycleAdaptation.py`` (Webster) on the scenario's demand itself;
  ``sumo-webster-coord``: its output through ``tlsCoordinator.py`` (offsets). They run as static
  SUMO programs (additional files) under the ``fixed`` controller: SUMO's baselines.

Plans are written under ``DIR/plans/<scenario>_<begin>-<end>/`` and made once: a re-run reuses them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from citybrain.estimation import estimate_flows, write_flows
from citybrain.estimation.results import read_flows
from citybrain.exceptions import CityBrainError, SimulationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import write_plans_json
from citybrain.sumo_tools import run_sumo_program, sumo_home, sumo_tool
from simulation import RunSpec, Scenario, run_many

from ..runner.job import make_plans

__all__ = ["STRATEGIES", "StrategyRun", "StrategyError", "prepare_strategy"]

#: Plan strategies: citybrain's timing methods from camera counts, and SUMO's timing tools.
STRATEGIES: tuple[str, ...] = ("webster", "hcm", "coordinated", "sumo-webster", "sumo-webster-coord")
_TIMEOUT_S = 1800.0


class StrategyError(CityBrainError):
    """A plan strategy could not make its plan (the camera run, the estimate or a SUMO tool failed)."""


@dataclass(frozen=True, slots=True)
class StrategyRun:
    """How a strategy's plan runs: the controller, the plan file it is given, extra SUMO additional files."""

    controller: str
    plan: str | None = None
    additional: tuple[Path, ...] = ()

    def spec(self, base: RunSpec) -> RunSpec:
        """``base`` running this strategy's plan."""
        sc = base.scenario
        return replace(base, controller=self.controller, plan=self.plan,
                       scenario=replace(sc, additional=(*sc.additional, *self.additional)))


def plans_folder(results: Path, scenario: Scenario) -> Path:
    """Where a scenario's plans are kept in a results folder."""
    return results / "plans" / f"{scenario.name}_{scenario.begin_s:g}-{scenario.end_s:g}"


def prepare_strategy(name: str, scenario: Scenario, results: Path, *, camera_seed: int = 0) -> StrategyRun:
    """Make (or reuse) the plan of strategy ``name`` for ``scenario``; return how it runs.

    Raises
    ------
    StrategyError
        If the plan cannot be made (the reason in the message).
    """
    folder = plans_folder(results, scenario)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if name in ("webster", "hcm", "coordinated"):
            return StrategyRun("plan", plan=str(_our_plan(name, scenario, folder, camera_seed)))
        if name == "sumo-webster":
            return StrategyRun("fixed", additional=(_sumo_webster(scenario, folder),))
        if name == "sumo-webster-coord":
            return StrategyRun("fixed", additional=(_sumo_webster(scenario, folder), _sumo_coordinated(scenario, folder)))
    except (CityBrainError, OSError, subprocess.SubprocessError) as exc:
        msg = f"the {name} plan of {scenario.name} could not be made: {' '.join(str(exc).split())}"
        raise StrategyError(msg) from None
    msg = f"unknown plan strategy {name!r}; expected one of {', '.join(STRATEGIES)}"
    raise StrategyError(msg)


def _camera_flows(scenario: Scenario, folder: Path, seed: int) -> pd.DataFrame:
    """Movement flows estimated from the cameras of one run under the own programs (cached in ``flows_seed<k>.csv``)."""
    path = folder / f"flows_seed{seed}.csv"
    if path.is_file():
        return read_flows(path)
    network = graph_from_sumo_net(scenario.network)
    (counted,) = run_many([RunSpec(scenario, controller="fixed", seed=seed, cameras=True)],
                          [folder / f"cameras_seed{seed}"], workers=1)
    if not counted.ok or counted.cameras is None:
        msg = f"the camera run (seed {seed}) failed: {counted.error}"
        raise SimulationError(msg)
    table = counted.cameras.count_table(network, strict=False, source=f"emulated cameras of seed {seed}")
    flows = estimate_flows(network, table).flows
    write_flows(flows, path)
    return flows


def _our_plan(method: str, scenario: Scenario, folder: Path, camera_seed: int) -> Path:
    path = folder / f"{method}.json"
    if path.is_file():
        return path
    network = graph_from_sumo_net(scenario.network)
    flows = _camera_flows(scenario, folder, camera_seed)
    plan, _ = make_plans(network, flows, duration_s=scenario.duration_s, begin_s=scenario.begin_s, method=method)
    tmp = write_plans_json(plan, folder / f".{method}.json.tmp")
    os.replace(tmp, path)
    return path


def _route_files(scenario: Scenario) -> list[Path]:
    """The scenario's route files: those of its ``.sumocfg``, its demand, its flows (written out)."""
    files: list[Path] = []
    if scenario.sumocfg is not None:
        root = ET.parse(scenario.sumocfg).getroot()
        for elem in root.iter("route-files"):
            files += [scenario.sumocfg.parent / f.strip() for f in elem.get("value", "").split(",") if f.strip()]
    files += list(scenario.demand)
    return files


def _routed_demand(scenario: Scenario, folder: Path) -> list[Path]:
    """Route files with explicit routes for SUMO's tools (trips and flows routed with duarouter first)."""
    files = _route_files(scenario)
    if scenario.flows:
        flows = folder / "flows.rou.xml"
        flows.write_text(scenario.flows_xml())
        files.append(flows)
    routed = all(_has_routes(f) for f in files)
    if routed:
        return files
    out = folder / "routed.rou.xml"
    if not out.is_file():
        run_sumo_program("duarouter", ["-n", str(scenario.network), "-r", ",".join(map(str, files)), "-o", str(out),
                                       "--ignore-errors", "--no-warnings", "--begin", f"{scenario.begin_s:g}",
                                       "--end", f"{scenario.end_s:g}", "--no-step-log"], timeout_s=_TIMEOUT_S)
    return [out]


def _has_routes(path: Path) -> bool:
    """Whether the route file's first vehicle or flow has its route (not a trip or a from/to flow)."""
    for _, elem in ET.iterparse(path, events=("start",)):
        if elem.tag in ("trip", "flow") and "route" not in elem.attrib:
            return False
        if elem.tag == "vehicle":
            return True
    return True


def _sumo_script(script: str, args: list[str], cwd: Path) -> None:
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    proc = subprocess.run([sys.executable, str(sumo_tool(script)), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, check=False, timeout=_TIMEOUT_S)
    if proc.returncode != 0:
        msg = f"{script} failed: {proc.stderr.strip()[-600:]}"
        raise StrategyError(msg)


def _sumo_webster(scenario: Scenario, folder: Path) -> Path:
    out = folder / "sumo_webster.add.xml"
    if not out.is_file():
        routes = ",".join(str(p) for p in _routed_demand(scenario, folder))
        tmp = folder / ".sumo_webster.add.xml"
        _sumo_script("tlsCycleAdaptation.py", ["-n", str(scenario.network), "-r", routes, "-b", f"{scenario.begin_s:g}",
                                               "-o", str(tmp), "-p", "sumo-webster"], folder)
        os.replace(tmp, out)
    return out


def _sumo_coordinated(scenario: Scenario, folder: Path) -> Path:
    out = folder / "sumo_webster_coord.add.xml"
    if not out.is_file():
        webster = _sumo_webster(scenario, folder)
        routes = ",".join(str(p) for p in _routed_demand(scenario, folder))
        tmp = folder / ".sumo_webster_coord.add.xml"
        _sumo_script("tlsCoordinator.py", ["-n", str(scenario.network), "-r", routes, "-a", str(webster),
                                           "-o", str(tmp)], folder)
        os.replace(tmp, out)
    return out
