"""Phase structure of a light for timing: its own phase sequence made safe, and what each phase serves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..network.conflicts import MERGE, NEVER, YIELD
from ..exceptions import InfeasiblePlanError
from ..plans.formats import plan_from_program
from ..plans.model import GREEN, SignalPlan, phase_movements
from ..plans.safety import apply_clearances

__all__ = ["sanitise_state", "drop_redundant_phases", "base_plan", "service_matrix", "lane_groups"]


def sanitise_state(state: str, network, tls: str, prefer=(), *, flows_vph=None, optional=()) -> str:
    """Make a green state obey the hard rules by removing or downgrading greens.

    Green streams are admitted one at a time, those in ``prefer`` first, then by flow
    (``flows_vph``, veh/h per network movement) or, without flows, by saturation flow. A
    stream that may never be green with an admitted one goes red. A stream that yields to
    an admitted one is permissive ``g``; an admitted protected stream that would have to
    yield to the new one becomes ``g``, unless (with flows) the new stream is in
    ``optional`` (served in another phase): then it goes red here and the heavier stream
    keeps its protection. So a right turn that the own program shows green in every phase
    does not make a heavy through permissive. Two protected links from different lanes into one lane:
    the minor becomes ``g``.
    """
    prog = network.programs[tls]
    chars = list(state)
    links_of: dict[int, list[int]] = {}
    for link in prog.links:
        links_of.setdefault(link.movement, []).append(link.index)

    def weight(m):
        return float(flows_vph[m]) if flows_vph is not None else network.movements[m].sat_flow_vph

    def paint(m, c):
        for i in links_of[m]:
            if chars[i] in GREEN:
                chars[i] = c

    for j in prog.junctions:
        conf = network.conflicts(j)
        pos = {m: i for i, m in enumerate(conf.movements)}
        movs = [m for m in conf.movements if m in links_of and any(chars[i] in GREEN for i in links_of[m])]
        order = sorted(movs, key=lambda m: (m not in prefer, -weight(m), -network.movements[m].sat_flow_vph))
        admitted: list[int] = []
        for m in order:
            kinds = [(k, int(conf.kind[pos[m], pos[k]])) for k in admitted]
            if any(kind == NEVER for _, kind in kinds):
                paint(m, "r")
                continue
            pairs = [k for k, kind in kinds if kind in (YIELD, MERGE)]
            # of a yield or merge pair the admitted stream is the minor only if it yields
            minor = any(not conf.yields[pos[k], pos[m]] for k in pairs)
            downgraded = [k for k in pairs if conf.yields[pos[k], pos[m]]
                          and any(chars[i] == "G" for i in links_of[k])]
            if flows_vph is not None and downgraded and m in optional and m not in prefer:
                paint(m, "r")
                continue
            for k in downgraded:
                paint(k, "g")
            if minor:
                paint(m, "g")
            admitted.append(m)
    by_lane: dict[str, list] = {}
    for link in prog.links:
        if chars[link.index] == "G":
            by_lane.setdefault(link.to_lane, []).append(link)
    for links in by_lane.values():
        if len({x.from_lane for x in links}) > 1:
            keep = max(links, key=lambda x: (network.movements[x.movement].turn == "through",
                                              network.movements[x.movement].sat_flow_vph))
            for x in links:
                if x.from_lane != keep.from_lane:
                    chars[x.index] = "g"
    return "".join(chars)


def _rank(c: str) -> int:
    return 2 if c == "G" else 1 if c == "g" else 0


def drop_redundant_phases(phases: list, *, permissive: bool = False) -> list:
    """Drop green phases whose every green link is as green (``G`` >= ``g``) in another kept phase.

    Programs such as the Hangzhou ones run each approach alone after the paired phases; every
    such phase costs a minimum green and a transition per cycle and serves nothing the others
    do not. Phases with the fewest green links go first; the order of the rest is kept. With
    ``permissive``, permissive green counts as much as protected (``g`` = ``G``): a protected
    left-turn phase goes when the turn has permissive green in another phase.
    """
    rank = (lambda c: 1 if c in GREEN else 0) if permissive else _rank
    keep = list(range(len(phases)))
    for k in sorted(keep, key=lambda i: (sum(c in GREEN for c in phases[i].state), -i)):
        others = [i for i in keep if i != k]
        if not others:
            break
        links = [i for i, c in enumerate(phases[k].state) if c in GREEN]
        if all(any(rank(phases[o].state[i]) >= rank(phases[k].state[i]) for o in others) for i in links):
            keep.remove(k)
    return [phases[i] for i in keep]


def base_plan(network, tls: str, profile=None, *, permissive_lefts: bool = False, flows_vph=None) -> SignalPlan:
    """The light's own phase sequence as a safe plan skeleton (clearances from the profile).

    Green states are sanitised (:func:`sanitise_state`; with ``flows_vph``, veh/h per network
    movement, a stream green in another phase of the own program is optional in this one);
    phases left with no green, a phase identical to the one before it, and phases that serve
    nothing the others do not
    (:func:`drop_redundant_phases`, with ``permissive_lefts`` its ``permissive``) are dropped.
    """
    prog = network.programs[tls]
    plan = plan_from_program(prog.phases, tls=tls, junctions=prog.junctions, offset_s=0.0,
                             program_id="citybrain", network=network, method="base")
    green_in = [{link.movement for link in prog.links if ph.state[link.index] in GREEN} for ph in plan.phases]

    def elsewhere(k):
        return set().union(*(g for i, g in enumerate(green_in) if i != k))

    phases = []
    for k, ph in enumerate(plan.phases):
        state = sanitise_state(ph.state, network, tls, flows_vph=flows_vph, optional=elsewhere(k))
        if not any(c in GREEN for c in state) or (phases and phases[-1].state == state):
            continue
        prot, perm = phase_movements(state, network, tls)
        phases.append(replace(ph, state=state, protected=prot, permissive=perm))
    # a movement whose every green lost out to a never-together stream would never be served
    # (atlanta 69249210: a left turn green only in an all-green phase): it gets a phase of
    # its own, the own phase sanitised in its favour, after the phases it was green in
    served = {i for p in phases for i, c in enumerate(p.state) if c in GREEN}
    for k, ph in enumerate(plan.phases):
        lost = {link.movement for link in prog.links if ph.state[link.index] in GREEN and link.index not in served
                and network.movements[link.movement].turn != "crossing"}
        if not lost:
            continue
        state = sanitise_state(ph.state, network, tls, prefer=lost, flows_vph=flows_vph, optional=elsewhere(k))
        prot, perm = phase_movements(state, network, tls)
        at = max((i + 1 for i, p in enumerate(phases) if p.program_phase == ph.program_phase), default=len(phases))
        phases.insert(at, replace(ph, state=state, protected=prot, permissive=perm))
        served |= {i for i, c in enumerate(state) if c in GREEN}
    if len(phases) > 1 and phases[0].state == phases[-1].state:
        phases.pop()
    phases = drop_redundant_phases(phases, permissive=permissive_lefts)
    if not phases:
        msg = f"Traffic light {tls}: no green phase survives the safety rules; expected at least one."
        raise InfeasiblePlanError(msg)
    plan = replace(plan, phases=tuple(phases), offset_s=0.0)
    return apply_clearances(plan, network, profile)


def service_matrix(plan: SignalPlan, network, movements, permissive_factor: float) -> np.ndarray:
    """``(n_movements, n_phases)`` share of saturation flow each phase gives each movement.

    1 where every link of the movement shows ``G``, ``permissive_factor`` where some link
    shows green otherwise, 0 where none does.
    """
    links_of: dict[int, list[int]] = {}
    for link in network.programs[plan.tls].links:
        links_of.setdefault(link.movement, []).append(link.index)
    a = np.zeros((len(movements), len(plan.phases)))
    for r, m in enumerate(movements):
        for p, ph in enumerate(plan.phases):
            cs = [ph.state[i] for i in links_of.get(m, [])]
            if cs and all(c == "G" for c in cs):
                a[r, p] = 1.0
            elif any(c in GREEN for c in cs):
                a[r, p] = permissive_factor
    return a


def lane_groups(network, movements) -> list[list[int]]:
    """Group movements that share an approach lane (union-find over ``from_lanes``)."""
    parent = list(range(len(movements)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, m in enumerate(movements):
        for lane in network.movements[m].from_lanes:
            if lane in owner:
                parent[find(i)] = find(owner[lane])
            else:
                owner[lane] = i
    out: dict[int, list[int]] = {}
    for i in range(len(movements)):
        out.setdefault(find(i), []).append(i)
    return [out[k] for k in sorted(out)]

