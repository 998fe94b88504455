"""An obvious reference checker of a plan's hard rules, written without citybrain.plans.

It unrolls the cycle second by second into what the light shows (:func:`timeline`), then
checks that signal: a link never green (``served``), a green phase showing no green
(``idle-phase``), a red longer than ``max_red_s`` (``max-red``), two never-together movements
green in the same step (``conflict``), a vehicle link going from green to anything but at
least 3 s of yellow (``yellow``). :func:`violations` returns the set of rules broken.
"""

from __future__ import annotations

from citybrain.network.conflicts import NEVER

GREENS = "Gg"


def timeline(plan):
    """``[(duration_s, state), ...]`` the light shows over one cycle, zero-length steps dropped.

    Per phase: the green (crossing links of ``plan.crossing_links`` that lose green at the end
    of the phase turn red after ``walk_s`` when ``0 < walk_s < green_s``), then ``yellow_s``
    with ``y`` on the links that lose green, then ``all_red_s`` with those links ``r``.
    """
    out = []
    n = len(plan.phases)
    for k, ph in enumerate(plan.phases):
        nxt = plan.phases[(k + 1) % n].state
        shown = ph.state
        if 0 < ph.walk_s < ph.green_s:
            out.append((ph.walk_s, shown))
            shown = "".join("r" if i in plan.crossing_links and c in GREENS and nxt[i] not in GREENS else c
                            for i, c in enumerate(shown))
            out.append((ph.green_s - ph.walk_s, shown))
        else:
            out.append((ph.green_s, shown))
        keep = [a in GREENS and b in GREENS for a, b in zip(shown, nxt)]
        lose = [a in GREENS and not b for a, b in zip(shown, keep)]
        other = ["r" if c in GREENS or c in "yr" else c for c in shown]
        out.append((ph.yellow_s, "".join(c if keep[i] else "y" if lose[i] else other[i] for i, c in enumerate(shown))))
        out.append((ph.all_red_s, "".join(c if keep[i] else "r" if lose[i] else other[i] for i, c in enumerate(shown))))
    return [(d, s) for d, s in out if d > 0]


def _runs(steps, i, pred):
    """Cyclic runs of steps where ``pred(state[i])``: list of (start index, total seconds)."""
    flags = [pred(s[i]) for _, s in steps]
    if all(flags):
        return [(0, float("inf"))]
    start = flags.index(False)  # begin just after a step outside a run
    runs, cur = [], None
    for j in range(1, len(steps) + 1):
        k = (start + j) % len(steps)
        if flags[k]:
            cur = [k, 0.0] if cur is None else cur
            cur[1] += steps[k][0]
        elif cur is not None:
            runs.append(tuple(cur))
            cur = None
    if cur is not None:
        runs.append(tuple(cur))
    return runs


def violations(plan, network, max_red_s=180.0, min_yellow_s=3.0, tol=1e-6):
    """The set of hard rules the plan breaks, by the reference (states must have the link count)."""
    out = set()
    links = network.programs[plan.tls].links
    movement = {}
    for link in links:
        movement.setdefault(link.index, set()).add(link.movement)
    crossing = {i for i, ms in movement.items() if any(network.movements[m].turn == "crossing" for m in ms)}
    for ph in plan.phases:
        if ph.green_s > 0 and not any(c in GREENS for c in ph.state):
            out.add("idle-phase")
    steps = timeline(plan)
    n = plan.n_links
    for i in range(n):
        if not any(s[i] in GREENS for _, s in steps):
            out.add("served")
            continue
        reds = _runs(steps, i, lambda c: c not in GREENS)
        if any(r > max_red_s + tol for _, r in reds):
            out.add("max-red")
        if i in crossing:
            continue
        for k, _ in reds:  # a red run right after green must begin with >= 3 s of yellow
            yellow = 0.0
            j = k
            while steps[j % len(steps)][1][i] == "y" and j < k + len(steps):
                yellow += steps[j % len(steps)][0]
                j += 1
            if yellow < min_yellow_s - tol:
                out.add("yellow")
    for _, s in steps:
        green = sorted({m for i, c in enumerate(s) if c in GREENS for m in movement.get(i, ())})
        for a_i, a in enumerate(green):
            for b in green[a_i + 1:]:
                ja = network.movements[a].junction
                if ja != network.movements[b].junction:
                    continue
                conf = network.conflicts(ja)
                pos = {m: x for x, m in enumerate(conf.movements)}
                if conf.kind[pos[a], pos[b]] == NEVER:
                    out.add("conflict")
    return out


def switch_violations(running, pushed, network, min_yellow_s=3.0, min_green_s=5.0, tol=1e-6):
    """Hard rules (and the US profile's min-green) broken by switching from ``running`` into ``pushed``.

    What the light shows (:mod:`citybrain.plans.switch`): the running plan's last phase's green,
    its yellow and all-red towards the pushed plan's first phase, then that phase's green. A
    vehicle link green before and not green after must show at least ``min_yellow_s`` of ``y``.
    """
    last, first = running.phases[-1], pushed.phases[0]
    crossing = {link.index for link in network.programs[pushed.tls].links
                if network.movements[link.movement].turn == "crossing"}
    out = set()
    for i, (a, b) in enumerate(zip(last.state, first.state)):
        if a in GREENS and b not in GREENS and i not in crossing and last.yellow_s < min_yellow_s - tol:
            out.add("yellow")
    if any(c in GREENS for c in last.state) and last.green_s < min_green_s - tol:
        out.add("min-green")
    return out
