"""End to end: `citybrain serve` and a real paced twin (`citybrain simulate --serve --realtime`).

Tokens from `citybrain tokens create`, a plan from `citybrain optimise`, checked, approved by a
second user, pushed into the running twin, read back from it, rolled back, every step audited.
"""

from __future__ import annotations

import copy
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .test_service import NET, ROOT, Server
from ...simulation.test_live import DEMO, optimised  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.sumo

LIGHT = "J3"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _token(db: str, name: str, role: str) -> str:
    out = subprocess.run([sys.executable, "-m", "citybrain.app.cli", "tokens", "create", "--db", db, "--role", role,
                          "--name", name], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.split()[-1]


def _reported_until(client: httpx.Client, sha: str, timeout_s: float = 60.0) -> dict:
    """GET /lights/LIGHT until the twin reports it runs ``sha`` (it switches at the cycle boundary)."""
    deadline = time.monotonic() + timeout_s
    while True:
        light = client.get(f"/lights/{LIGHT}").json()
        if (light.get("reported") or {}).get("sha256") == sha or time.monotonic() > deadline:
            return light
        time.sleep(0.3)


def test_optimise_check_approve_push_into_a_running_twin_read_back_roll_back(optimised, tmp_path):  # noqa: F811
    port = _free_port()
    twin = subprocess.Popen([sys.executable, "-m", "citybrain.app.cli", "simulate", str(DEMO), "--seed", "0",
                             "--serve", str(port), "--realtime", "20"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = f"sqlite:///{tmp_path / 'plans.db'}"
    tokens = {n: _token(db, n, r) for n, r in [("erin", "engineer"), ("olga", "operator"), ("oscar", "operator")]}
    server = Server(db, tmp_path / "export").start()
    clients = {n: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {t}"}, timeout=30)
               for n, t in tokens.items()}
    eng, olga, oscar = clients["erin"], clients["olga"], clients["oscar"]
    target = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # the twin's endpoint comes up once SUMO has started
            try:
                httpx.get(target + "/status", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        pid = eng.post("/plans", json=optimised).json()["id"]
        assert eng.post(f"/plans/{pid}/check").json()["safe"]
        assert olga.post(f"/plans/{pid}/approve").status_code == 200
        first = oscar.post(f"/plans/{pid}/push", json={"target": target})
        assert first.status_code == 200, first.text
        sha1 = first.json()["lights"][LIGHT]
        light = _reported_until(eng, sha1)
        assert light["reported"]["sha256"] == sha1, light
        assert light["active"] == {**light["active"], "id": pid, "version": 1}

        # version 2: two more seconds of green on every phase of J3, pushed the same way
        v2 = copy.deepcopy(optimised)
        for p in v2["periods"][0]["plans"]:
            if p["tls"] == LIGHT:
                for ph in p["phases"]:
                    if ph["green_s"] > 0:
                        ph["green_s"] += 2.0
                        p["cycle_s"] += 2.0
        assert eng.post(f"/plans/{pid}/versions", json=v2).json()["version"] == 2
        eng.post(f"/plans/{pid}/check")
        olga.post(f"/plans/{pid}/approve")
        second = oscar.post(f"/plans/{pid}/push", json={"target": target})
        assert second.status_code == 200, second.text
        sha2 = second.json()["lights"][LIGHT]
        assert sha2 != sha1
        assert _reported_until(eng, sha2)["reported"]["sha256"] == sha2

        back = olga.post(f"/lights/{LIGHT}/rollback")
        assert back.status_code == 200, back.text
        light = _reported_until(eng, sha1)
        assert light["reported"]["sha256"] == sha1 and light["active"]["version"] == 1

        steps = [(e["action"], e["result"], e["user"]) for e in eng.get("/audit", params={"tls": LIGHT}).json()["entries"]]
        for step in [("create", "ok", "erin"), ("check", "ok", "erin"), ("approve", "ok", "olga"),
                     ("push", "acknowledged", "oscar"), ("version", "ok", "erin"),
                     ("rollback", "acknowledged", "olga")]:
            assert step in steps, step
        assert eng.get(f"/plans/{pid}").json()["versions"][1]["status"] == "active"  # still on J1, J2, J4, J5
    finally:
        for c in clients.values():
            c.close()
        server.stop()
        twin.terminate()
        twin.wait(30)
