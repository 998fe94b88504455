"""The road network model: junctions, road links, movements, signal programs, conflicts.

A :class:`RoadNetwork` is built from any SUMO ``.net.xml`` by :func:`graph_from_sumo_net`
(read with ``sumolib``), optionally with a file of per-junction conflict overrides
(``conflicts=FILE``). It holds

``graph``
    a ``networkx.MultiDiGraph``. Nodes are SUMO junction ids with attributes ``x_m``,
    ``y_m``, ``type`` (SUMO junction type) and ``tls`` (controlling traffic light id or
    ``None``). Edges are keyed by the SUMO edge id, ``(from_node, to_node, edge_id)``, with
    attributes ``lanes`` (number of lanes), ``length_m``, ``speed_mps`` (speed limit),
    ``priority``, ``name``, ``heading_out_deg`` and ``heading_in_deg``. Internal, crossing
    and walking-area edges are left out.
``movements``
    one :class:`Movement` per (junction, from-edge, to-edge) served by at least one SUMO
    connection, plus one per pedestrian crossing (``turn == "crossing"``), ordered by junction.
``programs``
    the active :class:`SignalProgram` of every traffic light, phases as SUMO state strings
    indexed by SUMO link index; :meth:`SignalProgram.link_movements` maps a link index to
    its movement.
``conflicts(junction)``
    a :class:`~citybrain.network.conflicts.JunctionConflicts`, with the overrides applied.

Units are in attribute names: ``length_m``, ``speed_mps``, ``sat_flow_vph``, ``duration_s``.

Modules: :mod:`~citybrain.network.model` (the plain data), :mod:`~citybrain.network.conflicts`
(the pure conflict classifier, unsafe phases, the override file),
:mod:`~citybrain.network.sumo` (reading SUMO networks), :mod:`~citybrain.network.road`
(:class:`RoadNetwork`). Imports point one way: model <- conflicts <- road <- sumo.
"""

from .conflicts import (
    KIND_NAMES,
    MERGE,
    NEVER,
    NONE,
    YIELD,
    ConflictOverride,
    JunctionConflicts,
    junction_conflicts,
    load_overrides,
    unsafe_phases,
)
from .model import (
    TURN_CODES,
    TURN_SAT_FACTOR,
    TURNS,
    Link,
    Movement,
    NetworkArrays,
    ProgramPhase,
    SignalProgram,
)
from .road import RoadNetwork
from .sumo import graph_from_sumo_net

__all__ = [
    # model: the plain data
    "TURNS", "TURN_CODES", "TURN_SAT_FACTOR", "Movement", "Link", "ProgramPhase", "SignalProgram", "NetworkArrays",
    # road and sumo: the network and its reader
    "RoadNetwork", "graph_from_sumo_net",
    # conflicts: the classes, the classifier, unsafe phases and the override file
    "NONE", "YIELD", "MERGE", "NEVER", "KIND_NAMES", "JunctionConflicts", "ConflictOverride",
    "junction_conflicts", "unsafe_phases", "load_overrides",
]
