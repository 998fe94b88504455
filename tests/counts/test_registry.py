"""Camera registries: what each camera sees, every problem with its rows."""

from __future__ import annotations

import pandas as pd
import pytest

from citybrain.counts import DEFAULT_CAMERA_RANGE_M, REGISTRY_COLUMNS, check_counts, read_registry, registry_from_frame, validate_counts
from citybrain.exceptions import ValidationError

from .conftest import DATA


@pytest.fixture
def registry_frame():
    return pd.DataFrame(
        {
            "camera_id": ["cam_B1_A1B1", "cam_B1_A1B1", "cam_B1_A1B1", "cam_B1_B0B1", "cam_B1_B0B1", "cam_B1_B0B1"],
            "junction": "B1",
            "from_edge": ["A1B1"] * 3 + ["B0B1"] * 3,
            "to_edge": ["B1B0", "B1B2", "B1C1", "B1A1", "B1B2", "B1C1"],
            "lanes": ["A1B1_0", "A1B1_0 A1B1_1", "A1B1_1", 1, 2, 1],
        }
    )


def test_registry_checks(grid, tmp_path, registry_frame):
    reg = registry_frame
    path = tmp_path / "cameras.csv"
    reg.to_csv(path, index=False)
    registry = read_registry(path, grid)
    assert list(registry.columns) == [*REGISTRY_COLUMNS, "range_m"]
    assert list(registry["lanes"]) == [1, 2, 1, 1, 2, 1]
    report = check_counts(DATA / "good_counts.csv", grid, registry=registry)
    assert {p.code for p in report.problems} == {"unknown-camera"}
    bad = reg.copy()
    bad.loc[0, "lanes"] = 0
    bad.loc[1, "junction"] = "Z9"
    bad.to_csv(path, index=False)
    with pytest.raises(ValidationError) as info:
        read_registry(path, grid)
    text = str(info.value)
    assert "bad-lanes" in text and "unknown-junction" in text and "camera-places" in text


def test_registry_problems_name_rows(registry_frame):
    bad = registry_frame.copy()
    bad.loc[2, "camera_id"] = ""
    bad.loc[4, "to_edge"] = "B1A1"
    with pytest.raises(ValidationError) as info:
        registry_from_frame(bad, source="cams.csv")
    assert info.value.problems == [
        "cams.csv, rows 5, 6, field 'camera_id': (camera_id, to_edge) listed more than once: 'cam_B1_B0B1' [duplicate-camera]",
        "cams.csv, row 4, field 'camera_id': camera_id is empty [empty-id]",
    ]


def test_registry_needs_its_columns(registry_frame):
    with pytest.raises(ValidationError, match="missing column.s. lanes; a registry needs camera_id, junction"):
        registry_from_frame(registry_frame.drop(columns=["lanes"]))


def test_registry_lanes_bound_the_plausibility_check(grid, registry_frame):
    counts = pd.DataFrame(
        {"interval_start": ["0"], "interval_s": ["900"], "camera_id": ["cam_B1_A1B1"], "junction": ["B1"],
         "from_edge": ["A1B1"], "to_edge": ["B1B2"], "count": ["1000"]}
    )
    registry = registry_from_frame(registry_frame, grid)
    report, _, _ = validate_counts(counts, grid, registry=registry)
    assert report.ok  # 2 lanes x 2000 veh/h x 900 s = 1000 vehicles
    report, _, _ = validate_counts(counts.assign(count=["1001"]), grid, registry=registry)
    assert [p.code for p in report.problems] == ["implausible-count"]
    assert "row 2: 1001 > 1000 (2 lane(s))" in report.problems[0].message


def test_registry_range_defaults_and_bad_range_is_named():
    frame = pd.DataFrame(
        {
            "camera_id": ["a", "b"],
            "junction": ["B1", "B1"],
            "from_edge": ["A1B1", "B0B1"],
            "to_edge": ["", ""],
            "lanes": ["1", "2"],
        }
    )
    assert registry_from_frame(frame)["range_m"].tolist() == [DEFAULT_CAMERA_RANGE_M] * 2
    assert registry_from_frame(frame.assign(range_m=["60", ""]))["range_m"].tolist() == [60.0, DEFAULT_CAMERA_RANGE_M]
    with pytest.raises(ValidationError, match=r"row 3.*range_m.*positive number of metres"):
        registry_from_frame(frame.assign(range_m=["60", "-5"]))
