"""`citybrain bench --scheduler`: the same runs on a real Dask scheduler and two workers on loopback, same numbers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from citybrain.app.bench import RunStore
from citybrain.app.cli import cli

from ...conftest import ROOT

pytest.importorskip("distributed", reason="the Dask test needs citybrain[distributed]")
pytestmark = pytest.mark.sumo


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    """A `dask scheduler` and two `dask worker`s on 127.0.0.1, as subprocesses; yields the scheduler's address."""
    from distributed import Client

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask is None:
        pytest.skip("the dask command is not installed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    common = {"env": env, "cwd": tmp_path, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], **common)]
    procs += [subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                                "--name", f"w{i}"], **common) for i in range(2)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in procs[::-1]:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_same_sweep_on_dask_gives_the_same_per_seed_numbers_as_locally(lone_toml, tmp_path, cluster):
    args = ["bench", "--scenarios", str(lone_toml), "--controllers", "fixed", "maxpressure", "--seeds", "2",
            "--duration", "120"]
    local = CliRunner().invoke(cli, [*args, "--workers", "2", "--results", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    remote = CliRunner().invoke(cli, [*args, "--scheduler", cluster, "--results", str(tmp_path / "dask")])
    assert remote.exit_code == 0, remote.output
    assert f"4 to run on the Dask cluster at {cluster}" in remote.stderr

    def per_seed(folder):
        final = RunStore(folder).final()
        assert len(final) == 4 and set(final["status"]) == {"ok"}
        return {(r.controller, r.seed): (r.delay_s, r.arrived, r.queue_veh) for r in final.itertuples()}

    assert per_seed(tmp_path / "dask") == per_seed(tmp_path / "local")
