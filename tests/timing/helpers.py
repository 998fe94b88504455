"""Flow tables for the timing tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from citybrain.estimation import FLOW_COLUMNS


def make_flows(network, share=0.08, seed=0, intervals=1):
    """Movement flows as a share (randomised) of saturation flow at every signalised movement."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(intervals):
        for m in network.movements:
            if m.turn == "crossing" or not m.tls:
                continue
            rows.append((k * 900.0, 900.0, m.junction, m.from_edge, m.to_edge,
                         float(rng.uniform(0.5, 1.5) * share * m.sat_flow_vph), 10.0))
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))
