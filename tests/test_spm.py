"""citybrain.spm on hand-made event logs: arrivals on green, split failures, row-naming errors."""

from __future__ import annotations

import pandas as pd
import pytest

from citybrain.exceptions import ValidationError
from citybrain.spm import measures, read_detectors, read_events, split_monitor

DET = "signal_id,channel,phase,kind,lane,distance_m\nA,1,1,stopbar,a_0,0.5\nA,2,1,advance,a_0,120\n"


def _log(tmp_path, rows):
    lines = ["timestamp,signal_id,event_code,event_param"]
    for t, code, param in sorted(rows, key=lambda r: r[0]):
        stamp = (pd.Timestamp("2026-01-01") + pd.to_timedelta(t, unit="s")).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-5]
        lines.append(f"{stamp},A,{code},{param}")
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "detectors.csv").write_text(DET)
    return read_events(tmp_path / "events.csv"), read_detectors(tmp_path / "detectors.csv")


def _cycles(n, cycle=60.0, green=30.0, yellow=3.0):
    rows = []
    for k in range(n + 1):
        t = k * cycle
        rows += [(t, 1, 1), (t + green, 8, 1), (t + green + yellow, 10, 1), (t + cycle - 0.1, 11, 1)]
    return rows


def test_arrivals_on_green_counted_per_cycle(tmp_path):
    rows = _cycles(3)
    # per cycle: 2 arrivals on green (5 s, 29.9 s), 1 on yellow (31 s: not green), 1 on red (50 s)
    for k in range(3):
        for dt in (5.0, 29.9, 31.0, 50.0):
            rows += [(k * 60 + dt, 82, 2), (k * 60 + dt + 0.4, 81, 2)]
    rows += [(185.0, 82, 2), (185.4, 81, 2)]  # after the last complete cycle: not counted
    ev, det = _log(tmp_path, rows)
    m = measures(ev, det).set_index("phase").loc[1]
    assert (m["cycles"], m["arrivals"], m["arrivals_on_green"]) == (3, 12, 6)
    assert m["aog_pct"] == pytest.approx(50.0)
    assert m["platoon_ratio"] == pytest.approx(0.5 / (30 / 60))
    # the red arrival waits until the next green (60 - 50 s), the yellow one 29 s: per arriving vehicle
    assert m["delay_s_per_veh"] == pytest.approx((10 + 29) * 3 / 12)
    assert m["split_failures"] == 0


def test_split_failure_needs_green_and_red_occupancy(tmp_path):
    rows = _cycles(2)
    # cycle 0: stop bar occupied through green and first 5 s of red -> failure
    rows += [(0.5, 82, 1), (39.0, 81, 1)]
    # cycle 1: occupied through green, cleared at the red -> no failure
    rows += [(60.5, 82, 1), (90.5, 81, 1)]
    ev, det = _log(tmp_path, rows)
    m = measures(ev, det)
    assert m["split_failures"].tolist() == [1]
    sm = split_monitor(ev)
    assert sm["split_s_mean"].iloc[0] == pytest.approx(59.9)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("2026-01-01T00:00:0x,A,1,1", "row 3: timestamp '2026-01-01T00:00:0x' is not ISO 8601"),
        ("2026-01-01T00:00:02.0,A,eight,1", "row 3: event_code 'eight' is not a non-negative integer"),
        ("2026-01-01T00:00:02.0,A,8,-1", "row 3: event_param '-1' is not a non-negative integer"),
    ],
)
def test_malformed_row_named(tmp_path, row, match):
    path = tmp_path / "events.csv"
    path.write_text(f"timestamp,signal_id,event_code,event_param\n2026-01-01T00:00:01.0,A,1,1\n{row}\n")
    with pytest.raises(ValidationError, match=match):
        read_events(path)


def test_missing_column_and_bad_detector_kind(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("timestamp,signal_id,event_code\n2026-01-01T00:00:01.0,A,1\n")
    with pytest.raises(ValidationError, match="missing column.*event_param"):
        read_events(path)
    det = tmp_path / "detectors.csv"
    det.write_text("signal_id,channel,phase,kind,lane,distance_m\nA,1,1,loop,a_0,0\n")
    with pytest.raises(ValidationError, match="row 2: kind 'loop' is not 'stopbar' or 'advance'"):
        read_detectors(det)


def test_arrivals_projected_to_the_stop_bar_by_the_travel_time(tmp_path):
    rows = _cycles(2)
    # detector on 5 s before the begin of green: on red at the detector, on green at the stop bar
    # 120 m / 12 m/s = 10 s later
    rows += [(55.0, 82, 2), (55.4, 81, 2)]
    ev, det = _log(tmp_path, rows)
    assert measures(ev, det)["arrivals_on_green"].tolist() == [0]
    (tmp_path / "detectors.csv").write_text(DET.replace("distance_m\n", "distance_m,speed_mps\n")
                                            .replace("0.5\n", "0.5,12\n").replace("120\n", "120,12\n"))
    det = read_detectors(tmp_path / "detectors.csv")
    m = measures(ev, det)
    assert (m["arrivals"].tolist(), m["arrivals_on_green"].tolist()) == ([1], [1])


def test_bad_speed_named(tmp_path):
    path = tmp_path / "detectors.csv"
    path.write_text("signal_id,channel,phase,kind,lane,distance_m,speed_mps\nA,1,1,advance,a_0,120,fast\n")
    with pytest.raises(ValidationError, match="row 2: speed_mps 'fast' is not a number > 0"):
        read_detectors(path)
