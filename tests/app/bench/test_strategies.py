"""Plan strategies in a sweep: our Webster from seed 0's cameras, SUMO's Webster + coordinator, made once."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from citybrain.app.bench import RunStore
from citybrain.app.cli import cli
from citybrain.plans import read_plans

from ...conftest import ROOT

pytestmark = pytest.mark.sumo


def test_plan_strategies_are_made_once_from_seed_0_and_run_on_the_validation_seeds(tmp_path):
    args = ["bench", "--scenarios", str(ROOT / "scenarios" / "demo.toml"), "--controllers", "webster",
            "sumo-webster-coord", "--seeds", "1", "--duration", "300", "--results", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    plans = tmp_path / "plans" / "demo_0-300"
    assert (plans / "cameras_seed0").is_dir() and (plans / "flows_seed0.csv").is_file()
    assert len(read_plans(plans / "webster.json").tls_ids) == 5
    assert "<tlLogic" in (plans / "sumo_webster_coord.add.xml").read_text()
    final = RunStore(tmp_path).final().set_index("controller")
    assert set(final["status"]) == {"ok"} and list(final["seed"]) == [1, 1]
    assert final.loc["webster", "violations_ours"] == 0  # our plan ran as checked

    made = {p.name: p.stat().st_mtime_ns for p in plans.iterdir() if p.is_file()}
    (tmp_path / "runs" / next(iter(sorted(p.name for p in (tmp_path / "runs").iterdir())))).unlink()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "2 runs: 1 already stored, 1 to run" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in plans.iterdir() if p.is_file()} == made  # reused, not made again
