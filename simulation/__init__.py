"""The SUMO digital twin: scenarios, backends, controllers in the loop, cameras, metrics.

Imports ``citybrain``; never imported by it.
"""

from __future__ import annotations

from .backend import Backend, LibsumoBackend, TraciBackend, make_backend
from .cameras import CameraCounts, cameras_for_network, write_camera_tables
from .controllers import load_checked_plan
from .metrics import read_tripinfo, summarise
from .run import PlanUpdate, RunResult, RunSpec
from .runner import run_many, run_one, run_seeds, seeds_from
from .scenario import CameraConfig, Scenario, load_scenario, scenario_from_sumocfg
from .twin import Twin

__all__ = [
    "Backend",
    "CameraConfig",
    "CameraCounts",
    "LibsumoBackend",
    "PlanUpdate",
    "RunResult",
    "RunSpec",
    "Scenario",
    "TraciBackend",
    "Twin",
    "cameras_for_network",
    "load_checked_plan",
    "load_scenario",
    "make_backend",
    "read_tripinfo",
    "run_many",
    "run_one",
    "run_seeds",
    "scenario_from_sumocfg",
    "seeds_from",
    "summarise",
    "write_camera_tables",
]
