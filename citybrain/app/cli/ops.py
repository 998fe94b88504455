"""``citybrain ops``: the plan service's command-line client (over :class:`ServiceClient`).

Every command takes ``--server URL`` and ``--json`` (the service's answer as JSON); the token
comes from the environment variable ``CITYBRAIN_TOKEN``, never from the command line.

Exit codes: 0 ok; 1 when the service refuses valid input (403 role or author, 409 stale or
wrong state, 422 unsafe or refused by the target, 502 push failed) or ``check`` finds the plan
unsafe, with every problem printed; 2 for unusable input (a bad plan file, no token, a server
that does not answer, 401 bad token, 404 unknown plan, version or light).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path

import click

from citybrain.app.service.client import ServiceClient, ServiceClientError
from citybrain.exceptions import CityBrainError
from citybrain.plans import plans_to_dict, read_plans
from .options import FiniteRange, InputFile

__all__ = ["ops", "TOKEN_ENV", "REFUSED"]

#: The environment variable holding the API token.
TOKEN_ENV = "CITYBRAIN_TOKEN"
#: HTTP statuses meaning "the service refused valid input" (exit 1); any other error exits 2.
REFUSED = frozenset({403, 409, 422, 502})


class OpsGroup(click.Group):
    """Turns a service error into its detail and every problem on stderr (exit 1 or 2), any other
    :class:`~citybrain.exceptions.CityBrainError` (a bad plan file or URL) into one line (exit 2)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ServiceClientError as exc:
            click.echo(f"Error: {exc}", err=True)
            for p in exc.problems if exc.problems != [exc.detail] else []:
                click.echo(f"  {p}", err=True)
            ctx.exit(1 if exc.status in REFUSED else 2)
        except CityBrainError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=OpsGroup)
def ops() -> None:
    """Work with a plan service: plans, checks, approvals, pushes, lights and the audit log.

    The token is read from the environment variable CITYBRAIN_TOKEN.
    """


def _client_command(name: str) -> Callable:
    """An ``ops`` command with ``--server``, ``--timeout`` and ``--json``; it gets ``client`` and ``as_json``."""

    def decorate(func: Callable) -> click.Command:
        @ops.command(name, help=func.__doc__)
        @click.option("--server", required=True, metavar="URL", help="The plan service, e.g. http://127.0.0.1:8000.")
        @click.option("--timeout", "timeout_s", type=FiniteRange(min=0.1), default=30.0, show_default=True,
                      help="Seconds to wait for each answer.")
        @click.option("--json", "as_json", is_flag=True, help="Print the service's answer as JSON.")
        @click.pass_context
        @functools.wraps(func)
        def command(ctx: click.Context, server: str, timeout_s: float, as_json: bool, **kwargs) -> None:
            token = os.environ.get(TOKEN_ENV, "").strip()
            if not token:
                click.echo(f"Error: no API token: set the environment variable {TOKEN_ENV} "
                           "(citybrain tokens create prints one).", err=True)
                ctx.exit(2)
            with ServiceClient(server, token, timeout_s=timeout_s) as client:
                answer, lines, code = func(client, **kwargs)
            click.echo(json.dumps(answer, indent=2) if as_json else "\n".join(lines))
            ctx.exit(code)

        return command

    return decorate


def _sha(sha: object) -> str:
    """The first 12 hex digits of a SHA-256, or ``-`` for none."""
    return str(sha)[:12] if sha else "-"


def _v(version: object) -> str:
    return "-" if version is None else f"v{version}"


def _version(v: dict) -> str:
    return f"{_v(v.get('version'))} {v.get('status', '')} {_sha(v.get('sha256'))}"


def _plan_line(p: dict) -> str:
    lights = p.get("lights") or []
    return (f"{p.get('id')}\t{p.get('name', '')}\tby {p.get('author', '')}\tv{p.get('latest_version')} "
            f"{p.get('status', '')}\t{len(lights)} light(s): {' '.join(map(str, lights))}")


def _problem(p: object) -> str:
    return p.get("message", json.dumps(p)) if isinstance(p, dict) else str(p)


