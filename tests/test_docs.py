"""The docs folder: column and object lists match the code's constants, and relative links resolve."""

from __future__ import annotations

import re
from pathlib import Path

from citybrain.plans.controller_timing import TIMING_COLUMNS
from citybrain.plans.formats import EXPORT_ENDINGS
from citybrain.plans.formats.ntcip import NTCIP_OBJECTS

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")


def test_timing_csv_columns_match_the_code():
    line = next(x for x in EXPORTS.splitlines() if x.startswith("Columns:"))
    assert tuple(re.findall(r"`([a-z_]+)`", line)) == TIMING_COLUMNS


def test_every_ntcip_object_is_documented_once_in_order():
    rows = re.findall(r"^\| `(\w+)` \|", EXPORTS, flags=re.M)
    assert rows == list(NTCIP_OBJECTS)


def test_every_export_ending_is_named():
    assert all(f"`{end}`" in EXPORTS for end in EXPORT_ENDINGS)


def test_relative_links_resolve():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name}: link {target} does not resolve"
