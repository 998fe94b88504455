"""The public traffic state over a real `citybrain serve`: no token needed there, and nowhere else."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np

from citybrain.app.service import ServiceSettings, create_app
from citybrain.network.geometry import link_geometry
from citybrain.plans import plans_from_network
from citybrain.traffic_state import link_states, state_geojson

from .test_service import NET, Server, network  # noqa: F401 - the fixture is used by name


def test_the_state_is_public_rate_limited_and_every_other_route_still_needs_a_token(network, tmp_path):
    states = link_states(network, np.full(len(network.movements), 200.0), plans_from_network(network).periods[0].by_tls)
    state_file = tmp_path / "state.geojson"
    db = f"sqlite:///{tmp_path / 'plans.db'}"
    server = Server(db, tmp_path / "export", "--traffic-state", str(state_file), "--public-per-minute", "5").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.get("/public/traffic-state")
            assert r.status_code == 404 and "not been written" in r.json()["detail"]
            state_file.write_text(json.dumps(state_geojson(states, link_geometry(NET))))
            r = client.get("/public/traffic-state")
            assert r.status_code == 200 and len(r.json()["features"]) == len(network.edges)
            assert "plate" not in r.text
            state_file.write_text("{ half written")
            assert client.get("/public/traffic-state").status_code == 503
            codes = [client.get("/public/traffic-state").status_code for _ in range(3)]
            assert codes[-1] == 429 and "Retry-After" in client.get("/public/traffic-state").headers
            app = create_app(ServiceSettings(network=NET, db=f"sqlite:///{tmp_path / 'other.db'}"))
            for route, methods in app.openapi()["paths"].items():
                if route.startswith(("/public", "/health")):
                    continue
                path = re.sub(r"\{[^}]+\}", "1", route)
                for method in methods:
                    r = client.request(method.upper(), path, json={})
                    assert r.status_code == 401, f"{method} {path} answered {r.status_code} without a token"
    finally:
        server.stop()
