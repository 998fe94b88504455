"""The sightings reader: hashing at ingestion, every bad field named by row, retention."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from citybrain.counts.sightings import PLATE_KEY_ENV, hash_plate, plate_key, read_sightings
from citybrain.exceptions import ValidationError

KEY = b"0123456789abcdef0123456789abcdef"
REGISTRY = pd.DataFrame({"camera_id": ["camA", "camB"], "junction": ["J1", "J2"], "from_edge": ["a", "b"],
                         "to_edge": ["", ""], "lanes": [1, 1]})
PLATES = ["ZX-RAW-001", "ZX-RAW-002"]


def _write(tmp_path, rows, name="sightings.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["time_s", "camera_id", "plate"]).to_csv(path, index=False)
    return path


def test_good_file_hashes_plates_and_keeps_none(tmp_path, caplog):
    path = _write(tmp_path, [(10, "camA", PLATES[0]), (40, "camB", PLATES[0]), (12, "camA", PLATES[1])])
    with caplog.at_level(logging.DEBUG):
        table = read_sightings(path, REGISTRY, key=KEY)
    assert list(table.frame.columns) == ["time_s", "camera_id", "plate_id", "row"]
    assert len(table) == 3
    assert set(table.frame["plate_id"]) == {hash_plate(p, KEY) for p in PLATES}
    assert hash_plate(PLATES[0], KEY) != hash_plate(PLATES[0], KEY[::-1])  # keyed
    text = table.frame.to_csv() + caplog.text
    assert not any(p in text for p in PLATES)


def test_parquet_and_iso_times(tmp_path):
    path = tmp_path / "s.parquet"
    pd.DataFrame({"time_s": ["2024-05-01T07:00:00", "2024-05-01T07:01:30"], "camera_id": ["camA", "camB"],
                  "plate": PLATES[:1] * 2}).to_parquet(path)
    table = read_sightings(path, REGISTRY, key=KEY)
    assert sorted(table.frame["time_s"]) == [0.0, 90.0]
    assert table.origin == pd.Timestamp("2024-05-01T07:00:00")


@pytest.mark.parametrize(
    ("row", "field", "code"),
    [((5, "camZ", "P1"), "camera_id", "unknown-camera"), (("soon", "camA", "P1"), "time_s", "bad-time"),
     ((-3, "camA", "P1"), "time_s", "bad-time"), ((5, "camA", ""), "plate", "empty-plate")],
)
def test_bad_field_named_by_row_and_field(tmp_path, row, field, code):
    path = _write(tmp_path, [(1, "camA", "SECRET-1"), (2, "camB", "SECRET-2"), row])
    with pytest.raises(ValidationError, match=rf"row 4, field '{field}'.*\[{code}\]") as info:
        read_sightings(path, REGISTRY, key=KEY)
    assert str(path) in str(info.value)
    assert "SECRET" not in str(info.value)


def test_missing_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time_s,camera_id\n1,camA\n")
    with pytest.raises(ValidationError, match="missing column.*plate"):
        read_sightings(path, REGISTRY, key=KEY)


def test_retention_drops_old(tmp_path):
    path = _write(tmp_path, [(0, "camA", "P1"), (90_000, "camB", "P1"), (90_010, "camA", "P2")])
    table = read_sightings(path, REGISTRY, key=KEY)
    assert table.dropped_old == 1 and len(table) == 2
    assert len(read_sightings(path, REGISTRY, key=KEY, retention_s=100_000)) == 3


def test_key_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.delenv(PLATE_KEY_ENV, raising=False)
    with pytest.raises(ValidationError, match=PLATE_KEY_ENV):
        plate_key()
    monkeypatch.setenv(PLATE_KEY_ENV, "short")
    with pytest.raises(ValidationError, match="at least 16 bytes"):
        plate_key()
    monkeypatch.setenv(PLATE_KEY_ENV, KEY.decode())
    assert plate_key() == KEY
    keyfile = tmp_path / "plate.key"
    keyfile.write_bytes(KEY[::-1] + b"\n")
    assert plate_key(keyfile) == KEY[::-1]


BAD_SIGHTINGS = Path(__file__).resolve().parents[1] / "data" / "bad_sightings"
EXPECTED_SIGHTINGS = json.loads((BAD_SIGHTINGS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED_SIGHTINGS))
def test_bad_sightings_corpus_reports_every_problem_and_no_plate(name):
    """Each bad sightings file is refused naming the file, every problem's code, and never a plate."""
    from citybrain.counts import read_registry

    registry = read_registry(BAD_SIGHTINGS / "cameras.csv")
    path = BAD_SIGHTINGS / name
    with pytest.raises(ValidationError) as info:
        read_sightings(path, registry, key=KEY)
    text = str(info.value)
    assert str(path) in text
    assert "SECRET-PLATE" not in text and "SECRET-PLATE" not in " ".join(info.value.problems)
    codes = EXPECTED_SIGHTINGS[name]
    if codes == ["unreadable"]:
        assert "cannot read" in text
        return
    for code in codes:
        assert f"[{code}]" in text
