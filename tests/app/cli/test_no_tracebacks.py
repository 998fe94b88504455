"""Every ``citybrain`` subcommand given bad input: a message, exit 2 (or 1), never a traceback.

The CLI's ``main`` runs in-process with ``sys.argv`` set; no case reaches a SUMO start.
"""

from __future__ import annotations

import sys

import click
import pytest

from citybrain.app.cli import CityBrainGroup, main
from citybrain.exceptions import SimulationError

from ...conftest import DATA, NETWORKS, ROOT

NET = str(NETWORKS / "grid4x4.net.xml")
COUNTS = str(DATA / "good_counts.csv")
SCENARIO = str(ROOT / "scenarios" / "grid4x4.toml")


@pytest.fixture
def files(tmp_path):
    """Paths standing for the bad inputs: MISSING, FOLDER, EMPTY, GARBAGE, and OUT (a fresh folder)."""
    (tmp_path / "empty").write_text("")
    (tmp_path / "garbage").write_bytes(b"\x00\xff<<%%% not, a [file\n\x89PNG")
    (tmp_path / "folder").mkdir()
    return {"MISSING": str(tmp_path / "missing.xml"), "FOLDER": str(tmp_path / "folder"),
            "EMPTY": str(tmp_path / "empty"), "GARBAGE": str(tmp_path / "garbage"), "OUT": str(tmp_path / "out")}


BAD_FILES = ["MISSING", "FOLDER", "EMPTY", "GARBAGE"]

#: Each command with one placeholder ({}) that takes every bad file in turn.
FILE_ARGS = [
    ["network", "info", "{}"],
    ["network", "info", NET, "--conflicts", "{}"],
    ["network", "import-osm", "{}", "-o", "OUT/x.net.xml"],
    ["counts", "check", "{}", "--network", NET],
    ["counts", "check", COUNTS, "--network", "{}"],
    ["counts", "check", COUNTS, "--network", NET, "--registry", "{}"],
    ["estimate", "--network", NET, "--counts", "{}"],
    ["estimate", "--network", "{}", "--counts", COUNTS],
    ["optimise", "--network", NET, "--flows", "{}", "--out", "OUT/p.json"],
    ["optimise", "--network", NET, "--counts", "{}", "--out", "OUT/p.json"],
    ["plans", "check", "{}", "--network", NET],
    ["plans", "export", "{}", "--out", "OUT/p.json"],
    ["run", "{}", "--out", "OUT"],
    ["simulate", "{}"],
    ["simulate", SCENARIO, "--plan", "{}"],
    ["report", "{}"],
]

