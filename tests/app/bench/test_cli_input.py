"""`citybrain bench` given unusable input: one message, exit 2, never a traceback (no case starts SUMO)."""

from __future__ import annotations

import sys

import pytest

from citybrain.app.cli import main

from ...conftest import ROOT

SCENARIO = str(ROOT / "scenarios" / "demo.toml")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "empty").write_text("")
    (tmp_path / "garbage").write_bytes(b"\x00\xff<<%%% not, a [file\n\x89PNG")
    (tmp_path / "folder").mkdir()
    (tmp_path / "results" / "runs").mkdir(parents=True)
    return {"MISSING": str(tmp_path / "missing.toml"), "FOLDER": str(tmp_path / "folder"),
            "EMPTY": str(tmp_path / "empty"), "GARBAGE": str(tmp_path / "garbage"), "OUT": str(tmp_path / "out"),
            "RESULTS": str(tmp_path / "results")}


CASES = [
    (["bench", "MISSING", "--results", "OUT"], "no such file; expected a sweep file (TOML)"),
    (["bench", "FOLDER", "--results", "OUT"], "is a folder"),
    (["bench", "EMPTY", "--results", "OUT"], "no scenarios"),
    (["bench", "GARBAGE", "--results", "OUT"], "not valid TOML"),
    (["bench", "--scenarios", "GARBAGE", "--controllers", "fixed", "--results", "OUT"], "garbage: not valid TOML"),
    (["bench", "--scenarios", "MISSING", "--controllers", "fixed", "--results", "OUT"], "file not found"),
    (["bench", "--scenarios", SCENARIO, "SCENARIO", "--controllers", "fixed", "--results", "OUT"], "two scenarios"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed", "--results", "GARBAGE"], "is a file, expected a folder"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed", "--seeds", "0", "--results", "OUT"], "--seeds"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed", "--duration", "nan", "--results", "OUT"], "nan"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed", "--workers", "-1", "--results", "OUT"], "-1"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed"], "--results"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed", "--protocol", "fast", "--results", "OUT"], "fast"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "webster", "webster", "--results", "OUT"], "named twice"),
    (["bench", "--scenarios", SCENARIO, "--controllers", "fixed", "--results", "OUT", "--scheduler",
      "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    (["bench", "--scenarios", SCENARIO, "--results", "OUT"], "--controllers"),
    (["bench", "--no-such-option"], "no-such-option"),
    (["bench", "report", "MISSING"], "not a results folder"),
    (["bench", "report", "FOLDER"], "not a results folder"),
    (["bench", "report", "RESULTS"], "no stored runs"),
    (["bench", "report", "RESULTS", "--baseline", "nope"], "no stored runs"),
]


@pytest.mark.parametrize(("args", "needle"), CASES, ids=[" ".join(a[1:3]) + f" [{i}]" for i, (a, _) in enumerate(CASES)])
def test_unusable_input_is_one_message_and_exit_2(monkeypatch, capsys, files, args, needle):
    args = [files.get(a, SCENARIO if a == "SCENARIO" else a) for a in args]
    monkeypatch.setattr(sys, "argv", ["citybrain", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    text = out.out + out.err
    assert info.value.code == 2, text
    assert needle in text and "Traceback" not in text
