"""Property tests: random sequences of API calls against a real `citybrain serve` (SQLite and PostgreSQL).

After every call the store must hold: each light's active plan is the one of its last acknowledged
push; the versions marked active are exactly those some light runs; every acknowledged push was of
a version checked safe and approved by an operator other than its author; every change has its audit
line; no light is left locked. No call may get a 500, and a refusal stores nothing.
"""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from citybrain.app.service.auth import create_token
from citybrain.app.service.db import connect
from citybrain.app.service.schema import audit, lights, plan_versions, pushes, push_lights

from citybrain.network import graph_from_sumo_net

from .test_service import NET, Server, safe_body

USERS = {"vera": "viewer", "erin": "engineer", "eddy": "engineer", "olga": "operator", "oscar": "operator"}
ANSWERS = {200, 201, 401, 403, 404, 409, 422}
EXAMPLES, STEPS = 10, 20


@pytest.fixture(scope="module")
def network():
    return graph_from_sumo_net(NET)


@pytest.fixture
def service(db_url, tmp_path):
    engine = connect(db_url)
    tokens = {name: create_token(engine, name, role)[1] for name, role in USERS.items()}
    server = Server(db_url, tmp_path / "export").start()
    clients = {n: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {t}"}, timeout=30)
               for n, t in tokens.items()}
    yield engine, clients, f"file://{tmp_path / 'export'}/plan.json"
    for c in clients.values():
        c.close()
    server.stop()
    engine.dispose()


def _body(network, tls: frozenset[str], green_s: float, coordinated: bool, unsafe: bool) -> dict:
    body = safe_body(network, method="coordinated" if coordinated else "", green_s=green_s)
    body["periods"][0]["plans"] = [p for p in body["periods"][0]["plans"] if p["tls"] in tls]
    if unsafe:
        for ph in body["periods"][0]["plans"][0]["phases"]:
            ph["yellow_s"] = ph["all_red_s"] = 0.0
    return body


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in (plan_versions, pushes, audit)}


def check_store(engine) -> dict[str, int]:
    """Assert the store's invariants; return how many pushes of each kind and status it holds."""
    with engine.connect() as conn:
        versions = {(r.plan_id, r.version): r for r in conn.execute(sa.select(plan_versions))}
        all_pushes = {r.id: r for r in conn.execute(sa.select(pushes))}
        pushed = conn.execute(sa.select(push_lights)).all()
        entries = conn.execute(sa.select(audit)).all()
        light_rows = conn.execute(sa.select(lights)).all()
    last_ack: dict[str, int] = {}
    for pl in pushed:
        if all_pushes[pl.push_id].status == "acknowledged":
            last_ack[pl.tls] = max(last_ack.get(pl.tls, 0), pl.push_id)
    running = set()
    for light in light_rows:
        assert light.busy_push_id is None, f"{light.tls} left locked by push {light.busy_push_id}"
        want = all_pushes[last_ack[light.tls]] if light.tls in last_ack else None
        got = (light.active_plan_id, light.active_version)
        assert got == ((want.plan_id, want.version) if want else (None, None)), light.tls
        if want:
            running.add(got)
    assert {k for k, v in versions.items() if v.status == "active"} == running
    audited = {(e.action, e.result, e.plan_id, e.to_version, e.sha256) for e in entries}
    for p in all_pushes.values():
        v = versions[(p.plan_id, p.version)]
        if p.status == "acknowledged":
            assert v.approved_by and v.approved_by != v.author and USERS[v.approved_by] == "operator"
            assert json.loads(v.check_result)["safe"]
        assert (p.kind, "forced" if p.forced else "started", p.plan_id, p.version, p.sha256) in audited
        if p.status != "in-flight":
            assert (p.kind, p.status, p.plan_id, p.version, p.sha256) in audited
    for (pid, ver), v in versions.items():
        assert (("create" if ver == 1 else "version"), "ok", pid, ver, v.sha256) in audited
        if v.approved_by:
            assert ("approve", "ok", pid, ver, v.sha256) in audited
        if v.checked_by:
            assert any(e[0] == "check" and e[2:4] == (pid, ver) for e in audited)
    kinds: dict[str, int] = {}
    for p in all_pushes.values():
        kinds[f"{p.kind} {p.status}"] = kinds.get(f"{p.kind} {p.status}", 0) + 1
    kinds["refused"] = sum(1 for e in entries if e.result == "refused" and e.action in ("push", "rollback"))
    return kinds