#: Bad numbers, bad output paths and unknown options, one per command.
OTHER_ARGS = [
    ["network", "grid", "OUT/g.net.xml", "--rows", "-1"],
    ["network", "arterial", "OUT/a.net.xml", "--signals", "-3"],
    ["network", "grid", "FOLDER"],
    ["counts", "check", COUNTS, "--network", NET, "--max-lane-flow", "-5"],
    ["counts", "check", COUNTS, "--network", NET, "--max-lane-flow", "many"],
    ["estimate", "--network", NET, "--counts", COUNTS, "--out", "FOLDER"],
    ["estimate", "--network", NET, "--counts", COUNTS, "--out", "GARBAGE/f.csv"],
    ["estimate", "--network", NET, "--counts", COUNTS, "--out", "/dev/full"],  # a full disk
    ["plans", "export", NET, "--out", "/proc/p.json"],  # a folder nobody can write into
    ["optimise", "--network", NET, "--flows", COUNTS, "--out", "FOLDER"],
    ["optimise", "--network", NET, "--out", "OUT/p.json"],
    ["optimise", "--network", NET, "--flows", COUNTS, "--out", "OUT/p.json", "--seed", "-x"],
    ["plans", "export", NET, "--out", "FOLDER"],
    ["run", SCENARIO, "--out", "GARBAGE"],
    ["run", SCENARIO, "--out", "OUT", "--seeds", "0"],
    ["run", SCENARIO, "--out", "OUT", "--duration", "-60"],
    ["run", SCENARIO, "--out", "OUT", "--replan-every", "-15"],
    ["run", SCENARIO, "--out", "OUT", "--workers", "-1"],
    ["run", SCENARIO, "--out", "OUT", "--duration", "nan"],
    ["run", SCENARIO, "--out", "OUT", "--duration", "inf"],
    ["run", SCENARIO, "--out", "OUT", "--replan-every", "nan"],
    ["run", SCENARIO, "--out", "OUT", "--strategies", " , "],
    ["run", SCENARIO, "--out", "OUT", "--strategies", "plan", "--replan-every", "15"],
    ["counts", "check", COUNTS, "--network", NET, "--max-lane-flow", "nan"],
    ["network", "grid", "OUT/g.net.xml", "--block-m", "inf"],
    ["network", "arterial", "OUT/a.net.xml", "--spacing-m", "nan"],
    ["network", "import-osm", NET, "-o", "OUT/x.net.xml"],
    ["simulate", SCENARIO, "--seed", "-1"],
    ["simulate", SCENARIO, "--realtime", "nan"],
    ["simulate", SCENARIO, "--realtime", "0"],
    ["simulate", SCENARIO, "--seeds", "0"],
    ["simulate", SCENARIO, "--cameras-out", "GARBAGE"],
    ["simulate", SCENARIO, "--controller", "nope"],
    ["simulate", SCENARIO, "--backend", "traci", "--sumo-binary", "FOLDER"],
    ["simulate", SCENARIO, "--backend", "traci", "--sumo-binary", "GARBAGE"],
    ["simulate", SCENARIO, "--backend", "traci", "--sumo-binary", "no-such-program-on-path"],
    *[[*cmd, "--no-such-option"] for cmd in (["network", "info", NET], ["network", "grid", "OUT/g.net.xml"],
                                             ["network", "arterial", "OUT/a.net.xml"], ["counts", "check", COUNTS],
                                             ["estimate"], ["optimise"], ["plans", "check", NET], ["plans", "export", NET],
                                             ["run", SCENARIO], ["simulate", SCENARIO])],
    ["no-such-command"],
]


NET_LINE = f'network = "{NET}"'
FLOW = '[[flows]]\nfrom_edge = "left0A0"\nto_edge = "A0B0"\nveh_per_hour = 300\n'

#: Scenario files with one mistake each (each found at load, before SUMO starts).
BAD_SCENARIOS = {
    "unknown key": f"{NET_LINE}\nend_s = 600\nnework = 1\n{FLOW}",
    "unknown flow key": f"{NET_LINE}\nend_s = 600\n{FLOW}vph = 3\n",
    "no end": f"{NET_LINE}\n{FLOW}",
    "end inf": f"{NET_LINE}\nend_s = inf\n{FLOW}",
    "end before begin": f"{NET_LINE}\nbegin_s = 700\nend_s = 600\n{FLOW}",
    "seeds text": f'{NET_LINE}\nend_s = 600\nseeds = "3"\n{FLOW}',
    "flows a string": f'{NET_LINE}\nend_s = 600\nflows = "x"\n',
    "flows of numbers": f"{NET_LINE}\nend_s = 600\nflows = [1, 2]\n",
    "flow rate nan": f"{NET_LINE}\nend_s = 600\n{FLOW.replace('300', 'nan')}",
    "flow from an unknown edge": f"{NET_LINE}\nend_s = 600\n{FLOW.replace('left0A0', 'nowhere')}",
    "cameras a number": f"{NET_LINE}\nend_s = 600\ncameras = 5\n{FLOW}",
    "network a folder": f'network = "."\nend_s = 600\n{FLOW}',
    "network garbage": f'network = "GARBAGE"\nend_s = 600\n{FLOW}',
    "demand empty": f'{NET_LINE}\nend_s = 600\ndemand = ["EMPTY"]\n',
    "both network and sumocfg": f'{NET_LINE}\nsumocfg = "EMPTY"\nend_s = 600\n{FLOW}',
    "no network": f"end_s = 600\n{FLOW}",
}


