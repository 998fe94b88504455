"""Generated networks: netgenerate / netconvert write the committed test networks again."""

from __future__ import annotations

import pytest

from citybrain.exceptions import ValidationError
from citybrain.generate import generate_arterial, generate_grid, import_osm

from .conftest import NETWORKS

pytestmark = pytest.mark.sumo


def _body(path) -> str:
    """The network without SUMO's header comment (it names the date, the tool and temporary files)."""
    text = path.read_text()
    return text[text.index("<net ") :]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("grid4x4.net.xml", lambda p: generate_grid(p, 4, 4)),
        ("grid2x2_ped.net.xml", lambda p: generate_grid(p, 2, 2, pedestrians=True)),
        ("arterial5.net.xml", lambda p: generate_arterial(p, 5)),
    ],
)
def test_generators_write_the_committed_networks(tmp_path, name, make):
    out = make(tmp_path / "deeper" / name)
    assert out == tmp_path / "deeper" / name
    assert _body(out) == _body(NETWORKS / name)


def test_grid_with_turn_lanes_differs(tmp_path):
    plain = generate_grid(tmp_path / "plain.net.xml", 2, 2)
    turns = generate_grid(tmp_path / "turns.net.xml", 2, 2, left_turn_lanes=1, attach_m=0)
    assert _body(plain) != _body(turns)
    assert 'grid.attach-length' not in turns.read_text().split("-->")[0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: generate_grid(p, 0, 4, block_m=-1), "rows must be positive, got 0; block_m must be positive, got -1"),
        (lambda p: generate_arterial(p, 3, spacing_m=0), "spacing_m must be positive, got 0"),
    ],
)
def test_bad_sizes_are_refused_together(tmp_path, make, message):
    with pytest.raises(ValidationError, match=message) as info:
        make(tmp_path / "x.net.xml")
    assert not (tmp_path / "x.net.xml").exists()
    assert len(info.value.problems) == message.count(";") + 1


def test_import_osm_refuses_a_missing_file(tmp_path):
    with pytest.raises(ValidationError, match="no such OpenStreetMap file"):
        import_osm(tmp_path / "none.osm", tmp_path / "x.net.xml")
