"""The plan service over a real `citybrain serve` process and a real database (SQLite and PostgreSQL).

The lifecycle and its refusals through HTTP, a push race on the light locks, and SIGKILLs of the
server in the middle of pushes and approvals.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from citybrain.app.service.auth import User, create_token
from citybrain.app.service.db import connect
from citybrain.app.service.errors import Conflict
from citybrain.app.service.lifecycle import PlanService
from citybrain.app.service.targets import PushAck
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, plans_from_network, plans_to_dict
from citybrain.plans.formats import plan_sha256
from citybrain.plans.safety import apply_clearances

ROOT = Path(__file__).resolve().parents[3]
NET = ROOT / "networks" / "arterial5.net.xml"


@pytest.fixture(scope="module")
def network():
    return graph_from_sumo_net(NET)


def safe_body(network, *, method: str = "", green_s: float | None = None) -> dict:
    """A safe plan for every light of the arterial: its programs with the profile's clearances."""
    plans = [apply_clearances(p, network) for _, p in plans_from_network(network).all_plans()]
    body = plans_to_dict(NetworkPlan.single(plans))
    for p in body["periods"][0]["plans"]:
        p["method"] = method or p["method"]
        if green_s is not None:
            for ph in p["phases"]:
                if ph["green_s"] > 10:
                    ph["green_s"] = green_s
            p["cycle_s"] = sum(ph["green_s"] + ph["yellow_s"] + ph["all_red_s"] for ph in p["phases"])
    return body


class Server:
    """A `citybrain serve` subprocess on a free loopback port."""

    def __init__(self, db: str, export_dir: Path, *extra: str) -> None:
        self.db, self.export_dir, self.extra, self.proc, self.url = db, export_dir, extra, None, ""

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "citybrain.app.cli", "serve", "--db", self.db, "--network", str(NET),
             "--port", "0", "--export-dir", str(self.export_dir), *self.extra],
            stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stderr.readline()
        if "http://" not in line:
            msg = f"citybrain serve did not start: {line}{self.proc.stderr.read()}"
            raise RuntimeError(msg)
        self.url = line.split()[4]
        for _ in range(100):
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("citybrain serve does not answer /health")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stderr.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc:
            self.proc.stderr.close()


@pytest.fixture
def served(db_url, tmp_path):
    engine = connect(db_url)
    tokens = {name: create_token(engine, name, role)[1] for name, role in
              [("vera", "viewer"), ("erin", "engineer"), ("olga", "operator"), ("oscar", "operator"),
               ("ada", "admin")]}
    engine.dispose()
    server = Server(db_url, tmp_path / "export").start()
    yield server, tokens, tmp_path / "export"
    server.stop()


_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _OPEN:
        _OPEN.pop().close()


def _client(server, token):
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    _OPEN.append(client)
    return client


