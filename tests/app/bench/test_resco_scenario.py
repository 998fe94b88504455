"""A RESCO scenario's `.sumocfg` in a sweep, reported beside the published RESCO table (needs ../shared/real)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from citybrain.app.bench import RunStore
from citybrain.app.cli import cli

from ...conftest import real_path

pytestmark = pytest.mark.sumo


def test_a_sumocfg_runs_under_the_resco_protocol_and_its_report_shows_the_published_table(tmp_path):
    cfg = real_path("resco/cologne1/cologne1.sumocfg")
    result = CliRunner().invoke(cli, ["bench", "--scenarios", str(cfg), "--controllers", "fixed", "--seeds", "1",
                                      "--protocol", "resco", "--duration", "300", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (row,) = RunStore(tmp_path).final().itertuples()
    assert (row.scenario, row.protocol, row.status, row.window_begin_s, row.window_end_s) == (
        "cologne1", "resco", "ok", 25200.0, 25500.0)
    assert CliRunner().invoke(cli, ["bench", "report", str(tmp_path)]).exit_code == 0
    text = (tmp_path / "report.md").read_text()
    assert "Published RESCO results for cologne1" in text and "| RESCO | FIXED | 56.61 | 1.08 | mean over episodes |" in text
    assert f"| citybrain | fixed | {row.delay_all_s:.2f} | - | mean over seeds |" in text
