"""Every operation of the plan service, each change in one transaction with its audit rows.

A plan version goes ``draft -> checked -> approved -> active -> superseded | rolled_back``.
A push takes each of its lights' lock (``lights.busy_push_id``) in one transaction, is handed to
the target outside any transaction, and is recorded acknowledged (the lights' active plan moves)
or failed (it does not) in a second one; a push found in flight at start-up is reconciled with
what its target reports (:meth:`PlanService.reconcile`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from citybrain.exceptions import UnsafePlanError, ValidationError
from citybrain.network import RoadNetwork
from citybrain.plans import NetworkPlan, PlanPeriod, SignalPlan, plans_from_dict, plans_to_dict, require_safe
from citybrain.plans.formats import plan_sha256

from .auth import User, now, require_role
from .db import reader
from .errors import Conflict, Forbidden, NotFound, TargetFailed, Unprocessable
from .schema import audit, lights, plan_versions, plans, push_lights, pushes
from .targets import PushTarget, TargetError, target_for

__all__ = ["PHASE_FIELDS", "PlanService", "restrict"]

#: Phase fields compared by :meth:`PlanService.diff` (seconds, and the signal state).
PHASE_FIELDS = ("state", "green_s", "yellow_s", "all_red_s", "min_green_s", "max_green_s", "walk_s", "ped_clearance_s")
_PUSHABLE = ("approved", "active", "superseded", "rolled_back")


def restrict(plan: NetworkPlan, tls: set[str]) -> NetworkPlan:
    """The part of ``plan`` for the lights ``tls`` (periods with none of them left out)."""
    periods = tuple(PlanPeriod(p.name, tuple(x for x in p.plans if x.tls in tls)) for p in plan.periods)
    kept = tuple(p for p in periods if p.plans)
    names = {p.name for p in kept}
    return NetworkPlan(kept, tuple(e for e in plan.schedule if e.period in names) if len(kept) > 1 else (), plan.meta)


def _coordinated(plan: NetworkPlan) -> set[str]:
    """Lights whose plans are coordinated with each other (method ``coordinated`` in some period)."""
    return {p.tls for _, p in plan.all_plans() if p.method == "coordinated"}


def _light_shas(plan: NetworkPlan) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _, p in plan.all_plans():
        out.setdefault(p.tls, set()).add(plan_sha256(p))
    return out


class PlanService:
    """The plan store and its lifecycle over one database and one road network.

    Parameters
    ----------
    engine
        The store (:func:`~citybrain.app.service.db.connect`).
    network
        Plans are checked against it.
    profile
        Safety profile of the gate (``"us"``, ``"eu"``).
    export_dir
        Folder ``file:`` targets may write into (``None``: refused).
    target_timeout_s
        Seconds to wait for a target.
    targets
        Builds a target from its URL (default :func:`~citybrain.app.service.targets.target_for`).
    """

    def __init__(self, engine: Engine, network: RoadNetwork, *, profile: str = "us", export_dir: Path | None = None,
                 target_timeout_s: float = 10.0, targets: Callable[[str], PushTarget] | None = None) -> None:
        self.engine = engine
        self.reads = reader(engine)
        self.network = network
        self.profile = profile
        self._target = targets or (lambda url: target_for(url, export_dir=export_dir, timeout_s=target_timeout_s,
                                                                   network=network))
        self._seed_lights()

    # -- helpers ---------------------------------------------------------------------------
    def _seed_lights(self) -> None:
        try:
            with self.engine.begin() as conn:
                known = set(conn.execute(select(lights.c.tls)).scalars())
                missing = [{"tls": t, "last_push_failed": False} for t in sorted(self.network.programs) if t not in known]
                if missing:
                    conn.execute(insert(lights), missing)
        except IntegrityError:  # another process seeded them at the same time
            pass

    @staticmethod
    def _audit(conn, user: User, action: str, result: str, detail: str, *, plan_id=None, from_version=None,
               to_version=None, tls=(), sha256=None) -> None:
        conn.execute(insert(audit).values(
            at=now(), user=user.name, role=user.role, action=action, plan_id=plan_id, from_version=from_version,
            to_version=to_version, lights="," + "".join(f"{t}," for t in sorted(tls)), result=result,
            sha256=sha256, detail=detail))

    def _audit_alone(self, user: User, action: str, result: str, detail: str, **kw) -> None:
        with self.engine.begin() as conn:
            self._audit(conn, user, action, result, detail, **kw)

    def _parse(self, data: object) -> tuple[NetworkPlan, list[str]]:
        """Read and check a plan body; return it and its warnings.

        Raises
        ------
        Unprocessable
            For a malformed plan, an unknown light or an unsafe plan (every problem listed).
        """
        if not isinstance(data, dict):
            msg = f"the body must be a plan JSON object as `citybrain optimise` writes it, got {type(data).__name__}"
            raise Unprocessable(msg)
        try:
            plan = plans_from_dict(data, source="the plan", network=self.network)
            found = require_safe(plan, self.network, self.profile, source="The plan")
        except UnsafePlanError as exc:
            raise Unprocessable(str(exc).splitlines()[0], exc.problems) from exc
        except ValidationError as exc:
            raise Unprocessable(str(exc).splitlines()[0], exc.problems or [str(exc)]) from exc
        return plan, [str(v) for v in found]

    def _version_row(self, conn, plan_id: int, version: int | None, *, latest_only: bool = False):
        latest = conn.execute(select(func.max(plan_versions.c.version)).where(plan_versions.c.plan_id == plan_id)).scalar()
        if latest is None:
            msg = f"no plan with id {plan_id}"
            raise NotFound(msg)
        v = latest if version is None else version
        row = conn.execute(select(plan_versions).where(plan_versions.c.plan_id == plan_id,
                                                       plan_versions.c.version == v)).first()
        if row is None:
            msg = f"plan {plan_id} has no version {v} (versions 1 to {latest})"
            raise NotFound(msg)
        if latest_only and v != latest:
            msg = f"plan {plan_id}: version {v} is stale; the latest is {latest}"
            raise Conflict(msg)
        return row

    @staticmethod
    def _summary(row) -> dict:
        return {"id": row.plan_id, "version": row.version, "status": row.status, "sha256": row.sha256,
                "author": row.author, "created_at": row.created_at, "lights": json.loads(row.lights),
                "checked_by": row.checked_by, "checked_at": row.checked_at,
                "approved_by": row.approved_by, "approved_at": row.approved_at}

    # -- plans -----------------------------------------------------------------------------
    def create_plan(self, user: User, data: object) -> dict:
        """Store a new plan as version 1 (``draft``).

        Raises
        ------
        Forbidden, Unprocessable
        """
        require_role(user, "engineer", "creating a plan")
        plan, _ = self._parse(data)
        name = str(plan.meta.get("name") or plan.meta.get("method") or "plan")
        with self.engine.begin() as conn:
            plan_id = conn.execute(insert(plans).values(name=name, author=user.name, created_at=now())).inserted_primary_key[0]
            row = self._insert_version(conn, user, plan_id, 1, plan, data)
            self._audit(conn, user, "create", "ok", f"plan {plan_id} {name!r} version 1", plan_id=plan_id,
                        to_version=1, tls=plan.tls_ids, sha256=row["sha256"])
        return {"id": plan_id, "version": 1, "status": "draft", "sha256": row["sha256"]}

    def _insert_version(self, conn, user: User, plan_id: int, version: int, plan: NetworkPlan, data: dict) -> dict:
        row = {"plan_id": plan_id, "version": version, "body": json.dumps(plans_to_dict(plan)),
               "sha256": plan_sha256(plan), "lights": json.dumps(list(plan.tls_ids)), "author": user.name,
               "created_at": now(), "status": "draft"}
        conn.execute(insert(plan_versions).values(**row))
        return row

    def add_version(self, user: User, plan_id: int, data: object, base_version: int | None = None) -> dict:
        """Store a new version of a plan (``draft``); ``base_version``, if given, must be the latest.

        Raises
        ------
        Forbidden, NotFound, Conflict, Unprocessable
        """
        require_role(user, "engineer", "adding a plan version")
        plan, _ = self._parse(data)
        try:
            with self.engine.begin() as conn:
                latest = self._version_row(conn, plan_id, base_version, latest_only=True)
                v = latest.version + 1
                row = self._insert_version(conn, user, plan_id, v, plan, data)
                self._audit(conn, user, "version", "ok", f"plan {plan_id} version {v}", plan_id=plan_id,
                            from_version=latest.version, to_version=v, tls=plan.tls_ids, sha256=row["sha256"])
        except IntegrityError as exc:
            msg = f"plan {plan_id}: another version was added at the same time; read it and try again"
            raise Conflict(msg) from exc
        return {"id": plan_id, "version": v, "status": "draft", "sha256": row["sha256"]}

    def list_plans(self) -> list[dict]:
        """Every plan with its latest version's status."""
        with self.reads.connect() as conn:
            rows = conn.execute(select(plans).order_by(plans.c.id)).all()
            out = []
            for p in rows:
                latest = self._version_row(conn, p.id, None)
                out.append({"id": p.id, "name": p.name, "author": p.author, "created_at": p.created_at,
                            "latest_version": latest.version, "status": latest.status,
                            "lights": json.loads(latest.lights)})
        return out

    def get_plan(self, plan_id: int) -> dict:
        """A plan and a summary of each of its versions.

        Raises
        ------
        NotFound
        """
        with self.reads.connect() as conn:
            p = conn.execute(select(plans).where(plans.c.id == plan_id)).first()
            if p is None:
                msg = f"no plan with id {plan_id}"
                raise NotFound(msg)
            rows = conn.execute(select(plan_versions).where(plan_versions.c.plan_id == plan_id)
                                .order_by(plan_versions.c.version)).all()
        versions = [self._summary(r) for r in rows]
        return {"id": p.id, "name": p.name, "author": p.author, "created_at": p.created_at,
                "latest_version": versions[-1]["version"], "status": versions[-1]["status"],
                "lights": versions[-1]["lights"], "versions": versions}

    def get_version(self, plan_id: int, version: int) -> dict:
        """One version: its summary, its plan JSON and its last check result.

        Raises
        ------
        NotFound
        """
        with self.reads.connect() as conn:
            row = self._version_row(conn, plan_id, version)
        return {**self._summary(row), "plan": json.loads(row.body),
                "check": json.loads(row.check_result) if row.check_result else None}

    def _plan_of(self, row) -> NetworkPlan:
        return plans_from_dict(json.loads(row.body), source=f"plan {row.plan_id} version {row.version}")

    def diff(self, plan_id: int, a: int, b: int) -> dict:
        """Per light, period and phase, what changes from version ``a`` to ``b`` (seconds, states).

        Raises
        ------
        NotFound
        """
        with self.reads.connect() as conn:
            pa, pb = (self._plan_of(self._version_row(conn, plan_id, v)) for v in (a, b))
        out = []
        for period in dict.fromkeys([p.name for p in pa.periods] + [p.name for p in pb.periods]):
            ta = next((p.by_tls for p in pa.periods if p.name == period), {})
            tb = next((p.by_tls for p in pb.periods if p.name == period), {})
            for tls in sorted(set(ta) | set(tb)):
                changes = _plan_changes(ta.get(tls), tb.get(tls))
                if changes:
                    out.append({"tls": tls, "period": period, "changes": changes})
        return {"id": plan_id, "from": a, "to": b, "lights": out}

    # -- lifecycle -------------------------------------------------------------------------
    def check(self, user: User, plan_id: int, version: int | None = None) -> dict:
        """Run the safety gate on a version; a safe draft becomes ``checked``.

        Raises
        ------
        Forbidden, NotFound, Conflict
        """
        require_role(user, "engineer", "checking a plan")
        with self.engine.begin() as conn:
            row = self._version_row(conn, plan_id, version, latest_only=version is not None)
            try:
                found = require_safe(self._plan_of(row), self.network, self.profile, source="The plan")
                result = {"safe": True, "errors": [], "warnings": [str(v) for v in found]}
            except (UnsafePlanError, ValidationError) as exc:
                result = {"safe": False, "errors": exc.problems or [str(exc)], "warnings": []}
            status = row.status
            if row.status in ("draft", "checked"):
                status = "checked" if result["safe"] else "draft"
            conn.execute(update(plan_versions).where(plan_versions.c.plan_id == plan_id,
                                                     plan_versions.c.version == row.version)
                         .values(status=status, check_result=json.dumps(result), checked_by=user.name,
                                 checked_at=now()))
            self._audit(conn, user, "check", "ok" if result["safe"] else "refused",
                        f"{len(result['errors'])} error(s), {len(result['warnings'])} warning(s)",
                        plan_id=plan_id, to_version=row.version, tls=json.loads(row.lights), sha256=row.sha256)
        return {"id": plan_id, "version": row.version, "status": status, **result}

    def approve(self, user: User, plan_id: int, version: int | None = None) -> dict:
        """Approve a checked version (an operator other than its author).

        Raises
        ------
        Forbidden, NotFound, Conflict
        """
        require_role(user, "operator", "approving a plan")
        with self.engine.begin() as conn:
            row = self._version_row(conn, plan_id, version, latest_only=True)
            if row.author == user.name:
                msg = f"{user.name!r} wrote plan {plan_id} version {row.version}; another operator must approve it"
                raise Forbidden(msg)
            done = conn.execute(update(plan_versions).where(
                plan_versions.c.plan_id == plan_id, plan_versions.c.version == row.version,
                plan_versions.c.status == "checked").values(status="approved", approved_by=user.name,
                                                            approved_at=now())).rowcount
            if not done:
                msg = f"plan {plan_id} version {row.version} is {row.status}; only a checked version can be approved"
                raise Conflict(msg)
            self._audit(conn, user, "approve", "ok", f"approved by {user.name}", plan_id=plan_id,
                        to_version=row.version, tls=json.loads(row.lights), sha256=row.sha256)
        return {"id": plan_id, "version": row.version, "status": "approved", "approved_by": user.name}

    def push(self, user: User, plan_id: int, target: str, *, force: bool = False, version: int | None = None,
             tls: list[str] | None = None) -> dict:
        """Push an approved, safe version (or some of its lights) to a target.

        Raises
        ------
        Forbidden, NotFound, Conflict, Unprocessable, TargetFailed
        """
        require_role(user, "operator", "pushing a plan")
        with self.reads.connect() as conn:
            row = self._version_row(conn, plan_id, version)
        if row.status not in _PUSHABLE:
            msg = f"plan {plan_id} version {row.version} is {row.status}; only an approved version can be pushed"
            raise Conflict(msg)
        plan = self._plan_of(row)
        chosen = set(plan.tls_ids if not tls else tls)
        unknown = sorted(chosen - set(plan.tls_ids))
        if unknown:
            msg = f"plan {plan_id} version {row.version} has no plan for {', '.join(unknown)}; it has {', '.join(plan.tls_ids)}"
            raise Unprocessable(msg)
        group = _coordinated(plan)
        left_out = sorted(group - chosen) if chosen & group else []
        if left_out and not force:
            msg = (f"{', '.join(sorted(chosen & group))} is coordinated with {', '.join(left_out)}: push them together, "
                   f"or force the push")
            self._audit_alone(user, "push", "refused", msg, plan_id=plan_id, to_version=row.version, tls=chosen,
                              sha256=row.sha256)
            raise Conflict(msg)
        return self._push(user, restrict(plan, chosen), row, target, forced=bool(left_out), kind="push")

    def _running(self, conn, tls: set[str]) -> dict[str, SignalPlan]:
        """The plan of ours each light runs (its first period's), from the store."""
        out = {}
        rows = conn.execute(select(lights).where(lights.c.tls.in_(tls), lights.c.active_plan_id.is_not(None))).all()
        for light in rows:
            vrow = self._version_row(conn, light.active_plan_id, light.active_version)
            p = next((x for _, x in self._plan_of(vrow).all_plans() if x.tls == light.tls), None)
            if p is not None:
                out[light.tls] = p
        return out

    def _push(self, user: User, plan: NetworkPlan, row, target: str, *, forced: bool, kind: str,
              restores: int | None = None) -> dict:
        tls = set(plan.tls_ids)
        try:
            dest = self._target(target)
        except ValidationError as exc:
            raise Unprocessable(str(exc), exc.problems or [str(exc)]) from exc
        with self.reads.connect() as conn:
            running = self._running(conn, tls)
        try:
            require_safe(plan, self.network, self.profile, source=f"Plan {row.plan_id} version {row.version}",
                         running=running)
        except (UnsafePlanError, ValidationError) as exc:
            self._audit_alone(user, kind, "refused", str(exc).splitlines()[0], plan_id=row.plan_id,
                              to_version=row.version, tls=tls, sha256=row.sha256)
            raise Unprocessable(str(exc).splitlines()[0], exc.problems or [str(exc)]) from exc
        sha = plan_sha256(plan)
        try:
            with self.engine.begin() as conn:
                push_id = conn.execute(insert(pushes).values(
                    plan_id=row.plan_id, version=row.version, kind=kind, restores_push_id=restores, target=target,
                    user=user.name, forced=forced, status="in-flight", started_at=now(), sha256=sha)).inserted_primary_key[0]
                conn.execute(insert(push_lights), [{"push_id": push_id, "tls": t} for t in sorted(tls)])
                locked = conn.execute(update(lights).where(lights.c.tls.in_(tls), lights.c.busy_push_id.is_(None))
                                      .values(busy_push_id=push_id)).rowcount
                if locked != len(tls):
                    raise Conflict("busy")
                self._audit(conn, user, kind, "forced" if forced else "started", f"to {target}", plan_id=row.plan_id,
                            to_version=row.version, tls=tls, sha256=sha)
        except Conflict:
            msg = f"another push to {', '.join(sorted(tls))} is in flight; wait for it and try again"
            self._audit_alone(user, kind, "refused", msg, plan_id=row.plan_id, to_version=row.version, tls=tls,
                              sha256=sha)
            raise Conflict(msg) from None
        try:
            ack = dest.push(plan)
        except TargetError as exc:
            self._finish(push_id, user, ok=False, message=str(exc))
            error = Unprocessable if exc.refused else TargetFailed
            raise error(f"push failed: {exc}", exc.problems) from exc
        self._finish(push_id, user, ok=True, message=ack.message, acked=ack.lights)
        return {"push_id": push_id, "id": row.plan_id, "version": row.version, "status": "acknowledged",
                "lights": ack.lights, "forced": forced, "target": target}

    def _finish(self, push_id: int, user: User, *, ok: bool, message: str, acked: dict | None = None,
                action: str | None = None) -> None:
        """Record a push acknowledged (the lights' active plan moves) or failed (it does not)."""
        with self.engine.begin() as conn:
            p = conn.execute(select(pushes).where(pushes.c.id == push_id)).first()
            tls = list(conn.execute(select(push_lights.c.tls).where(push_lights.c.push_id == push_id)).scalars())
            conn.execute(update(pushes).where(pushes.c.id == push_id).values(
                status="acknowledged" if ok else "failed", finished_at=now(), message=message))
            free = update(lights).where(lights.c.tls.in_(tls), lights.c.busy_push_id == push_id)
            if ok:
                before = conn.execute(select(lights.c.active_plan_id, lights.c.active_version)
                                      .where(lights.c.tls.in_(tls), lights.c.active_plan_id.is_not(None))).all()
                for t, s in (acked or {}).items():
                    conn.execute(update(push_lights).where(push_lights.c.push_id == push_id, push_lights.c.tls == t)
                                 .values(sha256=s))
                conn.execute(free.values(busy_push_id=None, active_plan_id=p.plan_id, active_version=p.version,
                                         active_push_id=push_id, target=p.target, last_push_failed=False,
                                         updated_at=now()))
                conn.execute(update(plan_versions).where(plan_versions.c.plan_id == p.plan_id,
                                                         plan_versions.c.version == p.version).values(status="active"))
                for old in set(map(tuple, before)) - {(p.plan_id, p.version)}:
                    still = conn.execute(select(func.count()).select_from(lights).where(
                        lights.c.active_plan_id == old[0], lights.c.active_version == old[1])).scalar()
                    if not still:
                        conn.execute(update(plan_versions).where(and_(
                            plan_versions.c.plan_id == old[0], plan_versions.c.version == old[1])).values(
                            status="rolled_back" if p.kind == "rollback" else "superseded"))
            else:
                conn.execute(free.values(busy_push_id=None, last_push_failed=True, updated_at=now()))
            self._audit(conn, user, action or p.kind, "acknowledged" if ok else "failed",
                        message or f"to {p.target}", plan_id=p.plan_id, to_version=p.version, tls=tls,
                        sha256=p.sha256)

    def rollback(self, user: User, tls: str, *, force: bool = False) -> dict:
        """Push a light's previous acknowledged plan back to its target.

        Raises
        ------
        Forbidden, NotFound, Conflict, Unprocessable, TargetFailed
        """
        require_role(user, "operator", "rolling back a light")
        with self.reads.connect() as conn:
            light = self._light_row(conn, tls)
            if light.active_push_id is None:
                msg = f"light {tls!r} runs no plan pushed by this service; there is nothing to roll back"
                raise Conflict(msg)
            current = conn.execute(select(pushes).where(pushes.c.id == light.active_push_id)).first()
            base = current.restores_push_id if current.kind == "rollback" else current.id
            prev = conn.execute(
                select(pushes).join(push_lights, push_lights.c.push_id == pushes.c.id)
                .where(push_lights.c.tls == tls, pushes.c.status == "acknowledged", pushes.c.id < base)
                .order_by(pushes.c.id.desc()).limit(1)).first()
            if prev is None:
                msg = f"light {tls!r} has no earlier acknowledged plan to roll back to"
                raise Conflict(msg)
            row = self._version_row(conn, prev.plan_id, prev.version)
            others = set(conn.execute(select(lights.c.tls).where(
                lights.c.active_plan_id == prev.plan_id, lights.c.active_version == prev.version)).scalars())
        plan = self._plan_of(row)
        left_out = sorted((_coordinated(plan) - {tls}) - others) if tls in _coordinated(plan) else []
        if left_out and not force:
            msg = (f"{tls} would run plan {prev.plan_id} version {prev.version}, coordinated with {', '.join(left_out)} "
                   f"which run other plans: force the rollback to restore {tls} alone")
            self._audit_alone(user, "rollback", "refused", msg, plan_id=prev.plan_id, to_version=prev.version,
                              tls={tls}, sha256=row.sha256)
            raise Conflict(msg)
        restores = prev.restores_push_id if prev.kind == "rollback" else prev.id
        return self._push(user, restrict(plan, {tls}), row, light.target, forced=bool(left_out), kind="rollback",
                          restores=restores)

    # -- lights, audit, recovery -----------------------------------------------------------
    def _light_row(self, conn, tls: str):
        light = conn.execute(select(lights).where(lights.c.tls == tls)).first()
        if light is None:
            msg = f"no traffic light {tls!r} in the network"
            raise NotFound(msg)
        return light

    def lights_status(self) -> list[dict]:
        """Every light: its status, active plan and target."""
        with self.reads.connect() as conn:
            rows = conn.execute(select(lights).order_by(lights.c.tls)).all()
            waiting = set()
            for v in conn.execute(select(plan_versions.c.lights).where(plan_versions.c.status.in_(("checked", "approved")))):
                waiting.update(json.loads(v.lights))
            pushed = {r.id: r for r in conn.execute(select(pushes).where(
                pushes.c.id.in_([x.active_push_id for x in rows if x.active_push_id])))}
        return [self._light_json(r, waiting, pushed.get(r.active_push_id)) for r in rows]

    @staticmethod
    def _light_json(r, waiting: set[str], push) -> dict:
        status = ("push-failed" if r.last_push_failed else "pending-approval" if r.tls in waiting
                  else "active" if r.active_push_id else "none")
        active = None if r.active_push_id is None else {
            "id": r.active_plan_id, "version": r.active_version, "push_id": r.active_push_id,
            "sha256": push.sha256 if push else None, "since": push.finished_at if push else None}
        return {"tls": r.tls, "status": status, "active": active, "target": r.target,
                "push_in_flight": r.busy_push_id}

    def light(self, tls: str) -> dict:
        """One light: as in :meth:`lights_status`, what its target reports it runs, and its history.

        Raises
        ------
        NotFound
        """
        with self.reads.connect() as conn:
            r = self._light_row(conn, tls)
            history = conn.execute(
                select(pushes, push_lights.c.sha256.label("light_sha256"))
                .join(push_lights, push_lights.c.push_id == pushes.c.id)
                .where(push_lights.c.tls == tls).order_by(pushes.c.id.desc())).all()
        status = next(x for x in self.lights_status() if x["tls"] == tls)
        reported = None
        if r.target:
            try:
                report = self._target(r.target).running().get(tls)
                reported = None if report is None else {"sha256": report.sha256, "pending": report.pending,
                                                        "controller": report.controller}
            except (TargetError, ValidationError) as exc:
                reported = {"error": str(exc)}
        return {**status, "reported": reported, "history": [
            {"push_id": h.id, "id": h.plan_id, "version": h.version, "kind": h.kind, "user": h.user,
             "status": h.status, "forced": h.forced, "started_at": h.started_at, "finished_at": h.finished_at,
             "sha256": h.light_sha256, "target": h.target, "message": h.message} for h in history]}

    def targets_report(self) -> list[dict]:
        """Every push target of the lights, asked at once: its lights, what it reports each runs, or its error."""
        with self.reads.connect() as conn:
            rows = conn.execute(select(lights.c.tls, lights.c.target).where(lights.c.target.is_not(None))).all()
        by_target: dict[str, list[str]] = {}
        for r in rows:
            by_target.setdefault(r.target, []).append(r.tls)

        def ask(url: str) -> dict:
            out = {"target": url, "lights": sorted(by_target[url]), "error": None, "reported": {}}
            try:
                reports = self._target(url).running()
            except Exception as exc:  # an outside system: whatever it answers, name it in the report, never a 500
                return {**out, "error": str(exc) or type(exc).__name__}
            out["reported"] = {t: {"sha256": reports[t].sha256, "pending": reports[t].pending,
                                   "controller": reports[t].controller} for t in out["lights"] if t in reports}
            return out

        if not by_target:
            return []
        with ThreadPoolExecutor(max_workers=min(8, len(by_target))) as pool:
            return list(pool.map(ask, sorted(by_target)))

    def audit_entries(self, *, tls: str | None = None, since: str | None = None, user: str | None = None,
                      action: str | None = None) -> list[dict]:
        """Audit lines, oldest first, filtered by light, time (ISO 8601, inclusive), user and action."""
        q = select(audit).order_by(audit.c.id)
        if tls:
            q = q.where(audit.c.lights.like(f"%,{tls},%"))
        if since:
            q = q.where(audit.c.at >= since)
        if user:
            q = q.where(audit.c.user == user)
        if action:
            q = q.where(audit.c.action == action)
        with self.reads.connect() as conn:
            rows = conn.execute(q).all()
        return [{**dict(r._mapping), "lights": [x for x in r.lights.split(",") if x]} for r in rows]

    def reconcile(self) -> list[dict]:
        """Settle the pushes left in flight by a crash with what their targets report; return them."""
        system = User("(service)", "admin", 0)
        with self.reads.connect() as conn:
            flying = conn.execute(select(pushes).where(pushes.c.status == "in-flight").order_by(pushes.c.id)).all()
        out = []
        for p in flying:
            with self.reads.connect() as conn:
                plan = self._plan_of(self._version_row(conn, p.plan_id, p.version))
                tls = list(conn.execute(select(push_lights.c.tls).where(push_lights.c.push_id == p.id)).scalars())
            expected = _light_shas(restrict(plan, set(tls)))
            try:
                reports = self._target(p.target).running()
                seen = {t: r.pending or r.sha256 for t, r in reports.items() if t in expected}
                ok = all(reports.get(t) is not None and {reports[t].sha256, reports[t].pending} & expected[t]
                         for t in tls)
                message = "the target runs it" if ok else f"the target does not run it (reports {seen})"
            except (TargetError, ValidationError) as exc:
                ok, message = False, f"the target could not be asked: {exc}"
            acked = {t: next(iter({reports[t].sha256, reports[t].pending} & expected[t])) for t in tls} if ok else None
            self._finish(p.id, system, ok=ok, message=f"after a restart: {message}", acked=acked, action="reconcile")
            out.append({"push_id": p.id, "acknowledged": ok, "message": message})
        return out


def _plan_changes(a: SignalPlan | None, b: SignalPlan | None) -> list[dict]:
    if a is None or b is None:
        return [{"field": "plan", "phase": None, "from": None if a is None else "present",
                 "to": None if b is None else "present"}]
    out = [{"field": f, "phase": None, "from": getattr(a, f), "to": getattr(b, f)}
           for f in ("cycle_s", "offset_s") if getattr(a, f) != getattr(b, f)]
    for i in range(max(len(a.phases), len(b.phases))):
        pa = a.phases[i] if i < len(a.phases) else None
        pb = b.phases[i] if i < len(b.phases) else None
        for f in PHASE_FIELDS:
            va, vb = getattr(pa, f, None), getattr(pb, f, None)
            if va != vb:
                out.append({"field": f, "phase": i, "from": va, "to": vb})
    return out
