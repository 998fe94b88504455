"""``citybrain run --counts``: a user's counts instead of the emulated cameras (the shipped demo, 10 minutes)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.counts.sightings import PLATE_KEY_ENV

from ...conftest import ROOT

ARGS = ["--seeds", "1", "--strategies", "existing,plan", "--workers", "1", "--quiet"]
ONLY_PLANS = ["--seeds", "1", "--strategies", "existing", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def demo600(tmp_path_factory):
    """The demo scenario cut to 600 s (``simulate`` takes the window from the file)."""
    text = (ROOT / "scenarios" / "demo.toml").read_text()
    text = text.replace("end_s = 3600.0", "end_s = 600.0")
    text = text.replace('"../networks/arterial5.net.xml"', f'"{ROOT / "networks" / "arterial5.net.xml"}"')
    path = tmp_path_factory.mktemp("scenario") / "demo.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def camera_feed(demo600, tmp_path_factory):
    """``simulate --cameras-out`` on the cut demo with the main job's counting seed: counts, registry, sightings."""
    cams = tmp_path_factory.mktemp("cams")
    written = CliRunner().invoke(cli, ["simulate", str(demo600), "--seed", "1000", "--cameras-out", str(cams)])
    assert written.exit_code == 0, written.output
    return tuple(cams / f"demo_seed1000_{name}.csv" for name in ("counts", "cameras", "sightings"))


@pytest.mark.sumo
def test_counts_written_by_simulate_give_the_plans_of_the_emulated_path(demo600, camera_feed, tmp_path):
    emulated = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "emulated"), *ONLY_PLANS])
    assert emulated.exit_code == 0, emulated.output
    counts, registry, _ = camera_feed
    assert "queue_veh" in pd.read_csv(counts).columns and "range_m" in pd.read_csv(registry).columns
    own = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "own"), *ARGS, "--counts", str(counts),
                                   "--registry", str(registry)])
    assert own.exit_code == 0, own.output
    plans = [json.loads((tmp_path / name / "plan.json").read_text()) for name in ("emulated", "own")]
    assert plans[0] == plans[1]
    assert (tmp_path / "emulated" / "flows.csv").read_text() == (tmp_path / "own" / "flows.csv").read_text()
    # the twin validated the plans on demand routed from the estimate, not on the scenario's flows
    assert (tmp_path / "own" / "demand" / "routes.rou.xml").is_file()
    assert not (tmp_path / "own" / "runs" / "counting").exists()
    assert "validation demand routed from their estimate" in (tmp_path / "own" / "report.md").read_text()
    runs = pd.read_csv(tmp_path / "own" / "runs.csv")
    assert runs["error"].isna().all() and runs["arrived"].min() > 100


@pytest.mark.sumo
def test_sightings_of_the_same_cameras_enter_the_estimate_and_routesampler_builds_the_demand(
        demo600, camera_feed, tmp_path, monkeypatch):
    counts, registry, sightings = camera_feed
    feed = pd.read_csv(sightings, dtype={"plate": str})
    assert len(feed) > 100
    feed["plate"] = "RAWPLATE-" + feed["plate"] + "-Q"  # unmistakable in any output
    feed.to_csv(sightings.with_name("marked_sightings.csv"), index=False)
    monkeypatch.setenv(PLATE_KEY_ENV, "a-test-key-of-32-bytes-0123456789")
    out = tmp_path / "plates"
    own = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(out), "--seeds", "1", "--strategies", "existing",
                                   "--workers", "1", "--counts", str(counts), "--registry", str(registry),
                                   "--sightings", str(sightings.with_name("marked_sightings.csv")),
                                   "--demand-method", "routesampler"])
    assert own.exit_code == 0, own.output
    fragments = re.search(r"(\d+) path fragments from the plate sightings", own.output)
    assert fragments and int(fragments.group(1)) > 0
    assert "validation demand:" in own.output and "(routesampler, from the estimate)" in own.output
    assert (out / "demand" / "turn_counts.xml").is_file() and (out / "plan.json").is_file()
    runs = pd.read_csv(out / "runs.csv")
    assert runs["error"].isna().all() and runs["arrived"].min() > 100
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".md", ".html", ".xml", ".txt", ".log"):
            assert "RAWPLATE" not in path.read_text(errors="replace"), path


def test_counts_with_problems_are_refused_with_the_report(demo600, tmp_path):
    bad = tmp_path / "counts.csv"
    bad.write_text("interval_start,interval_s,camera_id,junction,from_edge,to_edge,count,queue_veh\n"
                   "0,300,cam_J1_W_J1,J1,W_J1,,12,-3\n")
    result = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "out"), *ARGS, "--counts", str(bad)])
    assert result.exit_code == 2
    report = (tmp_path / "out" / "counts_report.txt").read_text()
    assert "row 2" in report and "negative queue" in report


def test_registry_needs_counts_and_the_closed_loop_takes_none(demo600, tmp_path):
    reg = tmp_path / "cameras.csv"
    reg.write_text("camera_id,junction,from_edge,to_edge,lanes\n")
    alone = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "a"), "--registry", str(reg)])
    assert alone.exit_code == 2 and "give --counts too" in alone.output
    plates = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "c"), "--sightings", str(reg)])
    assert plates.exit_code == 2 and "give --counts too" in plates.output
    loop = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "b"), "--replan-every", "5", "--counts",
                                    str(reg)])
    assert loop.exit_code == 2 and "does not take --counts" in loop.output
    routed = CliRunner().invoke(cli, ["run", str(demo600), "--out", str(tmp_path / "d"), "--demand-method",
                                      "routesampler"])
    assert routed.exit_code == 2 and "give --counts too" in routed.output
