"""The main job (``citybrain run``): real SUMO runs on the shipped demo, shortened."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli.plans import plans
from citybrain.app.cli.run import run
from citybrain.counts import CountTable
from citybrain.estimation import estimate_flows
from citybrain.network import graph_from_sumo_net
from citybrain.plans import check_network_plan, read_plans
from citybrain.app.runner.job import make_plans

from ...conftest import ROOT

DEMO = "scenarios/demo.toml"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The job as the README runs it: a relative ``--out`` folder; what the estimator receives is kept."""
    import citybrain.app.runner.job as job_module

    where = tmp_path_factory.mktemp("demo")
    received = []

    def estimator(network, counts, *args, **kwargs):
        received.append(counts)
        return estimate_flows(network, counts, *args, **kwargs)

    def no_file_reading(path, *args, **kwargs):
        msg = f"the job read {path} back"
        raise AssertionError(msg)

    cwd = os.getcwd()
    os.chdir(where)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(job_module, "estimate_flows", estimator)
            mp.setattr(pd, "read_csv", no_file_reading)  # in this process: the runs' children are apart
            result = CliRunner().invoke(run, [str(ROOT / DEMO), "--out", "report", "--seeds", "1", "--strategies",
                                              "existing,plan", "--duration", "900"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output + str(result.exception)
    return where / "report", result, received


@pytest.mark.sumo
def test_the_estimator_gets_the_cameras_table_not_a_file_read_back(job):
    out, _, received = job
    (table,) = received
    assert isinstance(table, CountTable) and table.report.ok
    assert table.report.source == str(Path("report") / "counts" / "counts.csv")  # the file the report names
    written = pd.read_csv(out / "counts" / "counts.csv", keep_default_na=False)
    assert len(table) == len(written)
    assert table.frame["count"].tolist() == written["count"].astype(float).tolist()


@pytest.mark.sumo
def test_run_writes_report_plans_and_flows(job):
    out, result, _ = job
    for name in ("report.md", "report.html", "plan.json", "plan.add.xml", "flows.csv", "runs.csv",
                 "counts/counts.csv", "counts/truth.csv", "counts/cameras.csv"):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text()
    assert "## Strategies" in md and "HCM level of service" in md and "GEH < 5" in md
    assert "new plans (citybrain): delay" in result.output


@pytest.mark.sumo
def test_run_plans_are_safe_and_beat_existing(job):
    out, _, _ = job
    network = graph_from_sumo_net("networks/arterial5.net.xml")
    for path in (out / "plan.json", out / "plan.add.xml"):
        plan = read_plans(path, network=network)
        assert not [v for v in check_network_plan(plan, network) if v.severity == "error"]
        checked = CliRunner().invoke(plans, ["check", str(path), "--network", "networks/arterial5.net.xml"])
        assert checked.exit_code == 0, checked.output
    runs = pd.read_csv(out / "runs.csv")
    assert runs["error"].isna().all()
    delay = runs.groupby("strategy")["delay_s"].mean()
    assert delay["plan"] < delay["existing"]


@pytest.mark.sumo
def test_run_is_reproducible(job, tmp_path):
    out, _, _ = job
    again = CliRunner().invoke(run, [DEMO, "--out", str(tmp_path), "--seeds", "1", "--strategies", "existing,plan",
                                     "--duration", "900", "--quiet"])
    assert again.exit_code == 0, again.output
    cols = ["strategy", "seed", "delay_s", "trip_time_s", "waiting_s", "arrived"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "runs.csv")[cols], pd.read_csv(tmp_path / "runs.csv")[cols])
    assert json.loads((out / "plan.json").read_text()) == json.loads((tmp_path / "plan.json").read_text())


def test_run_rejects_unknown_strategy(tmp_path):
    result = CliRunner().invoke(run, [DEMO, "--out", str(tmp_path), "--strategies", "existing,nonsense"])
    assert result.exit_code != 0
    assert "nonsense" in str(result.exception)


def test_make_plans_time_of_day_periods():
    network = graph_from_sumo_net("networks/arterial5.net.xml")
    rows = []
    for k in range(24):  # four hours of 10-minute intervals, demand doubling after two hours
        for mv in network.movements:
            if mv.tls is not None and mv.turn != "crossing":
                rows.append((k * 600.0, 600.0, mv.junction, mv.from_edge, mv.to_edge,
                             (100.0 if k < 12 else 250.0) * (2 if mv.turn == "through" else 1), 10.0))
    flows = pd.DataFrame(rows, columns=["interval_start", "interval_s", "junction", "from_edge", "to_edge",
                                        "flow_vph", "se_vph"])
    plan, how = make_plans(network, flows, duration_s=4 * 3600.0, method="webster")
    assert len(plan.periods) == 2 and "time-of-day" in how
    cycles = [p.periods[0].plans[0].cycle_s for p in (plan,)] + [plan.periods[1].plans[0].cycle_s]
    assert cycles[1] > cycles[0]


REAL = ["resco_cologne1", "resco_cologne3", "resco_ingolstadt1", "resco_ingolstadt7", "atlanta", "hangzhou_bc_tyc",
        "hangzhou_kn_hz", "hangzhou_qc_yn", "hangzhou_sb_sx"]


@pytest.mark.parametrize("name", ["demo", "day", *REAL])
def test_shipped_scenario_files_load(name):
    from pathlib import Path

    from simulation import load_scenario

    if name not in ("demo", "day") and not Path("../shared/real").is_dir():
        pytest.skip("the real-world scenarios need ../shared/real beside the repository")
    sc = load_scenario(f"scenarios/{name}.toml")
    assert sc.network.is_file() and sc.duration_s >= 3600
    if name == "day":
        assert sc.duration_s == 6 * 3600


@pytest.mark.sumo
def test_run_reports_the_conflict_monitor(job):
    out, result, _ = job
    text = (out / "report.md").read_text()
    assert "## Conflict monitor" in text and "No violation under any strategy" in text
    assert "conflict monitor" not in result.stderr


def test_monitor_rows_say_whose_violations_they_are():
    from citybrain.app.report.data import MONITOR_COLUMNS, ReportData
    from citybrain.app.report.write import monitor_blocks
    from citybrain.app.runner.job import _our_violations, monitor_rows

    first = {"time_s": 20.0, "tls": "A0", "detail": "links 0: green to red without yellow"}
    summary = {"counts": {"conflict": 0, "no-yellow": 2}, "first": {"no-yellow": first},
               "ours": {"counts": {"no-yellow": 0}}}
    existing, plan, mp = (monitor_rows(s, 0, summary) for s in ("existing", "plan", "maxpressure"))
    assert [r["ours"] for r in existing + plan + mp] == [False, True, False]
    assert plan[0]["count"] == 2 and plan[0]["first_tls"] == "A0" and plan[0]["kind"] == "no-yellow"
    frame = pd.DataFrame(existing + plan, columns=list(MONITOR_COLUMNS))
    (line,) = _our_violations(frame)
    assert line.startswith("conflict monitor: plan: 2 no-yellow violation(s), first at t=20 s (seed 0) on light A0")

    class Data:  # the section reads the monitor frame, the strategies and their labels only
        monitor, strategies = frame, ["existing", "plan"]
        label = staticmethod(lambda s: ReportData.label(None, s))

    blocks = monitor_blocks(Data())
    table = next(b[1] for b in blocks if b[0] == "table")
    assert list(table["ours"]) == ["no (baseline)", "yes"] and list(table["no-yellow"]) == [2, 2]
    assert any(b[0] == "li" and "(OURS): no-yellow first at t=20 s" in b[1] for b in blocks)
