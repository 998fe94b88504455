"""Reading a SUMO ``.net.xml`` into a :class:`~citybrain.network.RoadNetwork` (with ``sumolib``).

:func:`graph_from_sumo_net` turns SUMO's connections into movements (one per junction,
from-edge and to-edge, plus one per pedestrian crossing), its latest programs into
:class:`~citybrain.network.model.SignalProgram` s, and its junction requests into the foe
and yield pairs the conflict classifier reads; per-junction conflict overrides are read and
checked against the movements here, once.
"""

from __future__ import annotations

import gzip
import math
import xml.sax
from collections import defaultdict
from pathlib import Path

import networkx as nx

from ..exceptions import NetworkError
from .conflicts import load_overrides
from .model import TURN_SAT_FACTOR, TURNS, Link, Movement, ProgramPhase, SignalProgram
from .road import RoadNetwork

__all__ = ["graph_from_sumo_net"]


def graph_from_sumo_net(
    path: str | Path,
    *,
    base_sat_flow_vph: float = 1800.0,
    conflicts: str | Path | None = None,
) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from a SUMO ``.net.xml`` file.

    Parameters
    ----------
    path
        The SUMO network file (plain or gzipped).
    base_sat_flow_vph
        Base saturation flow of one through lane (veh/h); turns are scaled by
        :data:`~citybrain.network.model.TURN_SAT_FACTOR` and a lane shared by several
        movements is split equally among them.
    conflicts
        A JSON file of per-junction conflict overrides
        (:func:`~citybrain.network.conflicts.load_overrides`), checked against the network's
        movements here; every conflict query of the network then sees them. ``None``: none.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    NetworkError
        If the file is missing, is not XML, or is not a SUMO network.
    ValidationError
        If the override file is unreadable or names a junction, movement or kind that is not
        there, listing every bad entry.
    """
    path = Path(path)
    net = _read_sumo_net(path)
    graph = nx.MultiDiGraph(source=str(path))
    shapes: dict[str, tuple[tuple[float, float], ...]] = {}
    for node in net.getNodes():
        if node.getType() == "internal":
            continue
        x, y = node.getCoord()[:2]
        graph.add_node(node.getID(), x_m=float(x), y_m=float(y), type=node.getType(), tls=None)
        shapes[node.getID()] = tuple((float(p[0]), float(p[1])) for p in node.getShape())
    for edge in net.getEdges(withInternal=False):
        if edge.getFunction():
            continue
        shape = edge.getShape()
        graph.add_edge(
            edge.getFromNode().getID(),
            edge.getToNode().getID(),
            key=edge.getID(),
            lanes=edge.getLaneNumber(),
            length_m=float(edge.getLength()),
            speed_mps=float(edge.getSpeed()),
            priority=int(edge.getPriority()),
            name=edge.getName(),
            heading_out_deg=_heading(shape[0], shape[1]),
            heading_in_deg=_heading(shape[-2], shape[-1]),
        )

    movements, tls_links = _collect_movements(net, base_sat_flow_vph)
    for m in movements:
        if m.tls:
            graph.nodes[m.junction]["tls"] = m.tls
    programs = _collect_programs(net, tls_links, movements)
    foes, prohibits = _collect_foes(net, movements)
    overrides = load_overrides(conflicts, movements) if conflicts is not None else {}
    return RoadNetwork(
        path=path,
        graph=graph,
        movements=movements,
        programs=programs,
        junction_shapes=shapes,
        foes=foes,
        prohibits=prohibits,
        conflict_overrides=overrides,
    )


# -- reading ---------------------------------------------------------------------------
def _read_sumo_net(path: Path):
    import sumolib

    if not path.exists():
        msg = f"{path}: no such file."
        raise NetworkError(msg)
    if path.is_dir():
        msg = f"{path}: is a folder, expected a SUMO network file (.net.xml)."
        raise NetworkError(msg)
    root = _root_tag(path)
    if root != "net":
        msg = f"{path}: is XML with root <{root}>, expected a SUMO network (<net>)."
        raise NetworkError(msg)
    try:
        return sumolib.net.readNet(
            str(path), withPrograms=True, withLatestPrograms=True, withPedestrianConnections=True
        )
    except Exception as exc:  # sumolib raises bare KeyError/IndexError on broken files
        msg = f"{path}: not a readable SUMO network ({type(exc).__name__}: {exc})."
        raise NetworkError(msg) from exc


def _root_tag(path: Path) -> str:
    """Return the root element name, reading only the file's start."""
    class _Stop(Exception):
        pass

    class _Handler(xml.sax.ContentHandler):
        root = ""

        def startElement(self, name, attrs):  # noqa: N802 - SAX API
            self.root = name
            raise _Stop

    handler = _Handler()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            xml.sax.parse(fh, handler)
    except _Stop:
        return handler.root
    except (xml.sax.SAXException, OSError, EOFError) as exc:
        msg = f"{path}: not an XML file ({exc})."
        raise NetworkError(msg) from exc
    msg = f"{path}: empty XML document, expected a SUMO network (<net>)."
    raise NetworkError(msg)


