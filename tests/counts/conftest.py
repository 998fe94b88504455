"""Fixtures of the count tests: the bad-file corpus and the grid its files refer to."""

from __future__ import annotations

import json

import pytest

from citybrain.network import graph_from_sumo_net

from ..conftest import DATA, NETWORKS

BAD = DATA / "bad_counts"
EXPECTED = json.loads((BAD / "expected.json").read_text())


@pytest.fixture(scope="package")
def grid():
    """The 4x4 grid every count file of tests/data refers to."""
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
