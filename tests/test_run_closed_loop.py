"""The closed loop (``citybrain run --replan-every``): real twin runs on the day scenario, shortened."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli.run import run
from citybrain.exceptions import ValidationError
from citybrain.app.runner.closed_loop import run_variant


def test_closed_loop_replans_and_beats_plans_once(tmp_path):
    # 1 h of counting under the existing programs, then the first 45 min of the morning peak
    result = CliRunner().invoke(run, ["scenarios/day.toml", "--out", str(tmp_path), "--replan-every", "15",
                                      "--seeds", "1", "--duration", "6300"])
    assert result.exit_code == 0, result.output + str(result.exception)
    runs = pd.read_csv(tmp_path / "closed_loop_runs.csv").set_index("variant")
    assert runs["error"].isna().all()
    assert runs.loc["plans-once", "plans_pushed"] == 1
    assert runs.loc["closed-loop", "plans_pushed"] >= 3
    assert runs.loc["closed-loop", "delay_s"] < runs.loc["plans-once", "delay_s"]
    assert "closed loop beats plans made once" in result.output
    assert (tmp_path / "closed_loop.md").is_file()
    assert list((tmp_path / "runs" / "closed-loop" / "seed0" / "replans").glob("counts_*.csv"))


def test_closed_loop_needs_a_window_longer_than_the_counting_hour(tmp_path):
    with pytest.raises(ValidationError, match="longer than its first 3600 s"):
        run_variant("scenarios/day.toml", "closed-loop", 0, str(tmp_path), duration_s=1800)
    with pytest.raises(ValidationError, match="Unknown closed-loop variant"):
        run_variant("scenarios/day.toml", "sometimes", 0, str(tmp_path))
