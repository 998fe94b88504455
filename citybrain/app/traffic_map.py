"""The PNG map of a traffic state: every link drawn from its shape, coloured by its level."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

__all__ = ["LEVEL_COLOURS", "draw_traffic_state"]

#: Colour of each level (the usual green / amber / red / dark red of traffic maps).
LEVEL_COLOURS = {"free": "#2e9d44", "slow": "#f2b21b", "congested": "#e0452b", "jammed": "#8c1a10"}


def draw_traffic_state(state: dict, path: str | Path, *, title: str = "") -> Path:
    """Draw the links of a :func:`citybrain.traffic_state.state_geojson` collection into ``path`` (PNG)."""
    fig, ax = plt.subplots(figsize=(10, 8), dpi=120)
    for f in state["features"]:
        xs, ys = zip(*f["geometry"]["coordinates"])
        p = f["properties"]
        ax.plot(xs, ys, color=LEVEL_COLOURS[p["level"]], linewidth=1.5 + 2.5 * min(p["flow_vph"] / 1000.0, 1.0),
                solid_capstyle="round")
    ax.set_aspect("equal" if "metres" in state["crs_note"] else "auto")
    ax.set_xlabel("longitude (deg)" if "WGS84" in state["crs_note"] else "x (m)")
    ax.set_ylabel("latitude (deg)" if "WGS84" in state["crs_note"] else "y (m)")
    area = state["areas"].get("network") or next(iter(state["areas"].values()))
    ax.set_title(f"{title}  congestion index {area['index']:.2f} ({area['level']})".strip())
    ax.legend(handles=[Line2D([], [], color=c, linewidth=3, label=n) for n, c in LEVEL_COLOURS.items()],
              title="travel time index", loc="best", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
