"""Validators that every signal plan must satisfy, written independently of citybrain.plans.safety.

Each raises ``AssertionError`` naming the light, phase and rule (networkx's flow tests check
conservation the same way for every algorithm).
"""

from __future__ import annotations

from citybrain.network.conflicts import MERGE, NEVER, YIELD

GREENS = "Gg"


def _green_movements(state, network, tls):
    """Movement index -> list of its links' characters, for movements with some green link."""
    chars = {}
    for link in network.programs[tls].links:
        chars.setdefault(link.movement, []).append(state[link.index])
    return {m: cs for m, cs in chars.items() if any(c in GREENS for c in cs)}


def assert_cycle_closes(plan, tol=1e-6):
    """Greens plus lost time (yellow + all-red) equal the cycle; offset within it."""
    greens = sum(p.green_s for p in plan.phases)
    lost = sum(p.yellow_s + p.all_red_s for p in plan.phases)
    assert abs(greens + lost - plan.cycle_s) <= tol, f"{plan.tls}: greens {greens} + lost {lost} != cycle {plan.cycle_s}"
    assert 0 <= plan.offset_s < plan.cycle_s, f"{plan.tls}: offset {plan.offset_s} outside [0, {plan.cycle_s})"


def assert_min_greens(plan, min_green_s=5.0):
    """Every phase meets the minimum green (and its own min_green_s when set)."""
    for k, p in enumerate(plan.phases):
        floor = max(min_green_s, p.min_green_s or 0.0)
        assert p.green_s >= floor - 1e-9, f"{plan.tls} phase {k}: green {p.green_s} < min {floor}"


def assert_no_conflicting_greens(plan, network):
    """No never-together pair green together; a yielding stream green with its major is 'g' only."""
    for k, p in enumerate(plan.phases):
        green = _green_movements(p.state, network, plan.tls)
        ms = sorted(green)
        for i, a in enumerate(ms):
            for b in ms[i + 1:]:
                ja, jb = network.movements[a].junction, network.movements[b].junction
                if ja != jb:
                    continue
                conf = network.conflicts(ja)
                pos = {m: x for x, m in enumerate(conf.movements)}
                kind = conf.kind[pos[a], pos[b]]
                assert kind != NEVER, f"{plan.tls} phase {k}: {a} and {b} never-together but both green"
                if kind in (YIELD, MERGE):
                    minor = a if conf.yields[pos[a], pos[b]] else b
                    assert not all(c == "G" for c in green[minor]), (
                        f"{plan.tls} phase {k}: yielding movement {minor} protected"
                    )


def assert_yellow_on_loss(plan, network, min_yellow_s=3.0):
    """A vehicle link that loses green gets at least 3 s of yellow."""
    crossings = {l.index for l in network.programs[plan.tls].links if network.movements[l.movement].turn == "crossing"}
    n = len(plan.phases)
    if n < 2:
        return
    for k, p in enumerate(plan.phases):
        nxt = plan.phases[(k + 1) % n]
        lost = [i for i, c in enumerate(p.state) if c in GREENS and nxt.state[i] not in GREENS and i not in crossings]
        if lost:
            assert p.yellow_s >= min_yellow_s, f"{plan.tls} phase {k}: links {lost} lose green with {p.yellow_s} s yellow"


def assert_safe_plan(plan, network, min_green_s=5.0):
    """Every invariant above."""
    assert_cycle_closes(plan)
    assert_min_greens(plan, min_green_s)
    assert_no_conflicting_greens(plan, network)
    assert_yellow_on_loss(plan, network)


def assert_safe_network_plan(network_plan, network, min_green_s=5.0):
    """Every plan of every period is safe."""
    for _, plan in network_plan.all_plans():
        assert_safe_plan(plan, network, min_green_s)
