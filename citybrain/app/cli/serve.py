"""``citybrain serve``: the plan service over HTTP (uvicorn), on a port bound before the app starts."""

from __future__ import annotations

import socket
from pathlib import Path

import click

from citybrain.exceptions import ValidationError
from citybrain.app.service.settings import SETTINGS, ServiceSettings
from .options import FiniteRange, InputFile

__all__ = ["serve"]

_HELP = {s.name: s.help + (f" [default: {s.default}]" if s.default is not None else "") for s in SETTINGS}


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are
    # TCP, and without it every keep-alive response waits ~40 ms on the client's delayed ACK
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        msg = f"Cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --host or --port."
        raise ValidationError(msg) from exc
    sock.listen(128)
    return sock


@click.command()
@click.option("--db", default="plans.db", show_default=False, help=_HELP["db"])
@click.option("--network", "net", required=True, type=InputFile("a SUMO network (.net.xml)"), help=_HELP["network"])
@click.option("--conflicts", type=InputFile("a conflict overrides file (JSON)"), default=None, help=_HELP["conflicts"])
@click.option("--profile", type=click.Choice(["us", "eu"]), default="us", help=_HELP["profile"])
@click.option("--host", default="127.0.0.1", help=_HELP["host"])
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help=_HELP["port"])
@click.option("--export-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help=_HELP["export_dir"])
@click.option("--target-timeout", "target_timeout_s", type=FiniteRange(min=0, min_open=True), default=10.0,
              help=_HELP["target_timeout_s"])
@click.option("--traffic-state", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=_HELP["traffic_state"])
@click.option("--public-per-minute", type=click.IntRange(1), default=60, help=_HELP["public_per_minute"])
def serve(db: str, net: Path, conflicts: Path | None, profile: str, host: str, port: int, export_dir: Path | None,
          target_timeout_s: float, traffic_state: Path | None, public_per_minute: int) -> None:
    """Serve the plan service: store, check, approve, push, audit and roll back plans for NETWORK.

    Make the first admin with `citybrain tokens create --db DB --role admin --name NAME`; clients send
    the token as `Authorization: Bearer TOKEN`. The API is at /docs.
    """
    import uvicorn

    from citybrain.app.service import create_app

    if export_dir is not None:
        export_dir.mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings(network=net, db=db, conflicts=conflicts, profile=profile, host=host, port=port,
                               export_dir=export_dir.resolve() if export_dir else None,
                               target_timeout_s=target_timeout_s, traffic_state=traffic_state,
                               public_per_minute=public_per_minute)
    sock = _bind(host, port)
    app = create_app(settings)
    click.echo(f"citybrain plan service on http://{host}:{sock.getsockname()[1]} (database {db})", err=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
