"""The README's example controller runs in `citybrain bench` as written."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from citybrain.app.bench import RunStore
from citybrain.app.cli import cli

from ...conftest import ROOT

pytestmark = pytest.mark.sumo


def test_the_readme_example_controller_runs_in_a_sweep(lone_toml, tmp_path):
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### Benchmarking", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    assert 15 <= len(code.strip().splitlines()) <= 25
    (tmp_path / "mine.py").write_text(code)
    result = CliRunner().invoke(cli, ["bench", "--scenarios", str(lone_toml), "--controllers", "fixed",
                                      f"{tmp_path / 'mine.py'}:LongestQueue", "--seeds", "1", "--duration", "180",
                                      "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    final = RunStore(tmp_path / "out").final().set_index("controller")
    mine = final.loc[f"{tmp_path / 'mine.py'}:LongestQueue"]
    assert mine["status"] == "ok" and mine["arrived"] > 0 and mine["violations_ours"] == 0
    assert mine["delay_s"] != final.loc["fixed", "delay_s"]  # it did drive the light
