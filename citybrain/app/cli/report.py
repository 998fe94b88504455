"""``citybrain report``: re-render the report of a ``citybrain run`` folder from its saved data."""

from __future__ import annotations

from pathlib import Path

import click

from .options import OutputDir, junction_list

__all__ = ["report"]


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--corridor", default=None, callback=junction_list,
              help="Signalised junctions of the time-space diagram in travel order, comma-separated "
                   "(e.g. J1,J2,J3; default: the run's choice).")
@click.option("--out", type=OutputDir(), default=None,
              help="Folder to write the report into (default: RUN_DIR itself).")
def report(run_dir: Path, corridor: list[str] | None, out: Path | None) -> None:
    """Re-render RUN_DIR's report (report.md, report.html, figures, tables, timing.csv).

    RUN_DIR is the --out folder of a `citybrain run`; its saved data (RUN_DIR/report_data)
    and the scenario's network file are read, nothing is simulated again.
    """
    from citybrain.app.report import ReportData, write_report
    from citybrain.app.report.tables import corridor_chain
    from citybrain.app.report.write import headline

    data = ReportData.load(run_dir)
    if corridor is not None:
        corridor_chain(data.network, corridor)
        data.corridor = corridor
    paths = write_report(data, out or run_dir)
    for line in headline(data):
        click.echo(line)
    click.echo(f"wrote {paths['report.md']} and {paths['report.html']}")