def _collect_movements(net, base_sat_flow_vph: float):
    """Group SUMO connections into movements; return them and the links of each tls."""
    groups: dict[tuple[str, str, str], dict] = {}
    lane_users: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    tls_links: dict[str, list[tuple[int, str, str, tuple[str, str, str]]]] = defaultdict(list)

    for edge in net.getEdges(withInternal=True):
        function = edge.getFunction()
        if function not in ("", "walkingarea"):
            continue
        for lane in edge.getLanes():
            for conn in lane.getOutgoing():
                to_edge = conn.getTo()
                if function == "walkingarea":
                    if to_edge.getFunction() != "crossing":
                        continue
                    key = (to_edge.getToNode().getID(), to_edge.getID(), to_edge.getID())
                    turn = "crossing"
                    from_lane = to_lane = conn.getToLane().getID()
                    crosses = tuple(e.getID() for e in to_edge.getCrossingEdges())
                else:
                    if to_edge.getFunction():
                        continue
                    key = (edge.getToNode().getID(), edge.getID(), to_edge.getID())
                    turn = TURNS.get(conn.getDirection(), "through")
                    from_lane, to_lane = lane.getID(), conn.getToLane().getID()
                    crosses = ()
                g = groups.setdefault(
                    key,
                    {"turn": turn, "from": [], "to": [], "tls": None, "links": [], "crosses": crosses},
                )
                if from_lane not in g["from"]:
                    g["from"].append(from_lane)
                if to_lane not in g["to"]:
                    g["to"].append(to_lane)
                if turn != "crossing":
                    lane_users[from_lane].add(key)
                if conn.getTLSID():
                    g["tls"] = conn.getTLSID()
                    for idx in (conn.getTLLinkIndex(), conn.getTLLinkIndex2()):
                        if idx >= 0:
                            if idx not in g["links"]:
                                g["links"].append(idx)
                            tls_links[conn.getTLSID()].append((idx, from_lane, to_lane, key))

    keys = sorted(groups)
    movements = []
    for key in keys:
        g = groups[key]
        factor = TURN_SAT_FACTOR[g["turn"]]
        sat = sum(base_sat_flow_vph * factor / max(1, len(lane_users[lane])) for lane in g["from"])
        movements.append(
            Movement(
                junction=key[0],
                from_edge=key[1],
                to_edge=key[2],
                turn=g["turn"],
                from_lanes=tuple(g["from"]),
                to_lanes=tuple(g["to"]),
                tls=g["tls"],
                link_indices=tuple(sorted(g["links"])),
                sat_flow_vph=float(sat),
                crosses=g["crosses"],
            )
        )
    return tuple(movements), tls_links


def _collect_programs(net, tls_links, movements) -> dict[str, SignalProgram]:
    index = {(m.junction, m.from_edge, m.to_edge): i for i, m in enumerate(movements)}
    programs: dict[str, SignalProgram] = {}
    for tls in net.getTrafficLights():
        tls_id = tls.getID()
        progs = tls.getPrograms()
        if not progs:
            continue
        program_id, prog = list(progs.items())[-1]
        links = tuple(
            sorted(
                {Link(i, fl, tl, index[key]) for i, fl, tl, key in tls_links.get(tls_id, [])},
                key=lambda k: (k.index, k.from_lane, k.to_lane),
            )
        )
        junctions = tuple(sorted({movements[link.movement].junction for link in links}))
        phases = tuple(
            ProgramPhase(
                duration_s=float(p.duration),
                state=p.state,
                min_dur_s=_opt(p.minDur),
                max_dur_s=_opt(p.maxDur),
                name=p.name or "",
            )
            for p in prog.getPhases()
        )
        programs[tls_id] = SignalProgram(
            tls=tls_id,
            program_id=str(program_id),
            type=prog.getType(),
            offset_s=float(prog.getOffset()),
            junctions=junctions,
            phases=phases,
            links=links,
        )
    return programs


def _collect_foes(net, movements):
    """Movement pairs that SUMO's junction requests mark as foes, and who yields to whom.

    ``prohibits[j]`` holds ``(a, b)`` when movement ``a`` must yield to movement ``b``.
    """
    index = {(m.junction, m.from_edge, m.to_edge): i for i, m in enumerate(movements)}
    foes: dict[str, frozenset[tuple[int, int]]] = {}
    prohibits: dict[str, frozenset[tuple[int, int]]] = {}
    for node in net.getNodes():
        if not node._foes:
            continue
        junction = node.getID()
        links: list[int] = []
        for lane_id in node._incLanes:
            if not lane_id or not net.hasEdge(lane_id[: lane_id.rfind("_")]):
                continue
            for conn in net.getLane(lane_id).getOutgoing():
                frm, to = conn.getFrom(), conn.getTo()
                if to.getFunction() == "walkingarea" or to.getFunction() == "internal":
                    continue
                if frm.getFunction() == "walkingarea":
                    if to.getFunction() != "crossing":
                        continue
                    links.append(index[(junction, to.getID(), to.getID())])
                else:
                    links.append(index[(junction, frm.getID(), to.getID())])
        pairs: set[tuple[int, int]] = set()
        yields: set[tuple[int, int]] = set()
        for a, foe_bits in node._foes.items():
            response = node._prohibits[a]
            if a >= len(links):
                continue
            n_bits = len(foe_bits)
            for b in range(min(n_bits, len(links))):
                if links[a] == links[b]:
                    continue
                if foe_bits[n_bits - b - 1] == "1":
                    pairs.add((links[a], links[b]))
                    pairs.add((links[b], links[a]))
                if response[len(response) - b - 1] == "1":
                    yields.add((links[a], links[b]))
        foes[junction] = frozenset(pairs)
        prohibits[junction] = frozenset(yields)
    return foes, prohibits


def _heading(p0, p1) -> float:
    """Compass-free heading (degrees, counter-clockwise from +x) of the segment p0 -> p1."""
    return math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0])) % 360.0


def _opt(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value < 0 or math.isnan(value) else value
