"""Settings of the plan service, in one ``(name, default, help)`` registry.

The registry drives ``citybrain serve``'s options and the settings table of ``docs/service.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SETTINGS", "Setting", "ServiceSettings"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One service setting: its name, default and help text."""

    name: str
    default: object
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "plans.db", "Database: a SQLite file (plans.db, sqlite:///...) or a postgresql://... URL."),
    Setting("network", None, "The SUMO network (.net.xml) plans are checked against."),
    Setting("conflicts", None, "Per-junction conflict overrides (JSON) for the network."),
    Setting("profile", "us", "Safety profile of the gate: us or eu."),
    Setting("host", "127.0.0.1", "Address to listen on."),
    Setting("port", 8000, "TCP port to listen on."),
    Setting("export_dir", None, "Folder that file: push targets may write into (none: file targets refused)."),
    Setting("target_timeout_s", 10.0, "Seconds to wait for a push target to answer."),
    Setting("traffic_state", None, "GeoJSON file of `citybrain traffic-state` served at /public/traffic-state (none: 404)."),
    Setting("public_per_minute", 60, "Requests per minute one client address may make to /public/ routes."),
)


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What a plan service runs with (see :data:`SETTINGS` for each field's meaning)."""

    network: Path
    db: str = "plans.db"
    conflicts: Path | None = None
    profile: str = "us"
    host: str = "127.0.0.1"
    port: int = 8000
    export_dir: Path | None = None
    target_timeout_s: float = 10.0
    traffic_state: Path | None = None
    public_per_minute: int = 60
