"""Where a camera counts: (junction, from_edge, to_edge) checked against the road network."""

from __future__ import annotations

import weakref
from collections import defaultdict

import numpy as np
import pandas as pd

from ..network import RoadNetwork
from .schema import Problem, examples

__all__ = ["check_places"]

_CODES = ("unknown-junction", "unknown-from-edge", "unknown-to-edge", "not-an-approach", "not-a-movement")
_TEXT = {
    "unknown-junction": ("junction", "unknown junction id (not a node of the network)"),
    "unknown-from-edge": ("from_edge", "unknown from_edge (not an edge of the network)"),
    "unknown-to-edge": ("to_edge", "unknown to_edge (not an edge of the network)"),
    "not-an-approach": ("from_edge", "from_edge does not carry vehicles into that junction"),
    "not-a-movement": ("to_edge", "from_edge -> to_edge is not a movement of that junction"),
}


#: Lanes of each approach and movement, per network (computed once per network object).
_LANES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lanes(network: RoadNetwork) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str, str], int]]:
    """Lanes of every vehicle approach ``(junction, from_edge)`` and movement ``(junction, from_edge, to_edge)``."""
    if network not in _LANES:
        approach: dict[tuple[str, str], set[str]] = defaultdict(set)
        movement: dict[tuple[str, str, str], int] = {}
        for m in network.movements:
            if m.turn == "crossing":
                continue
            approach[(m.junction, m.from_edge)].update(m.from_lanes)
            movement[(m.junction, m.from_edge, m.to_edge)] = len(m.from_lanes)
        _LANES[network] = ({k: len(v) for k, v in approach.items()}, movement)
    return _LANES[network]


def check_places(
    frame: pd.DataFrame,
    rows: np.ndarray,
    network: RoadNetwork,
    *,
    place: np.ndarray | None = None,
    place_first: np.ndarray | None = None,
) -> tuple[list[Problem], np.ndarray, np.ndarray]:
    """Check every row's junction, approach and movement against the network.

    Parameters
    ----------
    frame
        Rows with ``junction``, ``from_edge`` and ``to_edge`` (stripped text, plain or categorical; ``""`` for an
        approach total). Rows with an empty junction or from_edge are passed over.
    rows
        The file row number of each row, for messages.
    network
        The road network.
    place, place_first
        A number per row, in order of first appearance, that rows at the same (junction,
        from_edge, to_edge) share (it may tell apart more, e.g. cameras), and the first row of
        each number; ``None``: numbered here.

    Returns
    -------
    problems : list of Problem
        One per kind of bad place, listing its rows.
    bad : numpy.ndarray of bool
        Rows with a bad place.
    lanes : numpy.ndarray of float
        Lanes the row's movement (or approach) has; NaN where unknown.
    """
    n = len(frame)
    problems: list[Problem] = []
    bad = np.zeros(n, dtype=bool)
    nodes = network.graph.nodes
    edges = network.edges
    approach_lanes, movement_lanes = _lanes(network)

    # check each distinct (junction, from_edge, to_edge) once, in order of first appearance
    if place is None or place_first is None:
        code = np.zeros(n, dtype=np.int64)
        for col in ("junction", "from_edge", "to_edge"):
            c, uniq = pd.factorize(frame[col], sort=False)
            code, _ = pd.factorize(code * max(len(uniq), 1) + c, sort=False)  # renumbered: no overflow
        code = np.asarray(code, dtype=np.int64)
        first = np.flatnonzero(np.diff(np.maximum.accumulate(code), prepend=-1) > 0) if n else np.zeros(0, np.int64)
    else:
        code, first = place, place_first
    junction = frame["junction"].iloc[first].to_numpy(dtype=object)
    frm = frame["from_edge"].iloc[first].to_numpy(dtype=object)
    to = frame["to_edge"].iloc[first].to_numpy(dtype=object)
    kind = np.full(len(first), -1, dtype=np.int64)
    key_lanes = np.full(len(first), np.nan)
    values: dict[str, list[str]] = defaultdict(list)
    for u in range(len(first)):
        j, f, t = junction[u], frm[u], to[u]
        if not j or not f:
            continue
        if j not in nodes:
            kind[u], value = 0, j
        elif f not in edges:
            kind[u], value = 1, f
        elif t and t not in edges:
            kind[u], value = 2, t
        elif (j, f) not in approach_lanes:
            kind[u], value = 3, f"{f} at {j} (it ends at {edges[f]['to']})"
        elif t and (j, f, t) not in movement_lanes:
            kind[u], value = 4, f"{j}: {f} -> {t}"
        else:
            key_lanes[u] = movement_lanes[(j, f, t)] if t else approach_lanes[(j, f)]
            continue
        values[_CODES[kind[u]]].append(value)
    lanes = key_lanes[code]
    row_kind = kind[code] if values else None
    for k, problem_code in enumerate(_CODES):
        if not values.get(problem_code):
            continue
        fld, what = _TEXT[problem_code]
        mask = row_kind == k
        problems.append(
            Problem(problem_code, f"{what}: {examples(pd.Series(values[problem_code]))}", tuple(int(r) for r in rows[mask]), fld)
        )
        bad |= mask
    return problems, bad, lanes
