"""Where a network's road links lie: their shapes in the network's metres, and in WGS84 when it is projected.

A SUMO network says where it is in its ``<location>``: ``netOffset`` (added to the projected
coordinates to get the network's) and ``projParameter`` (a PROJ string such as ``+proj=utm
+zone=32 +datum=WGS84``, or ``!`` for a network drawn in plain metres). Projected networks get
longitude / latitude through pyproj.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..exceptions import NetworkError

__all__ = ["LinkGeometry", "link_geometry"]


@dataclass(frozen=True, slots=True)
class LinkGeometry:
    """The shapes of a network's road links.

    ``shapes_m`` maps an edge id to its centre line ``((x_m, y_m), ...)`` in the network's
    coordinates; ``shapes_lonlat`` to ``((lon_deg, lat_deg), ...)`` in WGS84, or is ``None``
    when the network carries no projection (then ``crs_note`` says what the metres are).
    """

    shapes_m: dict[str, tuple[tuple[float, float], ...]]
    shapes_lonlat: dict[str, tuple[tuple[float, float], ...]] | None
    crs_note: str


def link_geometry(path: str | Path) -> LinkGeometry:
    """Read the road links' shapes of the SUMO network at ``path`` (internal and walking edges left out).

    Raises
    ------
    NetworkError
        If the file is not a readable SUMO network, or its projection is not a valid PROJ string.
    """
    from .sumo import _read_sumo_net

    net = _read_sumo_net(Path(path))
    shapes = {e.getID(): tuple((float(x), float(y)) for x, y, *_ in e.getShape())
              for e in net.getEdges(withInternal=False) if not e.getFunction()}
    if not net.hasGeoProj():
        return LinkGeometry(shapes, None, "network metres (x east, y north); the network carries no projection")
    try:
        proj = net.getGeoProj()
    except Exception as exc:  # pyproj's CRSError, or sumolib's wrapping of it
        msg = f"{path}: its <location projParameter> is not a PROJ string pyproj understands ({exc})."
        raise NetworkError(msg) from exc
    dx, dy = net.getLocationOffset()
    lonlat = {}
    for edge, pts in shapes.items():
        lon, lat = proj([x - dx for x, _ in pts], [y - dy for _, y in pts], inverse=True)
        lonlat[edge] = tuple(zip(map(float, lon), map(float, lat)))
    return LinkGeometry(shapes, lonlat, "WGS84 (EPSG:4326), longitude and latitude in degrees")
