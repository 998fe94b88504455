"""The results store and the report's statistics, on hand-made runs (no SUMO)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from citybrain.app.bench import ControllerChoice, RunStore, read_sweep
from citybrain.app.bench.report import runs_json, summary_table, write_report
from citybrain.app.bench.store import result_row
from citybrain.app.bench.sweep import BenchRun
from citybrain.exceptions import ValidationError
from simulation import RunResult

DELAYS = {"fixed": [40.0, 44.0, 42.0, 47.0], "maxpressure": [30.0, 35.0, 31.0, 36.5], "flat": [41.0, 45.0, 43.0, 48.0]}


def _store(folder: Path, scenario: str = "lone") -> RunStore:
    store = RunStore(folder)
    for name, delays in DELAYS.items():
        for seed, d in enumerate(delays, start=1):
            run = BenchRun(scenario, Path("x.toml"), (0.0, 300.0), ControllerChoice(name), seed, "native", "1.28.0", "0.1.0")
            store.write(result_row(run, RunResult(scenario, name, "native", seed, "libsumo", "1.28.0", delay_s=d,
                                                  delay_all_s=d + 1, arrived=100), 1))
    return store


def test_the_summary_has_mean_sd_ci_change_and_the_paired_test_against_the_baseline(tmp_path):
    table = summary_table(_store(tmp_path).final(), "fixed").set_index("controller")
    mp, base = np.array(DELAYS["maxpressure"]), np.array(DELAYS["fixed"])
    row = table.loc["maxpressure"]
    assert row["mean"] == pytest.approx(mp.mean()) and row["sd"] == pytest.approx(mp.std(ddof=1))
    assert row["ci95"] == pytest.approx(stats.t.ppf(0.975, 3) * mp.std(ddof=1) / 2)
    assert row["change"] == pytest.approx(mp.mean() - base.mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(mp, base).pvalue) and row["mark"] == "**"
    assert table.loc["flat", "p_value"] == 0.0 and table.loc["flat", "change"] == pytest.approx(1.0)  # +1 s on every seed
    assert list(table.sort_values("rank").index) == ["maxpressure", "fixed", "flat"]
    assert math.isnan(table.loc["fixed", "p_value"])


def test_the_report_sets_the_published_resco_table_beside_ours_and_json_has_every_run(tmp_path):
    store = _store(tmp_path, "cologne1")
    text = write_report(store).read_text()
    assert "| RESCO | IDQN | 26.05 | 0.57 | best episode |" in text and "| RESCO | FIXED | 56.61 | 1.08 | mean over" in text
    assert "| citybrain | maxpressure | 34.12 | - | mean over seeds |" in text  # delay_all_s: 33.125 + 1
    assert (tmp_path / "report").is_dir() and len(list((tmp_path / "report").glob("*.png"))) == 1
    runs = runs_json(store)
    assert len(runs) == 12 and {r["controller"] for r in runs} == set(DELAYS)
    assert runs[0]["status"] == "ok" and runs[0]["arrived"] == 100 and runs[0]["params"] == {}


def test_the_final_attempt_of_a_run_is_its_ok_one(tmp_path):
    store = RunStore(tmp_path)
    run = BenchRun("lone", Path("x.toml"), (0.0, 60.0), ControllerChoice("fixed"), 1, "native", "1.28.0", "0.1.0")
    store.write(result_row(run, RunResult("lone", "fixed", "native", 1, "libsumo", "", error="died"), 1))
    assert store.done_ids() == set() and store.attempts() == {run.run_id: 1}
    store.write(result_row(run, RunResult("lone", "fixed", "native", 1, "libsumo", "1.28.0", delay_s=3.0), 2))
    (final,) = store.final().itertuples()
    assert final.status == "ok" and final.attempt == 2 and store.done_ids() == {run.run_id}
    (tmp_path / "runs" / "junk.parquet").write_text("not parquet")
    with pytest.raises(ValidationError, match="junk.parquet: not a stored run of citybrain bench"):
        store.rows()


def test_a_run_id_changes_with_every_part_of_its_identity():
    base = BenchRun("lone", Path("x.toml"), (0.0, 60.0), ControllerChoice("actuated", (("gap_s", 2.5),)), 1, "native",
                    "1.28.0", "0.1.0")
    assert base.controller.key == "actuated[gap_s=2.5]"
    from dataclasses import replace

    others = [replace(base, seed=2), replace(base, protocol="resco"), replace(base, sumo_version="1.9.1"),
              replace(base, citybrain_version="0.2.0"), replace(base, window_s=(0.0, 120.0)),
              replace(base, controller=ControllerChoice("actuated"))]
    assert len({base.run_id, *(o.run_id for o in others)}) == 7


def test_a_sweep_file_is_read_with_paths_relative_to_it(tmp_path):
    (tmp_path / "s.toml").write_text("")
    path = tmp_path / "sweep.toml"
    path.write_text('scenarios = ["s.toml"]\nseeds = [4, 5]\nprotocol = "resco"\n'
                    'controllers = ["fixed", { name = "actuated", params = { gap_s = 2.5 } }]\nresults = "out"\n')
    sweep = read_sweep(path)
    assert sweep.scenarios == (tmp_path / "s.toml",) and sweep.seeds == (4, 5) and sweep.results == tmp_path / "out"
    assert [c.key for c in sweep.controllers] == ["fixed", "actuated[gap_s=2.5]"] and sweep.protocol == "resco"


@pytest.mark.parametrize(("text", "needle"), [
    ('scenarios = ["s.toml"]\ncontrollers = ["fixed"]\nseed = 3\n', "unknown field 'seed'"),
    ('scenarios = ["s.toml"]\ncontrollers = ["fixed"]\nseeds = 0\n', "seeds must be a count >= 1"),
    ('scenarios = ["nope.toml"]\ncontrollers = ["fixed"]\n', "nope.toml: file not found"),
    ('scenarios = ["s.toml"]\ncontrollers = [{ params = {} }]\n', "controllers[0]: expected a controller name"),
    ('scenarios = ["s.toml"]\ncontrollers = ["fixed", "fixed"]\n', "controllers named twice: ['fixed']"),
    ('scenarios = ["s.toml"]\ncontrollers = ["webster"]\nseeds = [0, 1]\n', "seed 0 is the plan strategies' camera"),
    ('scenarios = ["s.toml"]\ncontrollers = ["fixed"]\nprotocol = "fast"\n', "protocol 'fast': expected one of"),
    ("scenarios = [", "not valid TOML"),
])
def test_a_bad_sweep_file_names_the_field_and_what_was_expected(tmp_path, text, needle):
    (tmp_path / "s.toml").write_text("")
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=None) as info:
        read_sweep(path)
    assert needle in str(info.value) and str(path) in str(info.value)