def _machine(engine, clients, target, network):
    tls_ids = sorted(network.programs)
    light_sets = st.frozensets(st.sampled_from(tls_ids), min_size=1)
    users = st.sampled_from(sorted(USERS))
    operators = st.sampled_from(["olga", "oscar"])

    class Calls(RuleBasedStateMachine):
        plans = Bundle("plans")

        def call(self, user: str, method: str, path: str, **kw) -> httpx.Response:
            before = _counts(engine)
            r = clients[user].request(method, path, **kw)
            assert r.status_code in ANSWERS, f"{method} {path} by {user}: {r.status_code} {r.text}"
            assert "detail" in r.json() if r.status_code >= 400 else True
            if r.status_code in (403, 404, 422) and not path.endswith(("/push", "/rollback")):
                after = _counts(engine)
                assert after["plan_versions"] == before["plan_versions"] and after["pushes"] == before["pushes"]
            return r

        @rule(target=plans, user=users, tls=light_sets, green=st.sampled_from([12.0, 20.0, 30.0]),
              coordinated=st.booleans(), unsafe=st.booleans())
        def create(self, user, tls, green, coordinated, unsafe):
            r = self.call(user, "POST", "/plans", json=_body(network, tls, green, coordinated, unsafe))
            if USERS[user] == "viewer":
                assert r.status_code == 403
            elif unsafe:
                assert r.status_code == 422 and r.json()["problems"]
            else:
                assert r.status_code == 201
            return r.json()["id"] if r.status_code == 201 else -1

        @rule(plan=plans, user=users, tls=light_sets, green=st.sampled_from([15.0, 25.0]), stale=st.booleans())
        def new_version(self, plan, user, tls, green, stale):
            params = {"base_version": 1} if stale else {}
            self.call(user, "POST", f"/plans/{plan}/versions", params=params,
                      json=_body(network, tls, green, False, False))

        @rule(plan=plans, user=users)
        def check(self, plan, user):
            self.call(user, "POST", f"/plans/{plan}/check")

        @rule(plan=plans, user=users)
        def approve(self, plan, user):
            r = self.call(user, "POST", f"/plans/{plan}/approve")
            if r.status_code == 200:
                assert USERS[user] == "operator" and r.json()["approved_by"] == user

        @rule(plan=plans, user=users, tls=st.none() | light_sets, force=st.booleans())
        def push(self, plan, user, tls, force):
            body = {"target": target, "force": force} | ({"lights": sorted(tls)} if tls else {})
            r = self.call(user, "POST", f"/plans/{plan}/push", json=body)
            if r.status_code == 200:
                assert USERS[user] == "operator" and r.json()["status"] == "acknowledged"

        @rule(plan=plans, approver=operators)
        def check_approve_push(self, plan, approver):
            """The whole path as operations staff walk it (each step may be refused)."""
            self.call("erin", "POST", f"/plans/{plan}/check")
            self.call(approver, "POST", f"/plans/{plan}/approve")
            self.call(approver, "POST", f"/plans/{plan}/push", json={"target": target})

        @rule(target=plans, approver=operators, tls=light_sets, green=st.sampled_from([12.0, 20.0, 30.0]))
        def walk_the_whole_path(self, approver, tls, green):
            """A safe plan by one engineer, checked by another, approved and pushed by an operator."""
            r = self.call("eddy", "POST", "/plans", json=_body(network, tls, green, False, False))
            plan = r.json()["id"]
            assert self.call("erin", "POST", f"/plans/{plan}/check").json()["safe"]
            assert self.call(approver, "POST", f"/plans/{plan}/approve").status_code == 200
            r = self.call(approver, "POST", f"/plans/{plan}/push", json={"target": target})
            assert r.status_code == 200, r.text
            return plan

        @rule(approver=operators, alone=st.sampled_from(tls_ids))
        def push_one_light_of_a_group(self, approver, alone):
            """A coordinated plan, checked and approved, pushed for one of its lights without force."""
            r = self.call("eddy", "POST", "/plans", json=_body(network, frozenset(tls_ids), 20.0, True, False))
            plan = r.json()["id"]
            self.call("eddy", "POST", f"/plans/{plan}/check")
            self.call(approver, "POST", f"/plans/{plan}/approve")
            r = self.call(approver, "POST", f"/plans/{plan}/push", json={"target": target, "lights": [alone]})
            assert r.status_code == 409 and "coordinated" in r.json()["detail"], r.text

        @rule(tls=st.sampled_from(tls_ids), user=users, force=st.booleans())
        def rollback(self, tls, user, force):
            self.call(user, "POST", f"/lights/{tls}/rollback", json={"force": force})

        @rule(path=st.sampled_from(["/plans", "/plans/1/versions", "/plans/1/push", "/plans/1/check",
                                    "/lights/J1/rollback", "/plans/x/approve", "/plans/99999/push"]),
              content=st.sampled_from([b"", b"{", b"[]", b"null", b'{"periods": 3}', b'{"target": 7}']))
        def garbage(self, path, content):
            self.call("olga", "POST", path, content=content, headers={"Content-Type": "application/json"})

        @invariant()
        def store_holds(self):
            check_store(engine)

    return Calls


def test_random_api_sequences_keep_the_store_consistent(service, network):
    engine, clients, target = service
    run_state_machine_as_test(
        _machine(engine, clients, target, network),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True,
                          database=None, suppress_health_check=list(HealthCheck)))
    kinds = check_store(engine)
    # the sequences reached the paths that matter, not only refusals
    assert kinds.get("push acknowledged", 0) >= 3, kinds
    assert kinds.get("rollback acknowledged", 0) >= 1, kinds
    assert kinds["refused"] >= 1, kinds
