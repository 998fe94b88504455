"""Movement flows (veh/h) for timing, from a flow table (:data:`citybrain.estimation.FLOW_COLUMNS`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..estimation import FLOW_COLUMNS
from ..exceptions import ValidationError
from ..plans.formats import plan_from_program
from .options import AGGREGATES
from .phases import lane_groups, service_matrix

__all__ = ["movement_flows", "design_aggregate", "clip_to_program_capacity", "select_lights"]


def movement_flows(network, flows: pd.DataFrame, *, aggregate: str = "mean") -> np.ndarray:
    """Return the flow (veh/h) of every movement of ``network`` from a flow table: its demand when the table has it.

    Parameters
    ----------
    network
        The road network.
    flows
        Flow table with columns :data:`FLOW_COLUMNS`; several intervals per movement are
        combined by ``aggregate``. With a ``demand_vph`` column (counts with queue readings:
        discharge plus queue growth) that column is the flow timing designs for.
    aggregate
        ``"mean"``, ``"max"`` or ``"median"`` over intervals, or ``"peak15"``: the highest
        15-minute flow rate (the mean of the busiest run of consecutive intervals covering
        15 minutes; HCM's design flow rate, for a queue that builds up in a peak).

    Returns
    -------
    numpy.ndarray
        ``(n_movements,)`` veh/h, 0 for movements absent from the table (and crossings).

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, negative or non-numeric flows, movements
        that are not in the network.
    """
    problems = []
    if not isinstance(flows, pd.DataFrame):
        msg = f"The 'flows' must be a pandas DataFrame with columns {list(FLOW_COLUMNS)}. Got {type(flows).__name__}."
        raise ValidationError(msg)
    missing = [c for c in FLOW_COLUMNS if c not in flows.columns]
    if missing:
        msg = f"The flow table lacks column(s) {missing}; expected exactly {list(FLOW_COLUMNS)}."
        raise ValidationError(msg)
    if aggregate not in AGGREGATES:
        msg = f"The 'aggregate' must be one of {sorted(AGGREGATES)}. Got {aggregate!r} instead."
        raise ValidationError(msg)
    column = "demand_vph" if "demand_vph" in flows.columns else "flow_vph"
    vph = pd.to_numeric(flows[column], errors="coerce")
    for i in np.flatnonzero(vph.isna().to_numpy() | (vph.to_numpy() < 0)):
        problems.append(f"row {i}: {column} must be a number >= 0, got {flows[column].iloc[i]!r}.")
    keys = list(zip(flows["junction"].astype(str), flows["from_edge"].astype(str), flows["to_edge"].astype(str)))
    unknown = sorted({k for k in keys if not network.has_movement(*k)})
    for k in unknown[:50]:
        problems.append(f"movement {k[0]}:{k[1]}->{k[2]} is not a movement of network {network.path.name}.")
    if len(unknown) > 50:
        problems.append(f"... and {len(unknown) - 50} more unknown movements.")
    if problems:
        msg = f"The flow table has {len(problems)} problem(s):\n" + "\n".join(problems)
        raise ValidationError(msg, problems)
    frame = pd.DataFrame({"key": keys, "vph": vph.to_numpy(dtype=float)})
    if aggregate == "peak15":
        agg = _peak_15min(frame, flows)
    else:
        agg = frame.groupby("key")["vph"].agg(aggregate)
    out = np.zeros(len(network.movements))
    for key, value in agg.items():
        out[network.movement_index(*key)] = float(value)
    return out


def design_aggregate(flows: pd.DataFrame) -> str:
    """How to combine a table's intervals for one plan: ``"peak15"`` for demand (queues read), else ``"mean"``.

    A queue that builds up in a peak and is served later leaves the window's mean demand near
    the discharge; the peak 15 minutes' demand is what the plan must serve (HCM's design flow
    rate). Discharge is capped by the green it had, so its mean is used.
    """
    return "peak15" if "demand_vph" in flows.columns else "mean"


def _peak_15min(frame: pd.DataFrame, flows: pd.DataFrame) -> pd.Series:
    """Per movement key, the highest mean flow (veh/h) over consecutive intervals covering 15 minutes."""
    start = pd.to_numeric(flows["interval_start"], errors="coerce")
    if start.isna().any():  # ISO 8601 times
        start = pd.to_datetime(flows["interval_start"], format="ISO8601").astype("int64") / 1e9
    wide = frame.assign(start=start.to_numpy(dtype=float)).pivot_table(
        index="start", columns="key", values="vph", aggfunc="mean").sort_index()
    window = max(1, int(round(900.0 / float(pd.to_numeric(flows["interval_s"]).median()))))
    window = min(window, len(wide))
    return wide.rolling(window, min_periods=window).mean().max()


def clip_to_program_capacity(network, q_vph: np.ndarray, tls_ids) -> np.ndarray:
    """Flows no higher than what the network's own programs can discharge.

    Counts taken under the own programs cannot exceed their discharge capacity: per lane
    group of each light, the flow is scaled down to at most the group's saturation flow
    times its green share in the own program (permissive green counted in full, so this is
    an upper bound). An estimate above it is an estimation error (a removed camera), and
    timing would give that approach green it does not need.
    """
    out = np.asarray(q_vph, dtype=float).copy()
    for t in tls_ids:
        prog = network.programs[t]
        cycle = float(sum(ph.duration_s for ph in prog.phases))
        if cycle <= 0:
            continue
        plan = plan_from_program(prog.phases, tls=t, junctions=prog.junctions, network=network)
        movs = sorted({link.movement for link in prog.links if network.movements[link.movement].turn != "crossing"})
        if not movs:
            continue
        service = service_matrix(plan, network, movs, 1.0)
        greens = np.array([ph.green_s for ph in plan.phases])
        share = np.minimum(service @ greens / cycle, 1.0)
        for g in lane_groups(network, movs):
            ms = [movs[i] for i in g]
            sat = sum(network.movements[m].sat_flow_vph for m in ms)
            cap = sat * max(share[i] for i in g)
            total = float(out[ms].sum())
            if total > cap > 0:
                out[ms] *= cap / total
    return out


def select_lights(network, tls) -> list[str]:
    """Normalise a ``tls`` argument (None, one id or ids) to a sorted list of known lights.

    Raises
    ------
    ValidationError
        If a light is not in the network, or the network has none.
    """
    if tls is None:
        ids = sorted(network.programs)
    elif isinstance(tls, str):
        ids = [tls]
    else:
        ids = sorted(tls)
    unknown = [t for t in ids if t not in network.programs]
    if unknown or not ids:
        msg = f"The 'tls' must name traffic lights of {network.path.name} (e.g. {sorted(network.programs)[:5]}). Got {unknown or ids}."
        raise ValidationError(msg)
    return ids

