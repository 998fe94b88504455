"""``citybrain ops`` against a real plan service (uvicorn on a loopback port, SQLite, file targets).

One service for the module; each test walks part of the lifecycle through the CLI and checks the
exit code (0 ok, 1 refused, 2 unusable) and what the service then says.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from click.testing import CliRunner

from citybrain.app.cli.ops import ops
from citybrain.app.service import ServiceSettings, create_app
from citybrain.app.service.auth import create_token
from citybrain.app.service.db import connect
from citybrain.plans import plans_from_dict
from citybrain.plans.formats import plan_sha256

from ...conftest import NETWORKS
from ...simulation.test_live import J3, optimised  # noqa: F401 - the fixture is used by name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> dict:
    """A plan service for arterial5 on a free loopback port, with a token per role (and a second operator)."""
    folder = tmp_path_factory.mktemp("service")
    settings = ServiceSettings(network=NETWORKS / "arterial5.net.xml", db=str(folder / "plans.db"),
                               export_dir=folder / "export", port=_free_port())
    engine = connect(settings.db)
    tokens = {name: create_token(engine, name, role)[1] for name, role in
              [("vera", "viewer"), ("erin", "engineer"), ("otto", "operator"), ("olga", "operator")]}
    engine.dispose()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the plan service did not start")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{settings.port}", "tokens": tokens, "export": settings.export_dir}
    server.should_exit = True
    thread.join(timeout=10)


def _ops(service: dict, user: str | None, *args: str):
    env = {"CITYBRAIN_TOKEN": service["tokens"].get(user, user or "")}
    return CliRunner().invoke(ops, [*args, "--server", service["url"]], env=env)


def _json(service: dict, user: str, *args: str) -> dict:
    result = _ops(service, user, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def plan_files(optimised, tmp_path_factory) -> dict:  # noqa: F811
    """The optimised plan, the same with offsets +10 s, and one with J3 all green (unsafe)."""
    folder = tmp_path_factory.mktemp("plans")
    retimed = json.loads(json.dumps(optimised))
    for p in retimed["periods"][0]["plans"]:
        p["offset_s"] = (p["offset_s"] + 10.0) % p["cycle_s"]
    unsafe = json.loads(json.dumps(optimised))
    j3 = next(p for p in unsafe["periods"][0]["plans"] if p["tls"] == J3)
    j3["phases"][0]["state"] = "G" * len(j3["phases"][0]["state"])
    files = {}
    for name, body in [("v1", optimised), ("v2", retimed), ("unsafe", unsafe)]:
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(body))
    files["bad"] = folder / "bad.json"
    files["bad"].write_text("{not json")
    return files


def test_the_lifecycle_through_the_cli(service, plan_files):
    created = _json(service, "erin", "create", str(plan_files["v1"]))
    pid = str(created["id"])
    assert created["version"] == 1 and created["status"] == "draft"
    assert created["sha256"] == plan_sha256(plans_from_dict(json.loads(plan_files["v1"].read_text())))
    listed = _ops(service, "vera", "list")
    assert listed.exit_code == 0 and pid in listed.output and "erin" in listed.output

    assert _ops(service, "otto", "approve", pid).exit_code == 1  # not checked yet: 409
    checked = _ops(service, "erin", "check", pid)
    assert checked.exit_code == 0 and "safe, 0 error(s)" in checked.output
    refused = _ops(service, "erin", "approve", pid)  # the author (and an engineer): 403
    assert refused.exit_code == 1 and "HTTP 403" in refused.output
    approved = _json(service, "otto", "approve", pid)
    assert approved["status"] == "approved" and approved["approved_by"] == "otto"

    target = (service["export"] / "ops" / "plan.json").as_uri()
    pushed = _ops(service, "olga", "push", pid, "--target", target)
    assert pushed.exit_code == 0 and "acknowledged" in pushed.output, pushed.output
    on_disk = plans_from_dict(json.loads((service["export"] / "ops" / "plan.json").read_text()))
    assert f"{J3} {plan_sha256(on_disk.periods[0].by_tls[J3])[:12]}" in pushed.output
    light = _json(service, "vera", "lights", J3)
    assert light["active"]["id"] == created["id"] and light["active"]["version"] == 1
    assert light["reported"]["sha256"] == plan_sha256(on_disk.periods[0].by_tls[J3])
    lights = _ops(service, "vera", "lights")
    assert lights.exit_code == 0 and all(f"{t}\tactive" in lights.output for t in on_disk.tls_ids)

    second = _json(service, "erin", "create", str(plan_files["v2"]), "--plan", pid, "--base-version", "1")
    assert second["version"] == 2
    stale = _ops(service, "erin", "create", str(plan_files["v2"]), "--plan", pid, "--base-version", "1")
    assert stale.exit_code == 1 and "HTTP 409" in stale.output
    diff = _ops(service, "vera", "diff", pid, "--from", "1", "--to", "2")
    assert diff.exit_code == 0 and "offset_s" in diff.output and J3 in diff.output

    assert _ops(service, "erin", "check", pid, "--version", "2").exit_code == 0
    assert _ops(service, "olga", "approve", pid, "--version", "2").exit_code == 0
    dead = f"http://127.0.0.1:{_free_port()}"
    failed = _ops(service, "otto", "push", pid, "--version", "2", "--target", dead)
    assert failed.exit_code == 1 and "HTTP 502" in failed.output and dead in failed.output
    assert _json(service, "vera", "lights", J3)["active"]["version"] == 1  # the previous plan stays active
    assert _ops(service, "otto", "push", pid, "--version", "2", "--target", target).exit_code == 0
    assert _json(service, "vera", "lights", J3)["active"]["version"] == 2
    back = _ops(service, "otto", "rollback", J3, "--force")
    assert back.exit_code == 0 and f"{J3} rolled back" in back.output, back.output
    light = _json(service, "vera", "lights", J3)
    assert light["active"]["version"] == 1 and light["reported"]["sha256"] == plan_sha256(on_disk.periods[0].by_tls[J3])

    audit = _json(service, "vera", "audit", "--tls", J3)
    actions = {(e["action"], e["result"]) for e in audit["entries"]}
    assert {("create", "ok"), ("check", "ok"), ("approve", "ok"), ("push", "acknowledged"), ("push", "failed"),
            ("rollback", "acknowledged")} <= actions, actions
    shown = _ops(service, "vera", "audit", "--tls", J3, "--action", "push")
    assert shown.exit_code == 0 and "push failed" in shown.output and "rollback" not in shown.output


def test_refusals_print_every_problem_and_exit_1(service, plan_files):
    unsafe = _ops(service, "erin", "create", str(plan_files["unsafe"]))
    assert unsafe.exit_code == 1 and "HTTP 422" in unsafe.output
    assert any(line.strip().startswith("error: tls J3") and ": conflict: " in line for line in unsafe.output.splitlines())
    viewer = _ops(service, "vera", "create", str(plan_files["v1"]))
    assert viewer.exit_code == 1 and "HTTP 403" in viewer.output


def test_unusable_input_is_exit_2(service, plan_files):
    assert _ops(service, "erin", "create", str(plan_files["bad"])).exit_code == 2
    bad_token = _ops(service, "cb_not-a-token", "list")
    assert bad_token.exit_code == 2 and "HTTP 401" in bad_token.output
    missing = _ops(service, "vera", "show", "999999")
    assert missing.exit_code == 2 and "HTTP 404" in missing.output
    assert _ops(service, "vera", "lights", "NO_SUCH_LIGHT").exit_code == 2
    assert _ops(service, None, "list").exit_code == 2
