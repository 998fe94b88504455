"""The estimate's result: FlowEstimate tables, hourly aggregation, GEH, flow files, JSON."""

from __future__ import annotations

import json

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from citybrain.counts import counts_from_frame
from citybrain.estimation import (
    FLOW_COLUMNS,
    EstimationSettings,
    FlowEstimate,
    aggregate_hourly,
    estimate_flows,
    estimate_to_json,
    geh,
    read_flows,
    write_flows,
)
from citybrain.exceptions import ValidationError
from citybrain.synthetic import sample_camera_counts

def test_schema(estimate, grid):
    assert isinstance(estimate, FlowEstimate)
    assert tuple(estimate.flows.columns) == FLOW_COLUMNS
    n_sig = sum(1 for m in grid.movements if m.tls and m.turn != "crossing")
    assert len(estimate.flows) == 4 * n_sig
    assert set(estimate.flows["junction"].astype(str)) == set(grid.signalised_junctions)
    assert list(estimate.fit.columns) == [
        "interval_start", "interval_s", "camera_id", "junction", "from_edge", "to_edge", "observed_vph", "fitted_vph", "geh",
    ]


def test_hourly_aggregation(estimate):
    hourly = estimate.hourly()
    assert (hourly["interval_s"] == 3600).all()
    assert len(hourly) == len(estimate.flows) // 4
    mean = estimate.flows.groupby(["junction", "from_edge", "to_edge"], observed=True)["flow_vph"].mean()
    got = hourly.set_index(["junction", "from_edge", "to_edge"])["flow_vph"]
    npt.assert_allclose(got.loc[mean.index], mean)
    # a 5-minute table gives the same hour
    five = pd.DataFrame({"interval_start": np.arange(12) * 300.0, "interval_s": 300.0, "junction": "J",
                         "from_edge": "a", "to_edge": "b", "flow_vph": np.arange(12.0), "se_vph": 1.0})
    h = aggregate_hourly(five)
    assert h["flow_vph"].item() == pytest.approx(5.5)
    assert h["se_vph"].item() == pytest.approx(np.sqrt(12) / 12)


def test_geh():
    assert geh(0.0, 0.0) == 0.0
    assert geh(450.0, 400.0) == pytest.approx(np.sqrt(2 * 50**2 / 850))
    npt.assert_allclose(geh(np.array([1.0, 0.0]), np.array([1.0, 0.0])), [0.0, 0.0])


def test_flows_file_round_trip(estimate, tmp_path):
    path = write_flows(estimate, tmp_path / "flows.csv")
    back = read_flows(path)
    assert tuple(back.columns) == FLOW_COLUMNS
    npt.assert_allclose(back["flow_vph"], estimate.flows["flow_vph"], atol=1e-3)
    bad = back.copy()
    bad.loc[3, "flow_vph"] = -1
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError, match="row"):
        read_flows(tmp_path / "bad.csv")


def test_iso_times_carry_through(grid, truth):
    counts = sample_camera_counts(truth, grid, seed=1)
    counts["interval_start"] = counts["interval_start"].map(
        lambda s: (pd.Timestamp("2024-05-01T07:00:00") + pd.Timedelta(seconds=float(s))).isoformat()
    )
    est = estimate_flows(grid, counts_from_frame(counts, grid), EstimationSettings(standard_errors=False))
    assert est.flows["interval_start"].iloc[0] == "2024-05-01T07:00:00"
    hourly = est.hourly()
    assert set(hourly["interval_start"]) == {"2024-05-01T07:00:00"}


def test_settings_are_stored_on_the_result(grid, partial, estimate):
    assert estimate.settings == EstimationSettings()
    assert estimate.turning_ratio_prior == "lane-use"
    some = list(grid.signalised_junctions[:2])
    settings = EstimationSettings(noise_rel=0.2, junctions=some, standard_errors=False)
    est = estimate_flows(grid, partial, settings, turning_ratios=estimate.flows)
    assert est.settings is settings
    assert est.turning_ratio_prior == "history"
    assert set(est.flows["junction"].astype(str)) == set(some)
    assert est.flows["se_vph"].isna().all()
    summary = est.summary()["settings"]
    assert summary["noise_rel"] == 0.2 and summary["junctions"] == some
    assert summary["turning_ratio_prior"] == "history"
    assert json.loads(estimate_to_json(est))["summary"]["settings"] == summary
