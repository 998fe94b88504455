"""``citybrain spm``: tables and Purdue diagrams from an event log; a malformed log is exit 2 naming the row."""

from __future__ import annotations

from click.testing import CliRunner

from citybrain.app.cli import cli

EVENTS = """timestamp,signal_id,event_code,event_param
2026-01-01T00:00:00.0,A,1,1
2026-01-01T00:00:05.0,A,82,2
2026-01-01T00:00:05.4,A,81,2
2026-01-01T00:00:30.0,A,8,1
2026-01-01T00:00:33.0,A,10,1
2026-01-01T00:00:40.0,A,82,2
2026-01-01T00:00:40.5,A,81,2
2026-01-01T00:00:59.0,A,11,1
2026-01-01T00:01:00.0,A,1,1
2026-01-01T00:01:30.0,A,8,1
2026-01-01T00:01:33.0,A,10,1
"""
DETECTORS = "signal_id,channel,phase,kind,lane,distance_m\nA,1,1,stopbar,a_0,0.5\nA,2,1,advance,a_0,120\n"


def test_spm_writes_measures_and_diagram(tmp_path):
    (tmp_path / "e.csv").write_text(EVENTS)
    (tmp_path / "d.csv").write_text(DETECTORS)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["spm", str(tmp_path / "e.csv"), "--detectors", str(tmp_path / "d.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    head, row = (out / "spm.csv").read_text().splitlines()[:2]
    assert head.startswith("signal_id,phase,cycles,arrivals,arrivals_on_green,aog_pct,split_failures")
    assert row.startswith("A,1,1,2,1,50.000,0")
    assert (out / "pcd_A_phase1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "split_monitor.csv").is_file()


def test_spm_malformed_log_names_row(tmp_path):
    (tmp_path / "e.csv").write_text(EVENTS.replace("2026-01-01T00:00:30.0,A,8,1", "2026-01-01T00:00:30.0,A,,1"))
    (tmp_path / "d.csv").write_text(DETECTORS)
    res = CliRunner().invoke(cli, ["spm", str(tmp_path / "e.csv"), "--detectors", str(tmp_path / "d.csv"),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "row 5: event_code '' is not a non-negative integer" in res.output
    assert "Traceback" not in res.output
