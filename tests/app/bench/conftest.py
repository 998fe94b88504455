"""Fixtures of the bench tests: a lone signalised junction as a scenario file, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from citybrain.generate import generate_grid

from ...conftest import ROOT

#: The plug-in controllers of these tests, as a file and as an importable module.
PLUGINS = Path(__file__).with_name("plugin_controllers.py")
PLUGIN_MODULE = "tests.app.bench.plugin_controllers"


@pytest.fixture(scope="session")
def lone_toml(tmp_path_factory) -> Path:
    """A scenario file: one signalised junction, 240 s of traffic from every side."""
    folder = tmp_path_factory.mktemp("lone")
    generate_grid(folder / "lone.net.xml", 1, 1)
    flows = "".join(f'[[flows]]\nfrom_edge = "{s}0A0"\nto_edge = "A0{d}0"\nveh_per_hour = 400.0\n\n'
                    for s, d in (("left", "right"), ("right", "left"), ("top", "bottom"), ("bottom", "top")))
    path = folder / "lone.toml"
    path.write_text(f'name = "lone"\nnetwork = "lone.net.xml"\nend_s = 240.0\n\n{flows}')
    return path


def bench_command(*args: str) -> list[str]:
    """``citybrain bench ARGS`` as a command line of this Python."""
    return [sys.executable, "-m", "citybrain.app.cli", "bench", *map(str, args)]


def run_bench(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``citybrain bench ARGS`` in a subprocess from the repository root; return it (text output)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(bench_command(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
