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

The classifier is pure: it reads movements, foe pairs and approach headings, never a
:class:`~citybrain.network.RoadNetwork` (which calls it and caches the result).

Per-junction overrides for the odd real case live in a small JSON file
(:func:`load_overrides`; ``graph_from_sumo_net(path, conflicts=FILE)`` and every command's
``--conflicts FILE`` read it): ``{"JUNCTION": [{"from": [FROM_EDGE, TO_EDGE], "to":
[FROM_EDGE, TO_EDGE], "kind": "yield"|"never"|"merge"|"none"}]}``; the first movement of
each entry yields.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validate import Fields, Problems, read_json
from ..exceptions import ValidationError
from .model import Link, Movement, SignalProgram

__all__ = [
    "NONE",
    "YIELD",
    "MERGE",
    "NEVER",
    "KIND_NAMES",
    "JunctionConflicts",
    "ConflictOverride",
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
        Network movement indices (into ``RoadNetwork.movements``); row/column order of the
        matrices.
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


@dataclass(frozen=True, slots=True)
class ConflictOverride:
    """One entry of a conflict-override file: the class of one pair of movements at a junction.

    Attributes
    ----------
    junction : str
        SUMO junction id.
    from_movement, to_movement : tuple of str
        ``(from_edge, to_edge)`` of the two movements; for a ``yield`` or ``merge`` the first
        one gives way.
    kind : int
        ``NONE``, ``YIELD``, ``MERGE`` or ``NEVER``.
    """

    junction: str
    from_movement: tuple[str, str]
    to_movement: tuple[str, str]
    kind: int


def junction_conflicts(
    junction: str,
    movements: Sequence[Movement],
    indices: Sequence[int],
    *,
    foes: Collection[tuple[int, int]] = frozenset(),
    prohibits: Collection[tuple[int, int]] = frozenset(),
    heading_in_deg: Mapping[str, float],
    overrides: Sequence[ConflictOverride] = (),
) -> JunctionConflicts:
    """Classify every pair of movements at one junction (see the module docstring).

    Parameters
    ----------
    junction
        SUMO junction id.
    movements
        Every movement of the network.
    indices
        The indices (into ``movements``) of the junction's movements.
    foes
        Pairs of movement indices that SUMO's junction request marks as foes (both orders).
    prohibits
        Pairs ``(a, b)`` where SUMO makes movement ``a`` yield to ``b``.
    heading_in_deg
        Heading (degrees) of each road edge where it enters its junction.
    overrides
        This junction's overrides (:func:`load_overrides`); they replace the classifier's
        verdict for the pairs they name.

    Returns
    -------
    JunctionConflicts
    """
    mov_ids = tuple(indices)
    movs = [movements[i] for i in mov_ids]
    n = len(movs)
    kind = np.zeros((n, n), dtype=np.int8)
    yields = np.zeros((n, n), dtype=bool)
    heading = heading_in_deg

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

    _apply_overrides(movs, kind, yields, overrides)
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


def _apply_overrides(movs: Sequence[Movement], kind: np.ndarray, yields: np.ndarray,
                     overrides: Sequence[ConflictOverride]) -> None:
    pos = {(m.from_edge, m.to_edge): i for i, m in enumerate(movs)}
    for entry in overrides:
        a, b = pos[entry.from_movement], pos[entry.to_movement]
        kind[a, b] = kind[b, a] = entry.kind
        yields[a, b] = entry.kind in (YIELD, MERGE)
        yields[b, a] = False


def load_overrides(path: str | Path, movements: Sequence[Movement]) -> dict[str, tuple[ConflictOverride, ...]]:
    """Read a conflict-override file (format in the module docstring) and check it against ``movements``.

    Parameters
    ----------
    path
        The JSON file.
    movements
        Every movement of the network the overrides are for.

    Returns
    -------
    dict
        Junction id -> its overrides, in file order.

    Raises
    ------
    ValidationError
        Naming the file, the junction, the entry and what was expected, for every bad entry
        (not JSON, unknown or unsignalised junction, unknown movement or kind, a movement paired
        with itself); one problem is one line.
    """
    path = Path(path)
    data = read_json(path, "conflict-override file")
    problems = Problems(path)
    if not isinstance(data, dict):
        problems.add(f"{path}: expected an object of junction -> list of overrides, got {type(data).__name__}.")
        data = {}
    known = {(m.junction, m.from_edge, m.to_edge) for m in movements}
    signalised = {m.junction for m in movements if m.tls}
    kinds = {name: code for code, name in KIND_NAMES.items()}
    out: dict[str, tuple[ConflictOverride, ...]] = {}
    top = Fields(data, str(path), problems)
    for junction in data:
        if junction not in signalised:
            top.problem(junction, "not a signalised junction of the network")
            continue
        entries = []
        for i, raw in enumerate(top.items(junction)):
            entry = Fields(raw, f"{path}: {junction}[{i}]", problems)
            if not isinstance(raw, dict):
                continue
            entry.unknown(("from", "to", "kind"))
            kind = entry.string("kind", required=True, choices=kinds)
            pairs = [_movement_key(entry, side, junction, known) for side in ("from", "to")]
            if pairs[0] is not None and pairs[0] == pairs[1]:
                entry.problem("to", f"{list(pairs[1])!r} is the 'from' movement, expected another movement")
            elif kind is not None and None not in pairs:
                entries.append(ConflictOverride(junction, pairs[0], pairs[1], kinds[kind]))
        out[junction] = tuple(entries)
    if len(problems.messages) == 1:
        raise ValidationError(problems.messages[0])
    problems.raise_if_any("conflict overrides")
    return out


def _movement_key(entry: Fields, side: str, junction: str, known: set[tuple[str, str, str]]) -> tuple[str, str] | None:
    """The ``[FROM_EDGE, TO_EDGE]`` of one side of an override entry, or None (a problem recorded)."""
    pair = entry.data.get(side)
    if isinstance(pair, list) and len(pair) == 2 and all(isinstance(e, str) for e in pair):
        if (junction, *pair) in known:
            return (pair[0], pair[1])
    entry.problem(side, f"{pair!r} is not a movement [FROM_EDGE, TO_EDGE] of {junction}")
    return None


def unsafe_phases(programs: Mapping[str, SignalProgram], movements: Sequence[Movement],
                  conflicts: Callable[[str], JunctionConflicts]) -> list[dict]:
    """Every program phase giving protected green to never-together or merging streams.

    Parameters
    ----------
    programs
        Traffic light id -> its signal program.
    movements
        Every movement of the network (the programs' links index into it).
    conflicts
        Junction id -> its :class:`JunctionConflicts` (``RoadNetwork.conflicts``).

    Returns
    -------
    list of dict
        See :meth:`citybrain.network.RoadNetwork.unsafe_phases`.
    """
    findings = []
    for tls, program in sorted(programs.items()):
        link_movs = program.link_movements()
        for p, phase in enumerate(program.phases):
            protected = [i for i, c in enumerate(phase.state) if c == "G"]
            movs = sorted({m for i in protected for m in link_movs.get(i, ())})
            seen: set[tuple[str, tuple[str, ...]]] = set()
            for a_pos, a in enumerate(movs):
                for b in movs[a_pos + 1 :]:
                    ma, mb = movements[a], movements[b]
                    if ma.junction != mb.junction:
                        continue
                    if conflicts(ma.junction).pair(a, b) == NEVER:
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
                mids = sorted({movements[x.movement].id for links in merging.values() for x in links})
                lanes = ", ".join(sorted(merging))
                findings.append(_finding(tls, p, "merge", tuple(mids), f"lanes targeted by several 'G' lanes: {lanes}"))
    return findings


def _finding(tls: str, phase: int, kind: str, movements: tuple[str, ...], detail: str) -> dict:
    return {"tls": tls, "phase": phase, "kind": kind, "movements": list(movements), "detail": detail}
