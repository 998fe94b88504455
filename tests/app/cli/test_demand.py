"""``citybrain demand``: routes from an estimate that SUMO runs, reproducing the estimated movement flows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.estimation import geh, read_flows
from citybrain.network import graph_from_sumo_net
from simulation import RunSpec, Twin, write_camera_tables
from simulation.scenario import Scenario, load_scenario

from ...conftest import NETWORKS, ROOT

NET = NETWORKS / "arterial5.net.xml"
WINDOW_S = 1800.0


@pytest.fixture(scope="module")
def estimated(tmp_path_factory):
    """Half an hour of the demo's cameras, estimated by ``citybrain estimate`` into flows.csv."""
    tmp = tmp_path_factory.mktemp("estimated")
    sc = replace(load_scenario(ROOT / "scenarios" / "demo.toml"), end_s=WINDOW_S)
    net = graph_from_sumo_net(NET)
    counted = Twin(RunSpec(sc, cameras=True, seed=1000), workdir=tmp / "count", network=net).run()
    counts, _, registry = write_camera_tables(counted.cameras, tmp / "cams", "")
    est = CliRunner().invoke(cli, ["estimate", "--network", str(NET), "--counts", str(counts), "--registry",
                                   str(registry), "--out", str(tmp / "flows.csv")])
    assert est.exit_code == 0, est.output
    assert "queues read: demand" in est.output
    return sc, net, tmp / "flows.csv"


@pytest.mark.sumo
@pytest.mark.parametrize("method", ["jtrrouter", "routesampler"])
def test_demand_runs_in_sumo_and_reproduces_the_estimated_movement_flows(estimated, method, tmp_path):
    sc, net, flows_csv = estimated
    made = CliRunner().invoke(cli, ["demand", "--network", str(NET), "--flows", str(flows_csv), "--method", method,
                                    "--out", str(tmp_path / "routes.rou.xml"), "--seed", "3"])
    assert made.exit_code == 0, made.output
    assert f"vehicles routed by {method}" in made.output

    twin = Scenario(name="from-counts", source=flows_csv, network=NET,
                    demand=(tmp_path / "routes.rou.xml",), end_s=WINDOW_S, cameras=sc.cameras)
    replay = Twin(RunSpec(twin, cameras=True, seed=0), workdir=tmp_path / "replay", network=net).run()
    assert replay.ok and replay.arrived > 1000
    assert replay.never_inserted <= 0.005 * replay.arrived  # at most the last seconds' departures
    truth = replay.cameras.truth
    keys = ["junction", "from_edge", "to_edge"]
    simulated = truth[truth["to_edge"] != ""].groupby(keys)["count"].sum() * 3600.0 / WINDOW_S
    flows = read_flows(flows_csv)
    estimated_vph = flows.groupby(keys)["demand_vph"].mean()
    estimated_vph, simulated = estimated_vph.align(simulated, fill_value=0.0)
    assert len(estimated_vph) == 60
    assert np.mean(geh(simulated.to_numpy(), estimated_vph.to_numpy()) < 5.0) >= 0.95


def test_demand_refuses_a_flows_file_that_does_not_fit_the_network(tmp_path):
    flows = pd.DataFrame({"interval_start": [0.0], "interval_s": [300.0], "junction": ["J1"], "from_edge": ["W_J1"],
                          "to_edge": ["nowhere"], "flow_vph": [100.0], "se_vph": [1.0]})
    flows.to_csv(tmp_path / "flows.csv", index=False)
    result = CliRunner().invoke(cli, ["demand", "--network", str(NET), "--flows", str(tmp_path / "flows.csv"),
                                      "--out", str(tmp_path / "r.rou.xml")])
    assert result.exit_code == 2
    assert "flows.csv" in result.output and "nowhere is not a movement" in result.output
    assert not (tmp_path / "r.rou.xml").exists()
