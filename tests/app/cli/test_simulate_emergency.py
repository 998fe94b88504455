"""``citybrain simulate --emergency-every / --preempt``: emergency runs apart in the JSON, and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli

from ...conftest import ROOT


@pytest.fixture
def short_arterial(tmp_path):
    path = tmp_path / "short.toml"
    flows = "".join(f'[[flows]]\nfrom_edge = "{a}"\nto_edge = "{b}"\nveh_per_hour = {v}\n'
                    for a, b, v in (("W_J1", "J5_E", 600), ("E_J5", "J1_W", 500), ("N3_J3", "J3_S3", 200)))
    path.write_text(f'name = "short"\nnetwork = "{ROOT / "networks" / "arterial5.net.xml"}"\nend_s = 480\n{flows}')
    return str(path)


@pytest.mark.sumo
def test_emergency_runs_are_reported_apart_and_preempted(short_arterial):
    result = CliRunner().invoke(cli, ["simulate", short_arterial, "--seed", "0", "--emergency-every", "2", "--preempt",
                                      "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    (run,) = body["runs"]
    assert run["emergency"]["count"] == 3  # departing at 2, 4 and 6 min
    assert body["emergency"]["count"] == 3 and body["emergency"]["finished"] == run["emergency"]["finished"] >= 2
    assert set(body["emergency"]) == {"count", "finished", "trip_time_s", "delay_s", "waiting_s", "stops"}
    assert run["preemptions"] and {"tls", "vehicle", "call_s", "entry_s", "dwell_s", "release_s", "exit_s"} <= set(
        run["preemptions"][0])
    assert {p["vehicle"] for p in run["preemptions"]} <= {f"emergency_{k}" for k in range(3)}
    assert run["monitor"]["ours"]["total"] == 0
    table = CliRunner().invoke(cli, ["simulate", short_arterial, "--seed", "0", "--emergency-every", "2"])
    assert table.exit_code == 0 and "emergency vehicles (not in the delay above): 3 inserted" in table.output


def test_preempt_without_emergency_vehicles_exits_2(short_arterial):
    result = CliRunner().invoke(cli, ["simulate", short_arterial, "--preempt"])
    assert result.exit_code == 2
    assert "give --emergency-every MIN or an [emergency] section" in result.output
