"""The live twin (issue 13): pushes through the one gate, over a real HTTP server, into real SUMO.

The unsafe pushes are those of the issue's defect 1 on ``scenarios/demo.toml``'s light J3; the
safe one is the plan JSON ``citybrain optimise`` writes for the demo network.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from click.testing import CliRunner

from citybrain.exceptions import ValidationError
from citybrain.plans import NetworkPlan, plans_from_dict
from citybrain.plans.formats import plan_sha256
from simulation import RunSpec, Twin, load_scenario
from simulation.live import PlanServer, plan_from_json, push_plan_http, status_http

from ..conftest import NETWORKS, ROOT

DEMO = ROOT / "scenarios" / "demo.toml"
J3 = "J3"
# J3's own program (netconvert): greens 42 s, yellows 3 s; 14 links
G_NS, Y_NS, G_EW, Y_EW = "rrrGGGgrrrGGGg", "rrryyyyrrryyyy", "GGgrrrrGGgrrrr", "yyyrrrryyyrrrr"


def _program(*phases):
    return {"tls": J3, "phases": [{"duration_s": d, "state": s} for d, s in phases]}


UNSAFE = {
    "all green": _program((90, "G" * 14)),
    "conflicting greens, 1 s yellow": _program((42, "GGGGGGgrrrGGGg"), (1, "yyyyyyyrrryyyy"), (42, G_EW), (3, Y_EW)),
    "greens with no yellow": _program((45, G_NS), (45, G_EW)),
    "a 1e9 s phase": _program((1e9, G_NS), (3, Y_NS), (42, G_EW), (3, Y_EW)),
    "a 3600 s all-red": _program((42, G_NS), (3, Y_NS), (3600, "r" * 14), (42, G_EW), (3, Y_EW)),
}
EXPECTED_RULES = {"all green": ["conflict"], "conflicting greens, 1 s yellow": ["conflict", "yellow"],
                  "greens with no yellow": ["yellow"], "a 1e9 s phase": ["cycle"], "a 3600 s all-red": ["cycle"]}


@pytest.fixture(scope="module")
def optimised(tmp_path_factory) -> dict:
    """The plan JSON ``citybrain optimise`` writes for the demo's network (Webster)."""
    from citybrain.app.cli import cli
    from citybrain.network import graph_from_sumo_net

    from ..timing.helpers import make_flows

    folder = tmp_path_factory.mktemp("optimised")
    net = NETWORKS / "arterial5.net.xml"
    make_flows(graph_from_sumo_net(net), share=0.1).to_csv(folder / "flows.csv", index=False)
    out = folder / "plan.json"
    result = CliRunner().invoke(cli, ["optimise", "--network", str(net), "--flows", str(folder / "flows.csv"),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def _call(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_the_three_body_forms_are_read_and_bad_ones_listed(optimised):
    from citybrain.network import graph_from_sumo_net

    network = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    whole = plan_from_json(optimised, network)
    assert isinstance(whole, NetworkPlan) and plan_sha256(whole) == plan_sha256(plans_from_dict(optimised))
    one = optimised["periods"][0]["plans"][0]
    assert plan_from_json(one, network) == whole.periods[0].plans[0]
    program = plan_from_json(_program((42, G_NS), (3, Y_NS), (42, G_EW), (3, Y_EW)), network)
    assert [(p.state, p.green_s, p.yellow_s) for p in program.phases] == [(G_NS, 42, 3), (G_EW, 42, 3)]
    with pytest.raises(ValidationError) as info:
        plan_from_json({"tls": "", "phases": [{"duration_s": "x", "state": "G"}, {"duration_s": -1, "state": 3}]})
    assert info.value.problems == [
        "POST /plans: 'tls': must be a non-empty string, got ''",
        "POST /plans: phases[0]: 'duration_s': must be a finite number > 0, got 'x'",
        "POST /plans: phases[1]: 'duration_s': must be a finite number > 0, got -1",
        "POST /plans: phases[1]: 'state': must be a non-empty string, got 3",
    ]
    with pytest.raises(ValidationError, match="'cycle_s': required"):
        plan_from_json({"tls": J3, "phases": [{"state": G_NS, "green_s": 30}]})
    with pytest.raises(ValidationError, match="expected a JSON object"):
        plan_from_json([])


@pytest.fixture(scope="module")
def served(optimised, tmp_path_factory) -> dict:
    """One demo run (5 min) serving plans; at t = 20 s every case is pushed over HTTP."""
    sc = replace(load_scenario(DEMO), end_s=300.0)
    seen: dict = {}

    def hook(twin: Twin, t: float) -> None:
        if t != 20.0:
            return
        port = seen["port"]
        for name, body in UNSAFE.items():
            seen[name] = _call(port, "POST", "/plans", json.dumps(body).encode())
        seen["unknown"] = _call(port, "POST", "/plans", json.dumps(_program((42, G_NS))).replace(J3, "Z9").encode())
        seen["not json"] = _call(port, "POST", "/plans", b"{bad")
        seen["accepted"] = push_plan_http(port, optimised)
        seen["methods"] = {(m, p): _call(port, m, p) for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                                                  "OPTIONS") for p in ("/plans", "/plan", "/nope")}
        seen["pending"] = status_http(port)["pending"]

    twin = Twin(RunSpec(sc), tmp_path_factory.mktemp("served"), on_step=hook)
    with PlanServer(twin, 0) as server:
        seen["port"] = server.port
        seen["result"] = twin.run()
        seen["plan"] = status_http(server.port, path="/plan")
        seen["status"] = status_http(server.port)
    return seen


@pytest.mark.sumo
@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_every_unsafe_push_of_defect_1_is_refused_with_its_violations(served, case):
    code, kind, raw = served[case]
    body = json.loads(raw)
    assert code == 422 and kind == "application/json"
    assert body["error"].startswith("The pushed plan is unsafe and will not run")
    assert body["problems"] and all(p.startswith("error: tls J3") for p in body["problems"])
    assert all(any(f": {rule}: " in p for p in body["problems"]) for rule in EXPECTED_RULES[case])
    assert len(body["problems"]) == int(body["error"].split("(")[1].split(" ")[0])  # every one listed


@pytest.mark.sumo
def test_a_safe_optimised_plan_is_accepted_and_runs(served, optimised):
    accepted = served["accepted"]
    lights = sorted(p["tls"] for p in optimised["periods"][0]["plans"])
    assert accepted["accepted"] is True and accepted["sha256"] == plan_sha256(plans_from_dict(optimised))
    assert [x["tls"] for x in accepted["lights"]] == lights and served["pending"] == lights
    applied = served["result"].plans_applied
    assert sorted(a.tls for a in applied) == lights  # every light, at its own cycle boundary
    assert all(20.0 < a.time_s <= 20.0 + 180.0 + 10.0 for a in applied)
    by_tls = {x["tls"]: x["sha256"] for x in accepted["lights"]}
    assert all(a.sha256 == by_tls[a.tls] and a.program_id == f"citybrain-{a.sha256[:12]}" for a in applied)
    now = served["plan"]["lights"][J3]
    assert now["sha256"] == by_tls[J3] and now["pending"] is None and now["since_s"] == next(
        a.time_s for a in applied if a.tls == J3)
    assert now["plan"] == next(p for p in optimised["periods"][0]["plans"] if p["tls"] == J3)
    assert served["status"]["applied"] == [a.to_json() for a in applied] and served["status"]["pending"] == []
    assert served["result"].to_json()["applied"] == served["status"]["applied"]


@pytest.mark.sumo
def test_unknown_lights_and_bad_bodies_are_400(served):
    code, _, raw = served["unknown"]
    assert code == 400 and "unknown traffic light" in json.loads(raw)["error"]
    code, _, raw = served["not json"]
    assert code == 400 and json.loads(raw)["error"].startswith("body is not JSON")


@pytest.mark.sumo
def test_every_method_and_path_answers_json(served):
    for (method, path), (code, kind, raw) in served["methods"].items():
        assert kind == "application/json", (method, path)
        if method == "HEAD":
            assert raw == b""
            assert code == (200 if path == "/plan" else 405 if path == "/plans" else 404)
            continue
        body = json.loads(raw)
        if path == "/nope":
            assert code == 404 and "unknown path" in body["error"]
        elif (method, path) == ("GET", "/plan"):
            assert code == 200 and set(body["lights"]) == {"J1", "J2", "J3", "J4", "J5"}
        elif (method, path) == ("POST", "/plans"):
            assert code == 400  # no body
        else:
            assert code == 405 and f"{method} is not allowed on {path}" in body["error"]


@pytest.mark.sumo
def test_a_twin_run_with_a_plan_takes_pushes(optimised, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(optimised))
    retimed = json.loads(json.dumps(optimised))
    for p in retimed["periods"][0]["plans"]:
        p["offset_s"] = (p["offset_s"] + 10.0) % p["cycle_s"]
    pushed = plans_from_dict(retimed)
    answers = {}

    def hook(twin: Twin, t: float) -> None:
        if t == 30.0:
            answers["before"] = twin.running_plans()["lights"][J3]["sha256"]
            answers["updates"] = twin.push_plan(pushed)

    twin = Twin(RunSpec(replace(load_scenario(DEMO), end_s=300.0), plan=str(plan_file)), tmp_path, on_step=hook)
    result = twin.run()
    first = plans_from_dict(optimised).periods[0].by_tls[J3]
    assert answers["before"] == plan_sha256(first)
    assert sorted(a.tls for a in result.plans_applied) == sorted(pushed.tls_ids)
    assert twin.running_plans()["lights"][J3]["sha256"] == plan_sha256(pushed.periods[0].by_tls[J3])
    assert result.ok and result.arrived > 0


@pytest.mark.sumo
@pytest.mark.parametrize("push_s", [270.0, 200.0])
def test_a_push_ends_the_green_shown_safely_before_the_new_plan(optimised, push_s, tmp_path):
    """A push never cuts a green short nor drops it without yellow: min green, yellow, all-red, then the plan.

    The demo's lights run netconvert's programs (42/3/42/3 s) whose cycle starts again at 271 s: a
    push at 270 s is taken only after SUMO has begun the next cycle's first green (the closed loop's
    pushes at 3600 s hit this: 5 x no-yellow and 5 x short-green); at 200 s it lands mid-green.
    """
    from simulation.backend import make_backend

    backend = make_backend()
    shown: list[tuple[float, str]] = []

    def hook(twin: Twin, t: float) -> None:
        shown.append((t, backend.state(J3)))
        if t == push_s:
            twin.push_plan(plans_from_dict(optimised))

    twin = Twin(RunSpec(replace(load_scenario(DEMO), end_s=push_s + 150.0)), tmp_path, backend=backend,
                on_step=hook)
    result = twin.run()
    assert result.monitor["total"] == 0, result.monitor["events"]
    (installed,) = [a.time_s for a in result.plans_applied if a.tls == J3]
    between = [s for t, s in shown if push_s <= t < installed]
    changes = [s for k, s in enumerate(between) if k == 0 or s != between[k - 1]]
    assert any(c in "Gg" for s in changes for c in s), changes  # the premise: a green shown after the push
    # the switch: the green shown ends in yellow, then all-red, then the plan
    assert "y" in changes[-2] and not any(c in "Ggy" for c in changes[-1]), changes


@pytest.mark.sumo
def test_an_adaptive_controller_refuses_pushes_by_name(optimised, tmp_path):
    from citybrain.exceptions import UnsafePlanError

    from simulation.twin import PushRefusedError

    twin = Twin(RunSpec(load_scenario(DEMO), controller="maxpressure"), tmp_path)
    with pytest.raises(PushRefusedError, match="the 'maxpressure' controller drives this light") as info:
        twin.push_plan(plans_from_dict(optimised))
    assert len(info.value.problems) == 5 and not isinstance(info.value, UnsafePlanError)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from citybrain.app.cli import main; sys.argv[0] = 'citybrain'; main()"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_a_port_in_use_is_a_clear_exit_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = _cli("simulate", str(DEMO), "--seed", "0", "--serve", str(port))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert f"Cannot serve plans on 127.0.0.1:{port}: it is in use" in err
    assert "Accepting plans" not in err and "Traceback" not in err


@pytest.mark.sumo
def test_the_cli_twin_is_paced_serves_once_bound_and_lists_applied_plans(optimised, tmp_path):
    text = DEMO.read_text().replace('network = "../networks/', f'network = "{NETWORKS}/').replace(
        "end_s = 3600.0", "end_s = 240.0")
    scenario = tmp_path / "demo_short.toml"
    scenario.write_text(text)
    port, factor = _free_port(), 20.0
    proc = _cli("simulate", str(scenario), "--seed", "0", "--serve", str(port), "--realtime", str(factor), "--json")
    line = proc.stderr.readline()
    assert line.strip() == f"Accepting plans on http://127.0.0.1:{port}/plans"
    samples, answer = [], {}
    while proc.poll() is None:  # the port answers from the announcement on; sample the twin's clock
        before = time.monotonic()
        try:
            t = status_http(port, timeout_s=2)["time_s"]
        except Exception:  # noqa: BLE001 - the run ended between poll and request
            break
        samples.append((before, time.monotonic(), t))  # the twin read its clock between the two
        if t >= 20.0 and not answer:
            answer.update(push_plan_http(port, optimised))
        time.sleep(0.2)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run = json.loads(out)["runs"][0]
    assert answer.get("accepted"), answer
    assert sorted(a["tls"] for a in run["applied"]) == [x["tls"] for x in answer["lights"]]
    assert all(set(a) == {"tls", "time_s", "sha256", "program_id"} for a in run["applied"])
    # paced: simulated time never runs ahead of FACTOR x wall time (1 s step of slack), nor far behind
    (b0, a0, t0), (b1, a1, t1) = samples[0], samples[-1]
    assert all(t - t0 <= factor * (a - b0) + 1.0 + 1e-9 for _, a, t in samples)
    assert (t1 - t0) >= 0.8 * factor * (b1 - a0) and len(samples) > 20
    assert 240.0 / factor * 0.9 <= run["wall_s"] <= 240.0 / factor + 5.0
