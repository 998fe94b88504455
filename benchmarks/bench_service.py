"""The plan service under load on loopback (issue 14): readers and pushers at once, SQLite and PostgreSQL.

A real ``citybrain serve`` (uvicorn) on the arterial network, a store on a SQLite file or on a
throw-away PostgreSQL cluster (``--pg URL`` to use one of yours). ``--readers`` clients each
read status in a loop (``GET /lights``, ``GET /lights/{tls}``, ``GET /plans``, round robin);
``--pushers`` operators each push an approved single-light plan to a ``file:`` target in a
loop, four pushers per light, so pushes to one light collide on purpose: the 409 a colliding
push gets is an answer, counted apart, not an error. Errors are transport failures, 5xx and
any other unexpected code.

Usage::

    python benchmarks/bench_service.py                       # 200 readers, 20 pushers, 20 s per store
    python benchmarks/bench_service.py --db sqlite --seconds 5

Prints, per store and kind of client: requests, throughput (req/s), p50 / p99 latency (ms),
409s and errors; appends them to ``benchmarks/results/service.jsonl`` and the table to
``service.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _record import RESULTS, record  # noqa: E402

from citybrain.app.service.auth import create_token  # noqa: E402
from citybrain.app.service.db import connect  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from citybrain.plans import NetworkPlan, plans_from_network, plans_to_dict  # noqa: E402
from citybrain.plans.safety import apply_clearances  # noqa: E402

NET = ROOT / "networks" / "arterial5.net.xml"
PUSHERS_PER_LIGHT = 4


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a PostgreSQL cluster on a unix socket in a temporary folder; yield its URL."""
    found = shutil.which("initdb")
    dirs = [str(Path(found).parent)] if found else sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not dirs:
        sys.exit("bench_service: PostgreSQL not found (no initdb); pass --pg URL or --db sqlite")
    pgbin, pgdir = dirs[-1], tempfile.mkdtemp(prefix="citybrain-pg.")
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(pgdir, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data = f"{pgdir}/data"
    subprocess.run([*as_pg, f"{pgbin}/initdb", "-D", data, "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", data, "-l", f"{pgdir}/log", "-w",
                    "-o", f"-k {pgdir} -c listen_addresses='' -c max_connections=300", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/postgres?host={pgdir}"
    finally:
        subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(pgdir, ignore_errors=True)


@contextlib.contextmanager
def serve(db: str, export_dir: Path) -> Iterator[str]:
    """Run ``citybrain serve`` on a free loopback port; yield its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "citybrain.app.cli", "serve", "--db", db, "--network", str(NET), "--port", "0",
         "--export-dir", str(export_dir)], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stderr.readline()
        if "http://" not in line:
            sys.exit(f"bench_service: citybrain serve did not start: {line}{proc.stderr.read()}")
        url = line.split()[4]
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def prepare(db: str, url: str) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """Make the users' tokens and one approved single-light plan per light; return tokens and (tls, plan id)."""
    engine = connect(db)
    tokens = {name: create_token(engine, name, role)[1]
              for name, role in [("reader", "viewer"), ("erin", "engineer"), ("olga", "operator")]}
    engine.dispose()
    network = graph_from_sumo_net(NET)
    plans = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _, plan in plans_from_network(network).all_plans():
            body = plans_to_dict(NetworkPlan.single([apply_clearances(plan, network)]))
            erin, olga = ({"Authorization": f"Bearer {tokens[n]}"} for n in ("erin", "olga"))
            pid = client.post("/plans", json=body, headers=erin).raise_for_status().json()["id"]
            client.post(f"/plans/{pid}/check", headers=erin).raise_for_status()
            client.post(f"/plans/{pid}/approve", headers=olga).raise_for_status()
            plans.append((plan.tls, pid))
    return tokens, plans


async def _loop(client: httpx.AsyncClient, requests, deadline: float, samples: list, conflict_ok: bool,
                errors: list[str]) -> None:
    """Send ``requests`` round robin until ``deadline``; append ``(latency_s, outcome)`` to ``samples``."""
    i = 0
    while time.perf_counter() < deadline:
        method, path, body = requests[i % len(requests)]
        i += 1
        start = time.perf_counter()
        try:
            r = await client.request(method, path, json=body)
            code, why = r.status_code, f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            code, why = -1, f"{type(exc).__name__}: {exc}"
        outcome = "ok" if code in (200, 201) else "409" if code == 409 and conflict_ok else "error"
        samples.append((time.perf_counter() - start, outcome))
        if outcome == "error":
            errors.append(f"{method} {path}: {why}")


async def load(url: str, tokens: dict[str, str], plans: list[tuple[str, int]], readers: int, pushers: int,
               seconds: float, target: str) -> dict[str, list]:
    """Run the readers and pushers for ``seconds``; return their samples."""
    # expire idle connections before uvicorn does (5 s), so no request is sent on one it is closing
    limits = httpx.Limits(max_connections=readers + pushers + 10, keepalive_expiry=2.0)
    samples: dict[str, list] = {"read": [], "push": []}
    errors: list[str] = []
    tls_ids = [t for t, _ in plans]
    reads = [("GET", "/lights", None), *[("GET", f"/lights/{t}", None) for t in tls_ids], ("GET", "/plans", None)]
    deadline = time.perf_counter() + seconds
    async with (httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                  headers={"Authorization": f"Bearer {tokens['reader']}"}) as rc,
                httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                  headers={"Authorization": f"Bearer {tokens['olga']}"}) as pc):
        tasks = [_loop(rc, reads[i % len(reads):] + reads[:i % len(reads)], deadline, samples["read"], False, errors)
                 for i in range(readers)]
        for i in range(pushers):
            tls, pid = plans[(i // PUSHERS_PER_LIGHT) % len(plans)]
            push = [("POST", f"/plans/{pid}/push", {"target": f"{target}/{tls}.json"})]
            tasks.append(_loop(pc, push, deadline, samples["push"], True, errors))
        await asyncio.gather(*tasks)
    for line in sorted(set(errors))[:10]:
        print(f"  error: {line}")
    return samples


def summarise(samples: list, seconds: float) -> dict:
    """Requests, throughput (req/s), p50 / p99 latency (ms) of the answered ones, 409s, errors."""
    lat = np.array([s for s, o in samples if o != "error"]) * 1e3
    outcomes = [o for _, o in samples]
    return {"requests": len(samples), "per_s": round(len(samples) / seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
            "conflicts_409": outcomes.count("409"), "errors": outcomes.count("error")}


def bench(kind: str, db: str, args: argparse.Namespace) -> dict[str, dict]:
    """Serve on ``db``, prepare, load; return the summary per kind of client."""
    with tempfile.TemporaryDirectory() as tmp, serve(db, Path(tmp)) as url:
        tokens, plans = prepare(db, url)
        print(f"{kind}: {args.readers} readers, {args.pushers} pushers, {args.seconds:.0f} s ...", flush=True)
        samples = asyncio.run(load(url, tokens, plans, args.readers, args.pushers, args.seconds, f"file://{tmp}"))
    return {k: summarise(v, args.seconds) for k, v in samples.items()}


@contextlib.contextmanager
def postgres_db(base: str | None) -> Iterator[str]:
    """A fresh database on ``base`` (or on a throw-away cluster); yield its URL."""
    import sqlalchemy as sa

    with contextlib.ExitStack() as stack:
        base = base or stack.enter_context(throwaway_postgres())
        head, _, query = base.partition("?")
        admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS cb_bench_service WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE cb_bench_service"))
        try:
            yield f"{head.rsplit('/', 1)[0]}/cb_bench_service" + (f"?{query}" if query else "")
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text("DROP DATABASE IF EXISTS cb_bench_service WITH (FORCE)"))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg", help="a postgresql:// URL to create the bench database on (default: a throw-away cluster)")
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--pushers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = bench("sqlite", f"sqlite:///{tmp}/plans.db", args)
    if args.db in ("postgresql", "both"):
        with postgres_db(args.pg) as url:
            results["postgresql"] = bench("postgresql", url, args)
    head = f"{'store':<11} {'clients':<8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'409':>6} {'errors':>7}"
    lines = [f"bench_service: {args.readers} readers + {args.pushers} pushers, {args.seconds:.0f} s per store, "
             f"{os.cpu_count()} cores (client and server share them)", head]
    for store, kinds in results.items():
        for kind, s in kinds.items():
            lines.append(f"{store:<11} {kind:<8} {s['requests']:>9} {s['per_s']:>8} {s['p50_ms']!s:>8} "
                         f"{s['p99_ms']!s:>8} {s['conflicts_409']:>6} {s['errors']:>7}")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service.txt").write_text(table + "\n")
    record("service", {"readers": args.readers, "pushers": args.pushers, "seconds": args.seconds, **results})


if __name__ == "__main__":
    main()
