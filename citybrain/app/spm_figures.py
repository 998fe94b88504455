"""Purdue coordination diagrams (PNG, matplotlib's Agg backend) from a hi-res event log.

One diagram per light and phase, as in ATSPM: the x axis is the time of day, the y axis the time
since the cycle began (a cycle begins at the phase's begin red clearance, event 10); each dot
is an advance detector actuation (event 82) at its time in the cycle, the green line the begin
green of each cycle (event 1) and the yellow line its begin yellow (event 8). Dots below the
green line arrived on red, between the green and yellow lines on green.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from citybrain.spm import arrival_times, phase_timelines

__all__ = ["purdue_diagrams"]

_SIZE_IN, _DPI = (9.0, 5.0), 100


def purdue_diagrams(events: pd.DataFrame, detectors: pd.DataFrame, out: Path,
                    measures: pd.DataFrame | None = None) -> list[Path]:
    """Write ``pcd_<signal>_phase<k>.png`` into ``out`` for every phase with advance detectors; return the paths."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    start = events["timestamp"].iloc[0] if len(events) else pd.Timestamp(0)
    paths = []
    for (s, p), tl in phase_timelines(events).items():
        chans = detectors.loc[(detectors["signal_id"].astype(str) == s) & (detectors["phase"] == p)
                              & (detectors["kind"] == "advance"), "channel"]
        if chans.empty or len(tl.red) == 0:
            continue
        on = arrival_times(events, detectors, s, p)
        cyc = tl.red[:, 0]
        k = np.searchsorted(cyc, on, side="right") - 1
        ok = k >= 0
        x, y = on[ok], on[ok] - cyc[k[ok]]
        g = tl.green[tl.green[:, 0] >= cyc[0]]
        kg = np.searchsorted(cyc, g[:, 0], side="right") - 1
        fig, ax = plt.subplots(figsize=_SIZE_IN, dpi=_DPI)
        to_h = lambda t: start + pd.to_timedelta(t, unit="s")  # noqa: E731
        ax.scatter(to_h(x), y, s=6, c="k", label="arrival at the stop bar (advance detector on + travel time)", zorder=3)
        ax.plot(to_h(g[:, 0]), g[:, 0] - cyc[kg], color="#1a9641", lw=1.5, label="begin green")
        ax.plot(to_h(g[:, 1]), g[:, 1] - cyc[kg], color="#e6ab02", lw=1.5, label="begin yellow")
        title = f"Purdue coordination diagram: signal {s}, phase {p}"
        if measures is not None:
            row = measures[(measures["signal_id"] == s) & (measures["phase"] == p)]
            if len(row) and row["arrivals"].iloc[0]:
                r = row.iloc[0]
                title += (f"\n{int(r['arrivals'])} arrivals, {r['aog_pct']:.0f}% on green, "
                          f"platoon ratio {r['platoon_ratio']:.2f}, {int(r['cycles'])} cycles")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(f"time of day ({start:%Y-%m-%d})")
        ax.set_ylabel("time in cycle (s, from begin red clearance)")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        path = out / f"pcd_{_safe(s)}_phase{p}.png"
        fig.savefig(path, dpi=_DPI)
        plt.close(fig)
        paths.append(path)
    return paths


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
