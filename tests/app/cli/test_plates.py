"""Plate sightings from the twin's cameras through `citybrain estimate` and `citybrain traffic-state`.

The twin's cameras read plates (its vehicle ids); the engine hashes them as it reads the file,
and no raw plate reaches any output file, message or log.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli import CityBrainGroup
from citybrain.app.cli.estimate import estimate
from citybrain.app.cli.traffic_state import traffic_state
from citybrain.counts.sightings import PLATE_KEY_ENV, SIGHTING_COLUMNS
from simulation import RunSpec, write_camera_tables
from simulation.runner import run_seeds
from simulation.scenario import load_scenario

from ...conftest import NETWORKS, ROOT

pytestmark = pytest.mark.sumo
NET = str(NETWORKS / "grid4x4.net.xml")


@click.group(cls=CityBrainGroup)
def cli() -> None:
    """Test group wired like citybrain.app.cli."""


cli.add_command(estimate)
cli.add_command(traffic_state)


@pytest.fixture(scope="module")
def camera_files(tmp_path_factory):
    """15 minutes of the grid's cameras (read rate 0.5), with distinctive plates."""
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    sc = replace(sc, end_s=900.0, cameras=replace(sc.cameras, read_rate=0.5, misread_rate=0.02))
    (res,) = run_seeds(RunSpec(sc, cameras=True), [0], workers=1)
    assert res.ok, res.error
    folder = tmp_path_factory.mktemp("cameras")
    counts, _, registry, sightings = write_camera_tables(res.cameras, folder, "", sightings=True)
    feed = pd.read_csv(sightings, dtype={"plate": str})
    assert list(feed.columns) == list(SIGHTING_COLUMNS)
    # a plate is the vehicle id; make each one unmistakable in any text
    feed["plate"] = "RAWPLATE-" + feed["plate"] + "-Q"
    feed.to_csv(sightings, index=False)
    return counts, registry, sightings, sorted(set(feed["plate"]))


def test_estimate_and_traffic_state_with_sightings_leak_no_plate(camera_files, tmp_path, monkeypatch, caplog):
    counts, registry, sightings, plates = camera_files
    monkeypatch.setenv(PLATE_KEY_ENV, "a-test-key-of-32-bytes-0123456789")
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["estimate", "--network", NET, "--counts", str(counts), "--registry", str(registry),
            "--sightings", str(sightings), "--out", str(out / "flows.csv"), "--travel-times", str(out / "tt.csv")]
    with caplog.at_level(logging.DEBUG):
        first = runner.invoke(cli, args)
        as_json = runner.invoke(cli, [*args[:-4], "--json"])
        state = runner.invoke(cli, ["traffic-state", "--network", NET, "--flows", str(out / "flows.csv"),
                                    "--registry", str(registry), "--sightings", str(sightings),
                                    "--out", str(out / "state.geojson")])
    for result in (first, as_json, state):
        assert result.exit_code == 0, result.output
    assert "path fragments" in first.output
    timed = pd.read_csv(out / "tt.csv")
    assert list(timed.columns) == ["edge", "travel_time_s", "matched"] and (timed["travel_time_s"] > 0).all()
    assert timed["matched"].sum() > 50
    texts = [first.output, as_json.output, state.output, caplog.text]
    texts += [p.read_text(errors="replace") for p in out.iterdir() if p.suffix != ".png"]
    texts += [p.read_bytes().decode("latin-1") for p in out.iterdir() if p.suffix == ".png"]
    leaked = [p for p in plates if any(p in t for t in texts)]
    assert not leaked and "RAWPLATE" not in "".join(texts)


def test_sightings_need_a_registry_and_a_key(camera_files, monkeypatch):
    counts, registry, sightings, _ = camera_files
    runner = CliRunner()
    base = ["estimate", "--network", NET, "--counts", str(counts), "--sightings", str(sightings)]
    monkeypatch.setenv(PLATE_KEY_ENV, "a-test-key-of-32-bytes-0123456789")
    no_registry = runner.invoke(cli, base)
    assert no_registry.exit_code == 2 and "--sightings needs --registry" in no_registry.output
    monkeypatch.delenv(PLATE_KEY_ENV)
    no_key = runner.invoke(cli, [*base, "--registry", str(registry)])
    assert no_key.exit_code == 2 and PLATE_KEY_ENV in no_key.output
    assert "Traceback" not in no_registry.output + no_key.output


@pytest.mark.parametrize(("args", "period"), [([], 0.0), (["--pool-ratios"], 3600.0)])
def test_pool_ratios_option(args, period):
    import json

    from ...conftest import DATA

    result = CliRunner().invoke(cli, ["estimate", "--network", NET, "--counts", str(DATA / "good_counts.csv"), *args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert summary["settings"]["ratio_period_s"] == period
    assert ("pooled" in summary["settings"]["turning_ratio_prior"]) == (period > 0)


def test_sightings_mistakes_are_one_line_and_exit_2(camera_files, tmp_path, monkeypatch):
    counts, registry, sightings, _ = camera_files
    monkeypatch.setenv(PLATE_KEY_ENV, "a-test-key-of-32-bytes-0123456789")
    runner = CliRunner()
    base = ["estimate", "--network", NET, "--counts", str(counts), "--registry", str(registry)]
    lonely = runner.invoke(cli, [*base, "--travel-times", str(tmp_path / "tt.csv")])
    assert lonely.exit_code == 2 and "--travel-times needs --sightings" in lonely.output
    iso = tmp_path / "iso.csv"
    feed = pd.read_csv(sightings, dtype={"plate": str})
    feed["time_s"] = (pd.Timestamp("2026-12-04T07:00:00") + pd.to_timedelta(feed["time_s"], unit="s")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    feed.to_csv(iso, index=False)
    mixed = runner.invoke(cli, [*base, "--sightings", str(iso)])
    assert mixed.exit_code == 2 and "one kind of time in both files" in mixed.output
    assert "RAWPLATE" not in mixed.output and "Traceback" not in lonely.output + mixed.output
    # sightings that link nothing (each plate read once) still give an estimate
    once = tmp_path / "once.csv"
    feed.assign(time_s=pd.read_csv(sightings)["time_s"]).drop_duplicates("plate").to_csv(once, index=False)
    single = runner.invoke(cli, [*base, "--sightings", str(once), "--travel-times", str(tmp_path / "tt.csv")])
    assert single.exit_code == 0, single.output
    assert "0 path fragments" in single.output and list(pd.read_csv(tmp_path / "tt.csv").columns) == ["edge", "travel_time_s", "matched"]
