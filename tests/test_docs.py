"""The docs folder: column and object lists match the code's constants, and relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

from citybrain.counts import COUNT_COLUMNS, QUEUE_COLUMN, REGISTRY_COLUMNS
from citybrain.counts.sightings import SIGHTING_COLUMNS
from citybrain.estimation import DEMAND_COLUMNS, FLOW_COLUMNS
from citybrain.plans.controller_timing import TIMING_COLUMNS
from citybrain.plans.formats import EXPORT_ENDINGS
from citybrain.plans.formats.ntcip import NTCIP_OBJECTS
from citybrain.spm import DETECTOR_COLUMNS, EVENT_COLUMNS, SPEED_COLUMN

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")
FORMATS = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")


def test_timing_csv_columns_match_the_code():
    line = next(x for x in EXPORTS.splitlines() if x.startswith("Columns:"))
    assert tuple(re.findall(r"`([a-z_]+)`", line)) == TIMING_COLUMNS


def test_every_ntcip_object_is_documented_once_in_order():
    rows = re.findall(r"^\| `(\w+)` \|", EXPORTS, flags=re.M)
    assert rows == list(NTCIP_OBJECTS)


def test_every_export_ending_is_named():
    assert all(f"`{end}`" in EXPORTS for end in EXPORT_ENDINGS)


def test_file_formats_list_the_readers_columns_in_order():
    sections = re.split(r"^## ", FORMATS, flags=re.M)[1:]
    found = {}
    for section in sections:
        title = section.splitlines()[0]
        lines = section.splitlines()
        if not any(x.startswith("Columns:") for x in lines):
            continue  # not a table file (the plan JSON: tests/plans/test_plan_schema.py)
        required = next(x for x in lines if x.startswith("Columns:"))
        optional = next((x for x in lines if x.startswith("Optional:")), "")
        found[title.split(" (")[0]] = (tuple(re.findall(r"`([a-z_]+)`", required)),
                                       tuple(re.findall(r"`([a-z_]+)`", optional)))
    assert found == {
        "Counts": (COUNT_COLUMNS, (QUEUE_COLUMN,)),
        "Camera registry": (REGISTRY_COLUMNS, ("range_m",)),
        "Plate sightings": (SIGHTING_COLUMNS, ()),
        "Flows": (FLOW_COLUMNS, DEMAND_COLUMNS),
        "High-resolution events": (EVENT_COLUMNS, ()),
        "Detector map": (DETECTOR_COLUMNS, (SPEED_COLUMN,)),
    }


def test_relative_links_resolve():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: link {target} does not resolve"
