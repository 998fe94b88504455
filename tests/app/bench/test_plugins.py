"""Plug-in controllers resolved in each run's process: from a file, from a module, from `python -c`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from citybrain.app.bench import RunStore, resolve_controller
from citybrain.app.bench.plugins import controller_factory, registered_reference
from citybrain.control import CONTROLLERS, register_controller
from citybrain.exceptions import ValidationError

from ...conftest import ROOT
from .conftest import PLUGIN_MODULE, PLUGINS


@pytest.mark.sumo
def test_custom_controllers_from_a_file_and_a_module_run_in_a_sweep_started_from_python_c(lone_toml, tmp_path):
    code = ("from citybrain.app.bench import run_sweep, sweep_from_options\n"
            f"sweep = sweep_from_options([{str(lone_toml)!r}], ['tests/app/bench/plugin_controllers.py:NextGreen', "
            f"'{PLUGIN_MODULE}:NextGreen'], seeds=1, duration_s=120)\n"
            f"out = run_sweep(sweep, {str(tmp_path)!r}, workers=2)\n"
            "print(out.finished, len(out.failed))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0 and proc.stdout.split() == ["2", "0"], proc.stderr
    final = RunStore(tmp_path).final().set_index("controller")
    assert set(final["status"]) == {"ok"} and (final["arrived"] > 0).all()
    # the same controller by file and by module: the same run
    assert final.loc["tests/app/bench/plugin_controllers.py:NextGreen", "delay_s"] == pytest.approx(
        final.loc[f"{PLUGIN_MODULE}:NextGreen", "delay_s"])


def test_a_file_reference_resolves_to_its_class_and_binds_parameters():
    factory = resolve_controller(f"{PLUGINS}:NextGreen")
    assert factory.__name__ == "NextGreen"
    assert controller_factory(f"{PLUGINS}:NextGreen", {"green_s": 7.0})(None, "A0").green_s == 7.0
    with pytest.raises(ValidationError, match="cannot take the parameters {'nope': 1}"):
        controller_factory(f"{PLUGINS}:NextGreen", {"nope": 1})


def test_what_is_not_a_controller_is_named():
    with pytest.raises(ValidationError, match="does not implement the controller protocol: it lacks "
                                              "program_driven, decide"):
        controller_factory(f"{PLUGINS}:NotAController")(None, "A0")


def test_a_controller_registered_from_main_is_refused_with_what_to_do_instead():
    def local(network, tls):
        return None

    register_controller("test-local", local)
    try:
        with pytest.raises(ValidationError, match="name it as package.module:Class or path/to/file.py:Class"):
            registered_reference("test-local")
    finally:
        del CONTROLLERS["test-local"]
    assert registered_reference("maxpressure") is None


@pytest.mark.sumo
def test_a_trained_policy_runs_as_rl_colon_path(lone_toml, tmp_path):
    from click.testing import CliRunner

    from citybrain.app.cli import cli

    policy = tmp_path / "policy.py"
    policy.write_text("import numpy as np\nLAYOUT = (8, 32, 32)\n"
                      "def policy(x, mask):\n    return int(np.flatnonzero(mask)[-1])  # the light's last green\n")
    result = CliRunner().invoke(cli, ["bench", "--scenarios", str(lone_toml), "--controllers", f"rl:{policy}",
                                      "--seeds", "1", "--duration", "120", "--protocol", "resco",
                                      "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (row,) = RunStore(tmp_path / "out").final().itertuples()
    assert row.controller == f"rl:{policy}" and row.status == "ok" and row.arrived > 0 and row.protocol == "resco"
