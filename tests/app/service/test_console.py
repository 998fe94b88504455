"""The console's routes without a browser: the page and its files, `GET /me`, `GET /network`, `GET /targets`."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from citybrain.app.service.auth import create_token
from citybrain.app.service.console import STATIC
from citybrain.app.service.db import connect

from .test_service import Server, network, safe_body  # noqa: F401 - the fixture is used by name


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A `citybrain serve` on loopback with a token per role, and its export folder."""
    tmp = tmp_path_factory.mktemp("console")
    db = f"sqlite:///{tmp / 'plans.db'}"
    engine = connect(db)
    tokens = {n: create_token(engine, n, r)[1] for n, r in
              [("vera", "viewer"), ("erin", "engineer"), ("olga", "operator"), ("oscar", "operator")]}
    engine.dispose()
    server = Server(db, tmp / "export").start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client, tokens, tmp / "export"
    server.stop()


def _as(tokens, name):
    return {"Authorization": f"Bearer {tokens[name]}"}


def test_the_page_and_its_files_are_served_with_a_policy_that_keeps_them_to_the_service(served):
    client, _, _ = served
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    # every file the page names is served from the package, and nothing is loaded from elsewhere
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/static/") for r in refs), refs
    for ref in refs:
        assert client.get(ref).status_code == 200, ref
    assert {p.name for p in STATIC.iterdir()} >= {"index.html", "console.js", "console.css"}
    script = (STATIC / "console.js").read_text()
    assert "localStorage" not in script and "innerHTML" not in script  # session only; text, never markup
    assert client.get("/static/nope.js").json()["detail"] == "Not Found"  # a JSON 404 like every other


def test_me_says_who_the_token_is_and_the_role_order(served):
    client, tokens, _ = served
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    for name, role in [("vera", "viewer"), ("erin", "engineer"), ("olga", "operator")]:
        me = client.get("/me", headers=_as(tokens, name)).json()
        assert me == {"name": name, "role": role, "roles": ["viewer", "engineer", "operator", "admin"]}


def test_network_draws_every_link_from_its_shape_and_every_light_at_its_junctions(served, network):  # noqa: F811
    client, tokens, _ = served
    drawing = client.get("/network", headers=_as(tokens, "vera")).json()
    assert {link["id"] for link in drawing["links"]} == set(network.edges)
    for link in drawing["links"]:
        start, end = network.graph.nodes[link["from"]], network.graph.nodes[link["to"]]
        assert len(link["shape_m"]) >= 2
        # a link's shape runs from near its from-junction to near its to-junction (within 30 m)
        assert abs(link["shape_m"][0][0] - start["x_m"]) + abs(link["shape_m"][0][1] - start["y_m"]) < 30
        assert abs(link["shape_m"][-1][0] - end["x_m"]) + abs(link["shape_m"][-1][1] - end["y_m"]) < 30
    lights = {light["tls"]: light for light in drawing["lights"]}
    assert set(lights) == set(network.programs)
    j3 = network.graph.nodes["J3"]
    assert (lights["J3"]["x_m"], lights["J3"]["y_m"]) == (j3["x_m"], j3["y_m"])
    own = network.programs["J3"]
    assert [(p["duration_s"], p["state"]) for p in lights["J3"]["program"]["phases"]] == [
        (p.duration_s, p.state) for p in own.phases]
    x0, y0, x1, y1 = drawing["bounds_m"]
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for link in drawing["links"] for x, y in link["shape_m"])
    assert drawing["crs_note"] == "network metres (x east, y north)"


def test_targets_reports_what_each_target_runs_and_a_target_that_cannot_be_asked(served, network):  # noqa: F811
    client, tokens, export = served
    assert client.get("/targets", headers=_as(tokens, "vera")).json() == {"targets": []}
    pid = client.post("/plans", json=safe_body(network), headers=_as(tokens, "erin")).json()["id"]
    client.post(f"/plans/{pid}/check", headers=_as(tokens, "erin"))
    client.post(f"/plans/{pid}/approve", headers=_as(tokens, "olga"))
    target = f"file://{export}/plan.json"
    pushed = client.post(f"/plans/{pid}/push", json={"target": target}, headers=_as(tokens, "oscar")).json()
    report = client.get("/targets", headers=_as(tokens, "vera")).json()["targets"]
    assert [t["target"] for t in report] == [target] and report[0]["error"] is None
    assert {t: r["sha256"] for t, r in report[0]["reported"].items()} == pushed["lights"]

    (export / "plan.json").write_text("{ broken")  # the target can no longer be read
    report = client.get("/targets", headers=_as(tokens, "vera")).json()["targets"]
    assert report[0]["reported"] == {} and "no plan file" in report[0]["error"]
    assert json.dumps(report)  # an answer, never a 500
