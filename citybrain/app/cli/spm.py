"""``citybrain spm``: signal performance measures and Purdue diagrams from a hi-res event log."""

from __future__ import annotations

from pathlib import Path

import click

from .options import InputFile, OutputDir

__all__ = ["spm"]


@click.command("spm")
@click.argument("events", type=InputFile("a hi-res event log (events.csv)"))
@click.option("--detectors", "detectors_path", required=True,
              type=InputFile("a detector map (detectors.csv)"),
              help="Detector map: signal_id, channel, phase, kind, lane, distance_m and optionally speed_mps "
                   "(projects arrivals to the stop bar).")
@click.option("--out", required=True, type=OutputDir(), help="Folder for spm.csv, split_monitor.csv and the diagrams.")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
def spm(events: Path, detectors_path: Path, out: Path, no_figures: bool) -> None:
    """Measure arrivals on green, platoon ratio, split failures, splits, volume and delay per light and phase.

    EVENTS is an Indiana hi-res log (timestamp, signal_id, event_code, event_param), from the twin
    (``simulate --events-out``) or a controller's export. Writes spm.csv, split_monitor.csv and
    pcd_<signal>_phase<k>.png (Purdue coordination diagrams). Exit 2 for a malformed log or map.
    """
    from citybrain.spm import measures, read_detectors, read_events, split_monitor

    ev = read_events(events)
    det = read_detectors(detectors_path)
    m = measures(ev, det)
    m.to_csv(out / "spm.csv", index=False, float_format="%.3f")
    split_monitor(ev).to_csv(out / "split_monitor.csv", index=False, float_format="%.1f")
    n_fig = 0
    if not no_figures:
        from citybrain.app.spm_figures import purdue_diagrams

        n_fig = len(purdue_diagrams(ev, det, out, m))
    for r in m.itertuples():
        if r.arrivals:
            click.echo(f"{r.signal_id} phase {r.phase}: {r.cycles} cycles, {r.arrivals} arrivals, "
                       f"{r.aog_pct:.1f}% on green, {r.split_failures} split failures")
    click.echo(f"Wrote {out / 'spm.csv'}, split_monitor.csv and {n_fig} diagram(s).")
