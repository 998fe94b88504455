"""check_places: a camera's junction, approach and movement against the network."""

from __future__ import annotations

import numpy as np
import pandas as pd

from citybrain.counts.places import check_places


def test_places_give_lanes_or_one_problem_per_kind(grid):
    frame = pd.DataFrame(
        {
            "junction": ["B1", "B1", "Z9", "B1", "B1", "B1", "Z9", ""],
            "from_edge": ["A1B1", "A1B1", "A1B1", "nowhere", "B1A1", "A1B1", "A1B1", "A1B1"],
            "to_edge": ["B1B2", "", "", "", "", "B1A1", "", ""],
        }
    )
    rows = np.arange(len(frame)) + 2
    problems, bad, lanes = check_places(frame, rows, grid)
    assert [(p.code, p.rows, p.field) for p in problems] == [
        ("unknown-junction", (4, 8), "junction"),
        ("unknown-from-edge", (5,), "from_edge"),
        ("not-an-approach", (6,), "from_edge"),
        ("not-a-movement", (7,), "to_edge"),
    ]
    assert list(bad) == [False, False, True, True, True, True, True, False]
    approach = {lane for m in grid.movements if (m.junction, m.from_edge) == ("B1", "A1B1") and m.turn != "crossing"
                for lane in m.from_lanes}
    assert lanes[1] == len(approach) and lanes[0] >= 1
    assert np.isnan(lanes[2:]).all()