@_client_command("list")
def list_(client: ServiceClient) -> tuple[dict, list[str], int]:
    """List the plans (id, name, author, latest version and its status, lights)."""
    answer = client.list_plans()
    return answer, [_plan_line(p) for p in answer["plans"]] or ["no plans"], 0


@_client_command("show")
@click.argument("plan_id")
@click.option("--version", type=click.IntRange(min=1), help="Show this version with its plan and last check.")
def show(client: ServiceClient, plan_id: str, version: int | None) -> tuple[dict, list[str], int]:
    """Show plan PLAN_ID and its versions (or one version with --version)."""
    if version is None:
        answer = client.get_plan(plan_id)
        return answer, [_plan_line(answer)] + [f"  {_version(v)}" for v in answer.get("versions", [])], 0
    answer = client.get_version(plan_id, version)
    lines = [f"plan {plan_id} {_version(answer)}"]
    check = answer.get("check")
    lines.append("  not checked" if not check else f"  last check: {'safe' if check.get('safe') else 'unsafe'}")
    lines += [f"    {_problem(p)}" for p in (check or {}).get("errors", []) + (check or {}).get("warnings", [])]
    return answer, lines, 0


@_client_command("create")
@click.argument("plan_file", type=InputFile("a plan file (JSON as citybrain optimise writes it, or SUMO tlLogic)"))
@click.option("--plan", "plan_id", help="Add the file as a new version of this plan (needs --base-version).")
@click.option("--base-version", type=click.IntRange(min=1), help="The latest version the new one replaces.")
def create(client: ServiceClient, plan_file: Path, plan_id: str | None,
           base_version: int | None) -> tuple[dict, list[str], int]:
    """Store PLAN_FILE as a new plan (or, with --plan, as its next version)."""
    if (plan_id is None) != (base_version is None):
        raise click.UsageError("--plan and --base-version go together (a new version names the one it replaces).")
    body = plans_to_dict(read_plans(plan_file))
    answer = client.create_plan(body) if plan_id is None else client.new_version(plan_id, body, base_version)
    return answer, [f"plan {answer.get('id')} {_version(answer)}"], 0


@_client_command("diff")
@click.argument("plan_id")
@click.option("--from", "from_version", type=click.IntRange(min=1), required=True, help="Older version.")
@click.option("--to", "to_version", type=click.IntRange(min=1), required=True, help="Newer version.")
def diff(client: ServiceClient, plan_id: str, from_version: int, to_version: int) -> tuple[dict, list[str], int]:
    """Show what changed between two versions of PLAN_ID, light by light."""
    answer = client.diff(plan_id, from_version, to_version)
    lines = [f"plan {plan_id}: v{from_version} -> v{to_version}"]
    for light in answer.get("lights", []):
        for c in light.get("changes", []):
            phase = "" if c.get("phase") is None else f" phase {c['phase']}"
            lines.append(f"  {light.get('tls')} [{light.get('period')}]{phase} {c.get('field')}: "
                         f"{c.get('from')} -> {c.get('to')}")
    return answer, lines if len(lines) > 1 else [*lines, "  no changes"], 0


@_client_command("check")
@click.argument("plan_id")
@click.option("--version", type=click.IntRange(min=1), help="Version to check (default: the latest).")
def check(client: ServiceClient, plan_id: str, version: int | None) -> tuple[dict, list[str], int]:
    """Run the safety gate on PLAN_ID; exit 1 with every error when it is unsafe."""
    answer = client.check(plan_id, version)
    errors, warnings = answer.get("errors", []), answer.get("warnings", [])
    verdict = "safe" if answer.get("safe") else "unsafe"
    lines = [_problem(p) for p in errors + warnings]
    lines.append(f"plan {answer.get('id')} v{answer.get('version')}: {verdict}, {len(errors)} error(s), "
                 f"{len(warnings)} warning(s); status {answer.get('status')}")
    return answer, lines, 0 if answer.get("safe") else 1


@_client_command("approve")
@click.argument("plan_id")
@click.option("--version", type=click.IntRange(min=1), help="Version to approve (default: the latest).")
def approve(client: ServiceClient, plan_id: str, version: int | None) -> tuple[dict, list[str], int]:
    """Approve a checked version of PLAN_ID (an operator who is not its author)."""
    answer = client.approve(plan_id, version)
    return answer, [f"plan {answer.get('id')} v{answer.get('version')} approved by {answer.get('approved_by')}"], 0


