"""What a run is and returns: RunSpec defaults, RunResult's JSON form."""

from __future__ import annotations

import math
from pathlib import Path

from simulation.run import PlanUpdate, RunResult, RunSpec
from simulation.scenario import Scenario


def test_run_spec_defaults_are_the_fixed_native_libsumo_run():
    spec = RunSpec(Scenario(name="s", source=Path("s.toml"), network=Path("s.net.xml")))
    assert (spec.controller, spec.protocol, spec.seed, spec.backend, spec.plan) == ("fixed", "native", 0, "libsumo", None)
    assert spec.gridlock_s == 600.0 and not spec.cameras and spec.realtime is None


def test_run_result_json_has_no_nan_and_says_whether_it_ran():
    failed = RunResult("s", "fixed", "native", 3, "libsumo", "", error="SUMO died")
    assert not failed.ok and math.isnan(failed.delay_s)
    data = failed.to_json()
    assert data["seed"] == 3 and data["delay_s"] is None and data["delay_all_s"] is None
    assert data["error"] == "SUMO died" and data["arrived"] == 0
    done = RunResult("s", "fixed", "native", 0, "libsumo", "1.28.0", delay_s=12.5, wall_s=1.23456)
    assert done.ok and done.to_json()["delay_s"] == 12.5 and done.to_json()["wall_s"] == 1.235