def _main(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    """Run ``citybrain ARGS`` in-process; return its exit code and everything it printed."""
    monkeypatch.setattr(sys, "argv", ["citybrain", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out.out + out.err


def _fill(args: list[str], files: dict[str, str], bad: str | None = None) -> list[str]:
    filled = []
    for a in args:
        a = a.replace("{}", files[bad]) if bad else a
        head, _, tail = a.partition("/")
        filled.append(files[head] + ("/" + tail if tail else "") if head in files else a)
    return filled


@pytest.mark.parametrize("bad", BAD_FILES)
@pytest.mark.parametrize("args", FILE_ARGS, ids=" ".join)
def test_bad_input_files_exit_2_without_a_traceback(monkeypatch, capsys, files, args, bad):
    code, printed = _main(monkeypatch, capsys, _fill(args, files, bad))
    assert code == 2, printed
    assert "Traceback" not in printed
    assert "Error" in printed and len(printed.strip().splitlines()) <= 40


@pytest.mark.parametrize("args", OTHER_ARGS, ids=" ".join)
def test_bad_numbers_outputs_and_options_exit_2_without_a_traceback(monkeypatch, capsys, files, args):
    code, printed = _main(monkeypatch, capsys, _fill(args, files))
    assert code == 2, printed
    assert "Traceback" not in printed and "Error" in printed


@pytest.mark.parametrize("command", [["simulate", "{}"], ["run", "{}", "--out", "OUT"]], ids=" ".join)
@pytest.mark.parametrize("mistake", BAD_SCENARIOS)
def test_bad_scenarios_exit_2_at_load_naming_the_file(monkeypatch, capsys, files, tmp_path, command, mistake):
    scenario = tmp_path / "bad.toml"
    text = BAD_SCENARIOS[mistake]
    for name in ("GARBAGE", "EMPTY"):
        text = text.replace(f'"{name}"', f'"{files[name]}"')
    scenario.write_text(text)
    code, printed = _main(monkeypatch, capsys, _fill([a.replace("{}", str(scenario)) for a in command], files))
    assert code == 2, printed
    assert "Traceback" not in printed
    assert printed.startswith(f"Error: {scenario}: ") and "bad.toml: " in printed


def test_a_folder_given_for_a_file_says_what_file_was_expected(monkeypatch, capsys, files):
    code, printed = _main(monkeypatch, capsys, ["counts", "check", files["FOLDER"], "--network", NET])
    assert code == 2
    assert printed == f"Error: COUNTS {files['FOLDER']}: is a folder, expected a count file (CSV or Parquet).\n"


def test_an_output_file_gets_its_missing_folders(monkeypatch, capsys, files):
    out = f"{files['OUT']}/no/folder/flows.csv"
    code, printed = _main(monkeypatch, capsys, ["estimate", "--network", NET, "--counts", COUNTS, "--out", out])
    assert code == 0, printed
    assert f"wrote {out}" in printed


def test_a_simulation_error_is_one_line_and_exit_1(capsys):
    @click.group(cls=CityBrainGroup)
    def group() -> None:
        """Wired like citybrain's group."""

    @group.command("sim")
    def sim() -> None:
        raise SimulationError("SUMO stopped at t=120 s:\n  Error: vehicle 'v1' has no route")

    with pytest.raises(SystemExit) as info:
        group(["sim"], prog_name="citybrain")
    out = capsys.readouterr()
    assert info.value.code == 1
    assert out.err == "Error: the simulation failed: SUMO stopped at t=120 s: Error: vehicle 'v1' has no route\n"
    assert "Traceback" not in out.out + out.err


def test_files_made_for_another_network_are_named_in_the_message(monkeypatch, capsys, files):
    arterial = str(ROOT / "scenarios" / "arterial5.toml")
    plan, flows = f"{files['OUT']}/grid.json", f"{files['OUT']}/grid_flows.csv"
    assert _main(monkeypatch, capsys, ["plans", "export", NET, "--out", plan])[0] == 0
    assert _main(monkeypatch, capsys, ["estimate", "--network", NET, "--counts", COUNTS, "--out", flows])[0] == 0
    code, printed = _main(monkeypatch, capsys, ["simulate", arterial, "--plan", plan])
    assert code == 2
    assert printed.startswith(f"Error: {plan}: plan for traffic light(s) 'A0'")
    code, printed = _main(monkeypatch, capsys, ["optimise", "--network", str(NETWORKS / "arterial5.net.xml"),
                                                "--flows", flows, "--out", f"{files['OUT']}/p.json"])
    assert code == 2
    assert printed.startswith(f"Error: {flows}: The flow table has ") and "is not a movement of network" in printed