def test_the_lifecycle_and_every_refusal_over_http(served, network):
    server, tok, export = served
    eng, op1, op2, viewer, admin = (_client(server, tok[n]) for n in ("erin", "olga", "oscar", "vera", "ada"))
    target = f"file://{export}/plan.json"
    body = safe_body(network)

    assert httpx.get(server.url + "/plans").status_code == 401
    assert httpx.get(server.url + "/plans", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert viewer.post("/plans", json=body).status_code == 403
    unsafe = json.loads(json.dumps(body))
    for ph in unsafe["periods"][0]["plans"][0]["phases"]:
        ph["yellow_s"] = ph["all_red_s"] = 0.0
    r = eng.post("/plans", json=unsafe)
    assert r.status_code == 422 and r.json()["problems"]
    r = eng.post("/plans", content=b"{not json")
    assert r.status_code == 422 and "not JSON" in r.json()["detail"]
    unknown = json.loads(json.dumps(body))
    unknown["periods"][0]["plans"][0]["tls"] = "NOPE"
    assert eng.post("/plans", json=unknown).status_code == 422
    assert eng.get("/plans").json()["plans"] == []  # nothing stored by any refusal

    r = eng.post("/plans", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert op1.post(f"/plans/{pid}/push", json={"target": target}).status_code == 409  # not approved
    assert op1.post(f"/plans/{pid}/approve").status_code == 409  # not checked
    check = eng.post(f"/plans/{pid}/check").json()
    assert check["safe"] and check["status"] == "checked" and check["errors"] == []
    assert viewer.post(f"/plans/{pid}/approve").status_code == 403
    assert eng.post(f"/plans/{pid}/approve").status_code == 403  # an engineer, and the author
    assert op1.post(f"/plans/{pid}/approve", json={"version": 2}).status_code == 404
    assert op1.post(f"/plans/{pid}/approve").json()["approved_by"] == "olga"
    assert eng.post(f"/plans/{pid}/push", json={"target": target}).status_code == 403
    assert op1.post(f"/plans/{pid}/push", json={"target": "file:///etc/plan.json"}).status_code == 422
    r = op2.post(f"/plans/{pid}/push", json={"target": target})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    assert json.loads((export / "plan.json").read_text())["periods"][0]["plans"][0]["tls"] == "J1"

    # version 2: longer greens; the stale base is refused, the new one goes all the way
    body2 = safe_body(network, green_s=30.0)
    assert eng.post(f"/plans/{pid}/versions?base_version=0", json=body2).status_code == 422
    assert eng.post(f"/plans/{pid}/versions", json=body2).json()["version"] == 2
    assert eng.post(f"/plans/{pid}/versions?base_version=1", json=body2).status_code == 409  # stale: 2 is the latest
    assert eng.post(f"/plans/{pid}/check", json={"version": 1}).status_code == 409  # stale
    eng.post(f"/plans/{pid}/check")
    op2.post(f"/plans/{pid}/approve")
    diff = eng.get(f"/plans/{pid}/diff", params={"from": 1, "to": 2}).json()
    assert {c["field"] for light in diff["lights"] for c in light["changes"]} >= {"green_s", "cycle_s"}
    assert op1.post(f"/plans/{pid}/push", json={"target": target}).status_code == 200
    versions = {v["version"]: v["status"] for v in eng.get(f"/plans/{pid}").json()["versions"]}
    assert versions == {1: "superseded", 2: "active"}
    light = eng.get("/lights/J1").json()
    v2_j1 = next(p for p in body2["periods"][0]["plans"] if p["tls"] == "J1")
    assert light["active"]["version"] == 2 and light["status"] == "active"
    assert light["reported"]["sha256"] == light["history"][0]["sha256"]
    assert eng.get("/lights/NOPE").status_code == 404

    # roll back J1 alone: back to version 1 for J1; version 2 still runs on the other lights
    r = op1.post("/lights/J1/rollback")
    assert r.status_code == 200, r.text
    assert eng.get("/lights/J1").json()["active"]["version"] == 1
    assert eng.get("/lights/J2").json()["active"]["version"] == 2
    assert op1.post("/lights/J1/rollback").status_code == 409  # nothing before version 1
    assert json.loads((export / "plan.json").read_text())["periods"][0]["plans"][0]["tls"] == "J1"
    assert v2_j1["tls"] == "J1"

    # a coordinated plan: one light alone is refused unless forced, and a forced push is audited so
    coord = safe_body(network, method="coordinated")
    cid = eng.post("/plans", json=coord).json()["id"]
    eng.post(f"/plans/{cid}/check")
    op1.post(f"/plans/{cid}/approve")
    assert op2.post(f"/plans/{cid}/push", json={"target": target, "lights": ["J3"]}).status_code == 409
    r = op2.post(f"/plans/{cid}/push", json={"target": target, "lights": ["J3"], "force": True})
    assert r.status_code == 200 and r.json()["forced"]

    entries = admin.get("/audit").json()["entries"]
    actions = [(e["action"], e["result"]) for e in entries]
    for expected in [("create", "ok"), ("check", "ok"), ("approve", "ok"), ("push", "started"),
                     ("push", "acknowledged"), ("version", "ok"), ("rollback", "acknowledged"),
                     ("push", "refused"), ("push", "forced")]:
        assert expected in actions, expected
    assert all(e["sha256"] for e in entries if e["action"] in ("push", "rollback", "approve"))
    j3 = admin.get("/audit", params={"tls": "J3", "action": "push"}).json()["entries"]
    assert j3 and all("J3" in e["lights"] for e in j3)
    assert admin.get("/audit", params={"since": "2999-01-01"}).json()["entries"] == []

    # tokens: admin only; a revoked token is refused
    assert op1.post("/tokens", json={"name": "x", "role": "viewer"}).status_code == 403
    made = admin.post("/tokens", json={"name": "tim", "role": "viewer"}).json()
    tim = _client(server, made["token"])
    assert tim.get("/lights").status_code == 200
    assert admin.delete(f"/tokens/{made['id']}").status_code == 200
    assert tim.get("/lights").status_code == 401
    assert all("token" not in t for t in admin.get("/tokens").json()["tokens"])
    assert admin.post("/tokens", json={"name": "x", "role": "boss"}).status_code == 422


class SlowTarget:
    """A file-like target whose push waits until released (to hold a push in flight)."""

    url = "slow:"

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def push(self, plan):
        self.entered.set()
        self.release.wait(10)
        return PushAck({p.tls: plan_sha256(p) for p in plan.periods[0].plans})

    def running(self):
        return {}


def test_two_operators_pushing_one_light_at_once_one_wins_the_other_gets_409(db_url, network):
    engine = connect(db_url)
    slow = SlowTarget()
    service = PlanService(engine, network, targets=lambda url: slow)
    erin, olga, oscar = User("erin", "engineer", 1), User("olga", "operator", 2), User("oscar", "operator", 3)
    pid = service.create_plan(erin, safe_body(network))["id"]
    service.check(erin, pid)
    service.approve(olga, pid)
    answers = []
    first = threading.Thread(target=lambda: answers.append(service.push(olga, pid, "slow:")))
    first.start()
    assert slow.entered.wait(10)
    with pytest.raises(Conflict, match="in flight"):
        service.push(oscar, pid, "slow:")
    slow.release.set()
    first.join(10)
    assert answers[0]["status"] == "acknowledged"
    pushes = [(e["user"], e["result"]) for e in service.audit_entries(action="push")]
    assert ("olga", "acknowledged") in pushes and ("oscar", "refused") in pushes
    assert {light["active"]["push_id"] for light in service.lights_status()} == {answers[0]["push_id"]}
    engine.dispose()


def test_sigkill_in_the_middle_of_pushes_and_approvals_loses_nothing(db_url, tmp_path, network):
    engine = connect(db_url)
    tok = {n: create_token(engine, n, r)[1] for n, r in [("erin", "engineer"), ("olga", "operator"),
                                                         ("oscar", "operator")]}
    export = tmp_path / "export"
    server = Server(db_url, export)
    rng = random.Random(7)
    for round_ in range(4):
        server.start()
        eng, ops = _client(server, tok["erin"]), [_client(server, tok[n]) for n in ("olga", "oscar")]
        pid = eng.post("/plans", json=safe_body(network, green_s=20.0 + round_)).json()["id"]
        eng.post(f"/plans/{pid}/check")

        def hammer(client, k):
            try:
                client.post(f"/plans/{pid}/approve")
                for _ in range(20):
                    client.post(f"/plans/{pid}/push", json={"target": f"file://{export}/p{k}.json"})
            except httpx.HTTPError:
                pass  # the server was killed under us

        threads = [threading.Thread(target=hammer, args=(c, k)) for k, c in enumerate(ops)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.05, 0.4))
        server.kill()
        for t in threads:
            t.join(30)
    server.start()  # the restart reconciles the pushes left in flight
    try:
        with engine.connect() as conn:
            pushes = conn.execute(sa.text("SELECT id, status FROM pushes")).all()
            assert pushes and all(s in ("acknowledged", "failed") for _, s in pushes)
            lights = conn.execute(sa.text("SELECT tls, active_push_id, busy_push_id FROM lights")).all()
            assert all(busy is None for _, _, busy in lights)
            for tls, active, _ in lights:
                last = conn.execute(sa.text(
                    "SELECT max(p.id) FROM pushes p JOIN push_lights l ON l.push_id = p.id "
                    "WHERE l.tls = :t AND p.status = 'acknowledged'"), {"t": tls}).scalar()
                assert active == last, tls
            versions = conn.execute(sa.text("SELECT count(*) FROM plan_versions")).scalar()
            created = conn.execute(sa.text("SELECT count(*) FROM audit WHERE action IN ('create', 'version')")).scalar()
            assert versions == created == 4
            finished = conn.execute(sa.text(
                "SELECT count(*) FROM audit WHERE action IN ('push', 'reconcile') "
                "AND result IN ('acknowledged', 'failed')")).scalar()
            assert finished == len(pushes)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit"))
    finally:
        server.stop()
        engine.dispose()
