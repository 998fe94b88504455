"""``citybrain plans``: check and convert signal plans."""

from __future__ import annotations

import json
from pathlib import Path

import click

from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from citybrain.plans import PROFILES, check_network_plan, plans_from_network, read_plans, write_plans_json, write_sumo_additional
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


@plans.command("export")
@network_options(argument=True)
@click.option("--out", required=True, type=OutputFile(),
              help="Output: .json for the citybrain schema, else a SUMO additional file.")
def export(road: RoadNetwork, out: Path) -> None:
    """Write the network NET's own programs as a plan file (JSON or SUMO tlLogic)."""
    network_plan = plans_from_network(road)
    if out.suffix == ".json":
        write_plans_json(network_plan, out)
    else:
        write_sumo_additional(network_plan, out)
    click.echo(f"wrote {out}")
