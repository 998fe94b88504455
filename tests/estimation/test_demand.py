"""Demand from queue readings: discharge plus queue growth, the held queue, capped queues, flow files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from citybrain.counts import DEFAULT_CAMERA_RANGE_M, QUEUE_COLUMN, counts_from_frame
from citybrain.estimation import DEMAND_COLUMNS, EstimationSettings, estimate_flows, read_flows, write_flows
from citybrain.exceptions import ValidationError
from citybrain.synthetic import sample_camera_counts, synthetic_movement_flows

APPROACH = ("A0", "B0A0")  # two lanes


@pytest.fixture(scope="module")
def counts(grid):
    truth = synthetic_movement_flows(grid, n_intervals=3, interval_s=900.0, seed=7)
    return sample_camera_counts(truth, grid, seed=2)


def _with_queues(counts: pd.DataFrame, readings) -> pd.DataFrame:
    """The counts with ``readings`` (one per interval) on APPROACH's total rows, blank elsewhere."""
    frame = counts.assign(**{QUEUE_COLUMN: np.nan})
    rows = (frame["junction"] == APPROACH[0]) & (frame["from_edge"] == APPROACH[1]) & (frame["to_edge"] == "")
    frame.loc[rows, QUEUE_COLUMN] = readings
    return frame


def _approach_vehicles(flows: pd.DataFrame, column: str) -> np.ndarray:
    """Vehicles per interval of APPROACH's movements in ``column`` (veh/h x 900 s)."""
    mine = flows[(flows["junction"] == APPROACH[0]) & (flows["from_edge"] == APPROACH[1])]
    return mine.groupby("interval_start")[column].sum().to_numpy() * 900.0 / 3600.0


def test_demand_is_discharge_plus_queue_growth_with_the_held_queue_first(grid, counts):
    est = estimate_flows(grid, counts_from_frame(_with_queues(counts, [6.0, 14.0, 9.0]), grid))
    flows = est.flows
    assert list(flows.columns[-2:]) == list(DEMAND_COLUMNS)
    extra = _approach_vehicles(flows, "demand_vph") - _approach_vehicles(flows, "flow_vph")
    np.testing.assert_allclose(extra, [6.0, 8.0, -5.0], atol=1e-6)  # held queue first, then growth
    # growth is shared by discharge: each movement keeps its share of the approach
    mine = flows[(flows["junction"] == APPROACH[0]) & (flows["from_edge"] == APPROACH[1])]
    first = mine[mine["interval_start"] == 0.0]
    np.testing.assert_allclose(first["demand_vph"] / first["demand_vph"].sum(),
                               first["flow_vph"] / first["flow_vph"].sum())
    others = flows[~((flows["junction"] == APPROACH[0]) & (flows["from_edge"] == APPROACH[1]))]
    np.testing.assert_array_equal(others["demand_vph"], others["flow_vph"])  # no reading: demand is discharge
    assert not flows["queue_capped"].any()


def test_a_missing_reading_leaves_the_interval_alone_and_the_next_grows_from_the_last_one(grid, counts):
    est = estimate_flows(grid, counts_from_frame(_with_queues(counts, [6.0, np.nan, 10.0]), grid))
    extra = _approach_vehicles(est.flows, "demand_vph") - _approach_vehicles(est.flows, "flow_vph")
    np.testing.assert_allclose(extra, [6.0, 0.0, 4.0], atol=1e-6)


def test_a_queue_that_fills_the_cameras_range_makes_demand_a_lower_bound(grid, counts):
    holds = 2 * DEFAULT_CAMERA_RANGE_M / EstimationSettings().jam_spacing_m  # two lanes, 8 m a vehicle
    est = estimate_flows(grid, counts_from_frame(_with_queues(counts, [3.0, holds, holds - 1]), grid))
    mine = est.flows[(est.flows["junction"] == APPROACH[0]) & (est.flows["from_edge"] == APPROACH[1])]
    capped = mine.groupby("interval_start")["queue_capped"].agg(["all", "any"])
    assert capped["all"].tolist() == capped["any"].tolist() == [False, True, False]
    assert est.flows["queue_capped"].sum() == len(mine) // 3
    # a shorter range (from the registry's range_m) fills sooner
    short = _with_queues(counts, [3.0, holds - 1, 3.0]).assign(range_m=DEFAULT_CAMERA_RANGE_M / 2)
    est = estimate_flows(grid, counts_from_frame(short, grid))
    mine = est.flows[(est.flows["junction"] == APPROACH[0]) & (est.flows["from_edge"] == APPROACH[1])]
    assert mine.groupby("interval_start")["queue_capped"].all().tolist() == [False, True, False]


def test_counts_without_readings_give_no_demand_columns(grid, counts):
    assert not set(DEMAND_COLUMNS) & set(estimate_flows(grid, counts_from_frame(counts, grid)).flows.columns)
    blank = counts.assign(**{QUEUE_COLUMN: ""})
    assert not set(DEMAND_COLUMNS) & set(estimate_flows(grid, counts_from_frame(blank, grid)).flows.columns)


def test_flow_files_keep_demand_and_refuse_bad_flags(grid, counts, tmp_path):
    est = estimate_flows(grid, counts_from_frame(_with_queues(counts, [6.0, 40.0, 9.0]), grid))
    path = write_flows(est, tmp_path / "flows.csv")
    back = read_flows(path)
    assert list(back.columns[-2:]) == list(DEMAND_COLUMNS) and back["queue_capped"].dtype == bool
    np.testing.assert_allclose(back["demand_vph"], est.flows["demand_vph"], atol=1e-3)
    assert back["queue_capped"].tolist() == est.flows["queue_capped"].tolist()
    bad = pd.read_csv(path, dtype=str, keep_default_na=False)
    bad.loc[3, "queue_capped"] = "maybe"
    bad.loc[5, "demand_vph"] = "-1"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError, match=r"rows 7 field 'demand_vph'") as info:
        read_flows(tmp_path / "bad.csv")
    assert "rows 5 field 'queue_capped': expected True or False" in str(info.value)


def test_hourly_flows_sum_demand_and_keep_any_capped_interval(grid, counts):
    holds = 2 * DEFAULT_CAMERA_RANGE_M / EstimationSettings().jam_spacing_m
    est = estimate_flows(grid, counts_from_frame(_with_queues(counts, [6.0, holds, 9.0]), grid))
    hourly = est.hourly()
    assert list(hourly.columns[-2:]) == list(DEMAND_COLUMNS)
    mine = hourly[(hourly["junction"] == APPROACH[0]) & (hourly["from_edge"] == APPROACH[1])]
    assert mine["queue_capped"].all() and hourly["queue_capped"].sum() == len(mine)
    # three 900 s intervals scaled to the hour: the extra vehicles are the last reading, 9
    extra = (mine["demand_vph"] - mine["flow_vph"]).sum() * 2700.0 / 3600.0
    assert extra == pytest.approx(9.0, abs=1e-6)