def _pushed(answer: dict) -> list[str]:
    forced = " (forced)" if answer.get("forced") else ""
    lines = [f"push {answer.get('push_id')}: plan {answer.get('id')} v{answer.get('version')} "
             f"{answer.get('status')}{forced}"]
    return lines + [f"  {tls} {_sha(sha)}" for tls, sha in sorted((answer.get("lights") or {}).items())]


@_client_command("push")
@click.argument("plan_id")
@click.option("--target", required=True, metavar="URL",
              help="http://127.0.0.1:PORT (a live twin's endpoint) or file:///PATH.json|.add.xml (an export).")
@click.option("--version", type=click.IntRange(min=1), help="Version to push (default: the latest).")
@click.option("--light", "lights", multiple=True, metavar="TLS", help="Push only this light (repeatable).")
@click.option("--force", is_flag=True, help="Push part of a coordinated group anyway (audited as forced).")
def push(client: ServiceClient, plan_id: str, target: str, version: int | None, lights: tuple[str, ...],
         force: bool) -> tuple[dict, list[str], int]:
    """Push an approved version of PLAN_ID to a target and wait for its acknowledgement."""
    answer = client.push(plan_id, target, force=force, version=version, lights=list(lights) or None)
    return answer, _pushed(answer), 0


@_client_command("rollback")
@click.argument("tls")
@click.option("--force", is_flag=True, help="Roll back one light of a coordinated group anyway (audited).")
def rollback(client: ServiceClient, tls: str, force: bool) -> tuple[dict, list[str], int]:
    """Put light TLS back on its previous acknowledged plan (pushed to the same target)."""
    answer = client.rollback(tls, force=force)
    return answer, [f"{tls} rolled back", *_pushed(answer)], 0


def _light_line(x: dict) -> str:
    active = x.get("active")
    now = f"plan {active.get('id')} {_v(active.get('version'))} {_sha(active.get('sha256'))}" if active else "-"
    return f"{x.get('tls')}\t{x.get('status')}\t{now}\t{x.get('target') or ''}".rstrip()


@_client_command("lights")
@click.argument("tls", required=False)
def lights(client: ServiceClient, tls: str | None) -> tuple[dict, list[str], int]:
    """List every light's status and active plan, or show light TLS with what its target reports."""
    if tls is None:
        answer = client.lights()
        return answer, [_light_line(x) for x in answer["lights"]] or ["no lights"], 0
    answer = client.light(tls)
    reported = answer.get("reported")
    if isinstance(reported, dict) and "error" in reported:
        said = f"  target: out of contact ({reported['error']})"
    elif reported:
        said = f"  target runs {_sha(reported.get('sha256'))}, pending {_sha(reported.get('pending'))}"
    else:
        said = "  target: no report"
    history = [f"  push {h.get('push_id')}: plan {h.get('id')} {_v(h.get('version'))} {_sha(h.get('sha256'))} "
               f"{h.get('result') or ''} {h.get('since') or h.get('at') or ''}".rstrip() for h in answer.get("history", [])]
    return answer, [_light_line(answer), said, *history], 0


@_client_command("audit")
@click.option("--tls", help="Only entries about this light.")
@click.option("--since", metavar="ISO8601", help="Only entries at or after this time.")
@click.option("--user", help="Only entries by this user.")
@click.option("--action", help="Only this action (create, check, approve, push, rollback ...).")
def audit(client: ServiceClient, tls: str | None, since: str | None, user: str | None,
          action: str | None) -> tuple[dict, list[str], int]:
    """Print the audit log entries (who, when, what, result), filtered."""
    answer = client.audit(tls=tls, since=since, user=user, action=action)
    lines = [f"{e.get('at')}\t{e.get('user')} ({e.get('role')})\t{e.get('action')} {e.get('result')}\t"
             f"plan {e.get('plan_id') or '-'} {_v(e.get('from_version'))}->{_v(e.get('to_version'))}\t"
             f"{' '.join(e.get('lights') or [])}\t{e.get('detail') or ''}".rstrip() for e in answer["entries"]]
    return answer, lines or ["no entries"], 0
