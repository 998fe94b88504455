"""`citybrain bench` failures: a run's process killed mid-run is retried, the rest kept; when all fail, a list, exit 1."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from citybrain.app.bench import RunStore
from citybrain.app.cli import cli

from .conftest import PLUGINS

pytestmark = pytest.mark.sumo


def test_one_run_killed_mid_run_is_stored_failed_retried_and_nothing_else_is_lost(lone_toml, tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'scenarios = ["{lone_toml}"]\nseeds = 2\nduration_s = 120\nworkers = 2\n'
                     f'controllers = ["fixed", {{ name = "{PLUGINS}:KillsItsRunOnce", '
                     f'params = {{ marker = "{tmp_path / "killed"}" }} }}]\n')
    result = CliRunner().invoke(cli, ["bench", str(sweep), "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = RunStore(tmp_path / "out").rows()
    failed = rows[rows["status"] == "failed"]
    assert len(failed) == 1 and "process died (exit code -9)" in failed["error"].iloc[0]
    retried = rows[rows["run_id"] == failed["run_id"].iloc[0]]
    assert sorted(retried["attempt"]) == [1, 2] and set(retried["status"]) == {"failed", "ok"}
    assert len(rows) == 5 and rows.loc[rows["status"] == "ok", "run_id"].nunique() == 4
    assert "will be retried" in result.stderr


def test_when_every_run_fails_each_is_listed_with_its_reason_and_no_traceback(lone_toml, tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--scenarios", str(lone_toml), "--controllers", f"{PLUGINS}:Raises",
                                      f"{PLUGINS}:Hangs", "--seeds", "1", "--timeout", "15", "--duration", "60",
                                      "--results", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "2 run(s) failed:" in result.stderr and "Traceback" not in result.output
    assert f"lone / {PLUGINS}:Raises / seed 1: RuntimeError: a bug in the controller" in result.stderr, result.stderr
    assert f"lone / {PLUGINS}:Hangs / seed 1: run exceeded the wall-clock limit of 15 s" in result.stderr
    rows = RunStore(tmp_path).rows()
    assert len(rows) == 4 and set(rows["status"]) == {"failed"} and sorted(rows["attempt"]) == [1, 1, 2, 2]
    report = CliRunner().invoke(cli, ["bench", "report", str(tmp_path)])
    assert report.exit_code == 0 and "Failed runs:" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(("args", "needle"), [
    (["--controllers", "no-such"], "Unknown controller 'no-such'"),
    (["--controllers", "nowhere.py:Mine"], "nowhere.py not found (expected path/to/file.py:Class)"),
    (["--controllers", "citybrain.control:NoSuch"], "defines no class or function 'NoSuch'"),
])
def test_an_unusable_controller_is_one_line_and_exit_2(lone_toml, tmp_path, args, needle):
    result = CliRunner().invoke(cli, ["bench", "--scenarios", str(lone_toml), *args, "--results", str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output
