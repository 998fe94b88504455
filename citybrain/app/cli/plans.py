"""``citybrain plans``: check and convert signal plans."""

from __future__ import annotations

import json
from pathlib import Path

import click

from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork, graph_from_sumo_net
from citybrain.plans import PROFILES, check_network_plan, plans_from_network, read_plans
from citybrain.plans.formats import EXPORT_ENDINGS, EXPORT_FORMATS, export_format_for, export_plan
from .options import InputFile, OutputFile, network_options

__all__ = ["plans"]


@click.group()
def plans() -> None:
    """Check and convert signal plans (JSON or SUMO tlLogic)."""


@plans.command("check")
@click.argument("plan", type=InputFile("a plan file (JSON, or a SUMO additional or network file)"))
@network_options()
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="us", show_default=True,
              help="Policy profile: US ITE/MUTCD or European RiLSA-like.")
@click.option("--strict", is_flag=True, help="Count profile warnings as violations (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the violations as JSON.")
@click.pass_context
def check(ctx: click.Context, plan: Path, road: RoadNetwork, profile: str, strict: bool, as_json: bool) -> None:
    """Check PLAN (JSON, or a SUMO additional/network file) against NET.

    Exit 0 when safe, 1 with every violation listed, 2 for unusable input. PLAN may be the
    network file itself to check its own programs.
    """
    network_plan = plans_from_network(road) if plan.resolve() == road.path.resolve() else read_plans(plan, network=road)
    try:
        found = check_network_plan(network_plan, road, profile)
    except ValidationError as exc:  # a light the network does not have: unusable input (exit 2)
        raise ValidationError(f"{plan}: {exc}") from None
    errors = [v for v in found if v.severity == "error"]
    warnings = [v for v in found if v.severity != "error"]
    if as_json:
        click.echo(json.dumps([{"tls": v.tls, "period": v.period, "phase": v.phase, "rule": v.rule,
                                "severity": v.severity, "message": v.message} for v in found], indent=2))
    else:
        for v in found:
            click.echo(str(v))
        n_plans = sum(1 for _ in network_plan.all_plans())
        verdict = "unsafe" if errors or (strict and warnings) else "safe"
        click.echo(f"{plan.name}: {n_plans} plan(s), {len(errors)} error(s), {len(warnings)} warning(s): {verdict}")
    if errors or (strict and warnings):
        ctx.exit(1)


_FORMATS_HELP = "; ".join(f"{name}: {what}" for name, what in EXPORT_FORMATS.items())
_ENDINGS_HELP = ", ".join(f"{end} -> {fmt}" for end, fmt in EXPORT_ENDINGS.items())
#: Formats a controller is programmed from: exported only when the plan passes the safety gate.
_CONTROLLER_FORMATS = ("utdf", "ntcip")


@plans.command("export")
@click.argument("plan", type=InputFile("a plan file (JSON, or a SUMO additional or network file)"))
@click.option("--network", "net", type=InputFile("a SUMO network file (.net.xml)"), default=None,
              help="SUMO network the plan is for (.net.xml). Default: PLAN itself, when PLAN is a network "
                   "file (its own programs are exported).")
@click.option("--conflicts", type=InputFile("a conflict overrides file (JSON)"), default=None,
              help="Per-junction conflict overrides (JSON) that every conflict check sees.")
@click.option("--format", "fmt", type=click.Choice(list(EXPORT_FORMATS)), default=None,
              help=f"Output format ({_FORMATS_HELP}). Default: from the --out ending ({_ENDINGS_HELP}).")
@click.option("--period", default=None, help="Export only this period of the plan (UTDF holds one period: "
                                             "required for UTDF when the plan has several).")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="us", show_default=True,
              help="Safety profile utdf and ntcip exports are checked against (they program controllers).")
@click.option("--out", required=True, type=OutputFile(), help="The file to write.")
@click.pass_context
def export(ctx: click.Context, plan: Path, net: Path | None, conflicts: Path | None, fmt: str | None,
           period: str | None, profile: str, out: Path) -> None:
    """Export PLAN for NET as UTDF (Synchro/Vistro), NTCIP 1202 objects (JSON), SUMO tlLogic or plan JSON.

    PLAN is a plan file (JSON or SUMO additional), or a network file to export its own programs.
    UTDF and NTCIP exports program controllers: an unsafe plan is not written (exit 1, every
    error listed; check it with ``citybrain plans check``). Exit 2 for unusable input.
    """
    fmt = fmt or export_format_for(out)
    if fmt is None:
        msg = (f"--out {out}: cannot tell the format from the file name; give --format "
               f"({', '.join(EXPORT_FORMATS)}) or end it in {', '.join(EXPORT_ENDINGS)}")
        raise ValidationError(msg)
    if net is None and ".net.xml" not in plan.name:
        msg = f"PLAN {plan}: a plan file needs the network it is for: give --network NET.net.xml"
        raise ValidationError(msg)
    road = graph_from_sumo_net(net or plan, conflicts=conflicts)
    own = plan.resolve() == road.path.resolve()
    network_plan = plans_from_network(road) if own else read_plans(plan, network=road)
    if fmt in _CONTROLLER_FORMATS:
        try:
            errors = [v for v in check_network_plan(network_plan, road, profile) if v.severity == "error"]
        except ValidationError as exc:  # a light the network does not have: unusable input (exit 2)
            raise ValidationError(f"{plan}: {exc}") from None
        if errors:
            for v in errors:
                click.echo(str(v), err=True)
            click.echo(f"{plan.name}: {len(errors)} safety error(s); not exported to {fmt} ({out} not written)", err=True)
            ctx.exit(1)
    try:
        export_plan(network_plan, road, out, fmt, period=period)
    except ValidationError as exc:
        raise ValidationError(f"{plan}: {exc}") from None
    click.echo(f"wrote {out} ({fmt})")
