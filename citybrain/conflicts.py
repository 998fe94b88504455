"""Movement conflicts at a junction, and the unsafe phases of signal programs.

SUMO's junction requests say which connections are *foes* (their paths cross or merge) and
who yields, but at a signalised junction every crossing pair is a foe with a response bit, so
they cannot separate "never green together" from "may be green together while one yields".
This module classifies each pair of movements at a junction from the foes, the turn types and
the approach geometry:

``NONE`` (0)
    paths do not meet, diverge from one approach, or are opposing left turns that pass each
    other (a dual-left phase): any greens together.
``YIELD`` (1)
    paths cross but one stream may yield: a left or U-turn against the opposing through or
    right stream (permissive left), or a turning stream against a pedestrian crossing.
    Together only with the yielding stream permissive (``g``).
``MERGE`` (2)
    both streams enter the same lane. Together only with the minor one permissive; two
    protected (``G``) streams into one lane are unsafe (SUMO's "Unsafe green phase").
``NEVER`` (3)
    crossing streams: never green together.

Per-junction overrides for the odd real case live in a small JSON file
(:func:`load_overrides`): ``{"JUNCTION": [{"from": [FROM_EDGE, TO_EDGE], "to": [FROM_EDGE,
TO_EDGE], "kind": "yield"|"never"|"merge"|"none"}]}``; the first movement of each entry yields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .exceptions import ValidationError

if TYPE_CHECKING:
    from .network import Link, RoadNetwork

__all__ = [
    "NONE",
    "YIELD",
    "MERGE",
    "NEVER",
    "KIND_NAMES",
    "JunctionConflicts",
    "junction_conflicts",
    "unsafe_phases",
    "load_overrides",
]

NONE, YIELD, MERGE, NEVER = 0, 1, 2, 3
KIND_NAMES = {NONE: "none", YIELD: "yield", MERGE: "merge", NEVER: "never"}
_LEFTISH = frozenset({"left", "uturn", "partial_left"})
_TURNING = frozenset({"left", "uturn", "partial_left", "right", "partial_right"})
#: Approaches whose headings differ by more than this (degrees) are opposing.
OPPOSING_MIN_DEG = 120.0


@dataclass(frozen=True, slots=True)
class JunctionConflicts:
    """Conflict classes between the movements of one junction.

    Attributes
    ----------
    junction : str
        SUMO junction id.
    movements : tuple of int
        Movement indices (into ``RoadNetwork.movements``); row/column order of the matrices.
    kind : numpy.ndarray
        ``(n, n)`` int8 matrix of ``NONE``/``YIELD``/``MERGE``/``NEVER``, symmetric.
    yields : numpy.ndarray
        ``(n, n)`` bool matrix: ``yields[a, b]`` when ``a`` gives way to ``b`` (for ``YIELD``
        and ``MERGE`` pairs).
    """

    junction: str
    movements: tuple[int, ...]
    kind: np.ndarray
    yields: np.ndarray

    def pair(self, a: int, b: int) -> int:
        """Conflict class of two movements given by their network indices."""
        pos = {m: i for i, m in enumerate(self.movements)}
        return int(self.kind[pos[a], pos[b]])


def junction_conflicts(network: RoadNetwork, junction: str, overrides: dict | None = None) -> JunctionConflicts:
    """Classify every pair of movements at one junction (see the module docstring).

    Parameters
    ----------
    network
        The road network.
    junction
        SUMO junction id.
    overrides
        Per-junction overrides as returned by :func:`load_overrides`.

    Returns
    -------
    JunctionConflicts
    """
    mov_ids = network.junction_movements(junction)
    movs = [network.movements[i] for i in mov_ids]
    n = len(movs)
    kind = np.zeros((n, n), dtype=np.int8)
    yields = np.zeros((n, n), dtype=bool)
    foes = network.foes.get(junction, frozenset())
    prohibits = network.prohibits.get(junction, frozenset())
    edges = network.edges
    heading = {e: d["heading_in_deg"] for e, d in edges.items()}

    for a in range(n):
        for b in range(a + 1, n):
            ma, mb = movs[a], movs[b]
            ia, ib = mov_ids[a], mov_ids[b]
            ped_a, ped_b = ma.turn == "crossing", mb.turn == "crossing"
            if ped_a and ped_b:
                continue
            shared_lane = not (ped_a or ped_b) and bool(set(ma.to_lanes) & set(mb.to_lanes))
            if not shared_lane and (ia, ib) not in foes:
                continue
            if ma.from_edge == mb.from_edge and not shared_lane:
                continue
            if ma.turn in _LEFTISH and mb.turn in _LEFTISH and _opposing(heading, ma, mb):
                continue  # opposing lefts pass each other (NEMA phases 1 + 5)
            if shared_lane:
                k = MERGE
                a_yields = _minor(ia, ib, ma, mb, prohibits)
            elif ped_a or ped_b:
                veh = mb if ped_a else ma
                k = YIELD if veh.turn in _TURNING else NEVER
                a_yields = not ped_a
            elif ma.turn in _LEFTISH and _opposing(heading, ma, mb) and mb.turn not in _LEFTISH:
                k, a_yields = YIELD, True
            elif mb.turn in _LEFTISH and _opposing(heading, ma, mb) and ma.turn not in _LEFTISH:
                k, a_yields = YIELD, False
            else:
                k, a_yields = NEVER, False
            kind[a, b] = kind[b, a] = k
            if k in (YIELD, MERGE):
                yields[a, b] = a_yields
                yields[b, a] = not a_yields

    _apply_overrides(network, junction, mov_ids, kind, yields, (overrides or {}).get(junction, []))
    return JunctionConflicts(junction=junction, movements=mov_ids, kind=kind, yields=yields)


def _opposing(heading: dict[str, float], ma, mb) -> bool:
    ha, hb = heading.get(ma.from_edge), heading.get(mb.from_edge)
    if ha is None or hb is None:
        return False
    diff = abs((ha - hb + 180.0) % 360.0 - 180.0)
    return diff > OPPOSING_MIN_DEG


def _minor(ia: int, ib: int, ma, mb, prohibits) -> bool:
    """Whether ``a`` is the minor stream of a merge (SUMO's response, else the turning one)."""
    if (ia, ib) in prohibits and (ib, ia) not in prohibits:
        return True
    if (ib, ia) in prohibits and (ia, ib) not in prohibits:
        return False
    return ma.turn != "through" and mb.turn == "through"


def _apply_overrides(network, junction, mov_ids, kind, yields, entries) -> None:
    names = {v: k for k, v in KIND_NAMES.items()}
    pos = {m: i for i, m in enumerate(mov_ids)}
    for entry in entries:
        a = pos[network.movement_index(junction, *entry["from"])]
        b = pos[network.movement_index(junction, *entry["to"])]
        k = names[entry["kind"]]
        kind[a, b] = kind[b, a] = k
        yields[a, b] = k in (YIELD, MERGE)
        yields[b, a] = False


def load_overrides(path: str | Path, network: RoadNetwork) -> dict:
    """Read and validate a conflict-override file (format in the module docstring).

    Raises
    ------
    ValidationError
        Listing every bad entry (unknown junction or movement, unknown kind).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a readable JSON conflict-override file ({exc})."
        raise ValidationError(msg) from exc
    problems = []
    if not isinstance(data, dict):
        problems.append(f"{path}: expected an object of junction -> list of overrides.")
        data = {}
    for junction, entries in data.items():
        for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
            where = f"{path}: {junction}[{i}]"
            if not isinstance(entry, dict) or entry.get("kind") not in KIND_NAMES.values():
                problems.append(f"{where}: expected {{from, to, kind}} with kind in {sorted(KIND_NAMES.values())}.")
                continue
            for side in ("from", "to"):
                pair = entry.get(side)
                if not (isinstance(pair, list) and len(pair) == 2 and network.has_movement(junction, *pair)):
                    problems.append(f"{where}: {side}={pair!r} is not a movement [FROM_EDGE, TO_EDGE] of {junction}.")
    if problems:
        msg = f"{path}: {len(problems)} problem(s) in the conflict overrides:\n" + "\n".join(problems)
        raise ValidationError(msg, problems)
    return data


def unsafe_phases(network: RoadNetwork) -> list[dict]:
    """Every program phase giving protected green to never-together or merging streams.

    See :meth:`citybrain.network.RoadNetwork.unsafe_phases`.
    """
    findings = []
    for tls, program in sorted(network.programs.items()):
        link_movs = program.link_movements()
        for p, phase in enumerate(program.phases):
            protected = [i for i, c in enumerate(phase.state) if c == "G"]
            movs = sorted({m for i in protected for m in link_movs.get(i, ())})
            seen: set[tuple[str, tuple[str, ...]]] = set()
            for a_pos, a in enumerate(movs):
                for b in movs[a_pos + 1 :]:
                    ma, mb = network.movements[a], network.movements[b]
                    if ma.junction != mb.junction:
                        continue
                    if network.conflicts(ma.junction).pair(a, b) == NEVER:
                        key = ("never-together", (ma.id, mb.id))
                        if key not in seen:
                            seen.add(key)
                            findings.append(_finding(tls, p, *key, "crossing streams both protected"))
            by_lane: dict[str, set[Link]] = {}
            for link in program.links:
                if link.index < len(phase.state) and phase.state[link.index] == "G":
                    by_lane.setdefault(link.to_lane, set()).add(link)
            merging = {lane: links for lane, links in by_lane.items() if len({x.from_lane for x in links}) > 1}
            if merging:
                mids = sorted({network.movements[x.movement].id for links in merging.values() for x in links})
                lanes = ", ".join(sorted(merging))
                findings.append(_finding(tls, p, "merge", tuple(mids), f"lanes targeted by several 'G' lanes: {lanes}"))
    return findings


def _finding(tls: str, phase: int, kind: str, movements: tuple[str, ...], detail: str) -> dict:
    return {"tls": tls, "phase": phase, "kind": kind, "movements": list(movements), "detail": detail}
