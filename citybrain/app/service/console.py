"""The operations console: a page at ``/`` (static files shipped in the package) and the read-only routes it reads.

The page (``static/index.html``, ``console.js``, ``console.css``: plain JavaScript, no build step,
nothing fetched from elsewhere) talks to the service only through its HTTP API with the signed-in
user's token, so it can do nothing the API does not allow. The routes added here, each for any
signed-in role:

``GET /me``
    Who the token is: name, role, and the roles from least to most allowed.
``GET /network``
    The network the service checks plans against, to draw: each road link's shape and each light's
    position (the mean of its junctions), in the network's metres (x east, y north), and each
    light's own program in the network file (its phases' durations and signal states).
``GET /targets``
    Every push target the lights have, asked once each: what it reports each light runs, or why it
    could not be asked (the console's "out of contact").
"""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from citybrain.network import RoadNetwork
from citybrain.network.geometry import link_geometry

from .auth import ROLES, User
from .lifecycle import PlanService

__all__ = ["PAGE_HEADERS", "STATIC", "add_console", "network_drawing"]

#: Folder of the console's static files.
STATIC = Path(__file__).resolve().parent / "static"
#: Headers of the page: its scripts, styles and requests come from the service only, and it is never framed.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def network_drawing(network: RoadNetwork) -> dict:
    """The links' shapes, the lights' positions (metres) and own programs of ``network``, and the bounding box.

    Raises
    ------
    NetworkError
        If the network file can no longer be read.
    """
    geometry = link_geometry(network.path)
    edges = network.edges
    links = [{"id": e, "from": edges[e]["from"], "to": edges[e]["to"], "lanes": edges[e]["lanes"],
              "shape_m": [list(p) for p in shape]}
             for e, shape in sorted(geometry.shapes_m.items()) if e in edges]
    nodes = network.graph.nodes
    lights = []
    for tls, program in sorted(network.programs.items()):
        xy = [(nodes[j]["x_m"], nodes[j]["y_m"]) for j in program.junctions if j in nodes]
        if xy:
            lights.append({"tls": tls, "junctions": list(program.junctions),
                           "x_m": sum(x for x, _ in xy) / len(xy), "y_m": sum(y for _, y in xy) / len(xy),
                           "program": {"program_id": program.program_id, "type": program.type,
                                       "offset_s": program.offset_s,
                                       "phases": [{"duration_s": ph.duration_s, "state": ph.state}
                                                  for ph in program.phases]}})
    xs = [x for link in links for x, _ in link["shape_m"]] + [light["x_m"] for light in lights]
    ys = [y for link in links for _, y in link["shape_m"]] + [light["y_m"] for light in lights]
    bounds = [min(xs), min(ys), max(xs), max(ys)] if xs else [0.0, 0.0, 0.0, 0.0]
    return {"links": links, "lights": lights, "bounds_m": bounds, "crs_note": "network metres (x east, y north)"}


def add_console(app: FastAPI, service: PlanService, authenticate: Callable[..., User]) -> None:
    """Serve the console page at ``/`` and its files under ``/static``, and add its read-only routes.

    ``authenticate`` is the service's dependency that finds a request's user (401 without a valid
    token). The network drawing is made here, once, so that ``GET /network`` cannot fail later.

    Raises
    ------
    NetworkError
        If the service's network file cannot be read for its shapes.
    """
    drawing = network_drawing(service.network)
    router = APIRouter(tags=["console"])
    SignedIn = Annotated[User, Depends(authenticate)]  # noqa: N806 - a type

    @router.get("/me")
    def me(u: SignedIn) -> dict:
        """Who the token is: `{"name", "role", "roles"}` (roles from least to most allowed)."""
        return {"name": u.name, "role": u.role, "roles": list(ROLES)}

    @router.get("/network")
    def network(u: SignedIn) -> dict:
        """Link shapes and light positions of the service's network (metres), to draw it."""
        return drawing

    @router.get("/targets")
    def targets(u: SignedIn) -> dict:
        """Every push target of the lights, asked once each: what it reports each light runs, or its error."""
        return {"targets": service.targets_report()}

    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
