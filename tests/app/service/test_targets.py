"""Push targets: a real paced twin behind its HTTP endpoint, and atomic file exports."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace

import pytest

from citybrain.app.service import targets
from citybrain.app.service.targets import FileTarget, LiveTwinTarget, TargetError, target_for
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPeriod, ScheduleEntry, plans_from_dict
from citybrain.plans.formats import plan_sha256, read_sumo_additional
from citybrain.plans.formats.sumo import plans_from_network
from simulation import RunSpec, Twin, load_scenario
from simulation.live import PlanServer

from ...conftest import NETWORKS
from ...simulation.test_live import DEMO, J3, optimised  # noqa: F401 - the fixture is used by name


ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unsafe(plan: dict) -> NetworkPlan:
    """The optimised plan with J3's first phase green on every link (conflicting greens)."""
    bad = json.loads(json.dumps(plan))
    j3 = next(p for p in bad["periods"][0]["plans"] if p["tls"] == J3)
    j3["phases"][0]["state"] = "G" * len(j3["phases"][0]["state"])
    return plans_from_dict(bad)


@pytest.fixture(scope="module")
def pushed(optimised, tmp_path_factory) -> dict:  # noqa: F811
    """A 5-min demo twin paced at 50x; at t = 20 s a safe and an unsafe plan go through LiveTwinTarget."""
    seen: dict = {}

    def hook(twin: Twin, t: float) -> None:
        if t != 20.0:
            return
        target = seen["target"]
        try:
            target.push(_unsafe(optimised))
        except TargetError as exc:
            seen["unsafe"] = exc
        seen["ack"] = target.push(plans_from_dict(optimised))
        seen["pending"] = target.running()

    spec = RunSpec(replace(load_scenario(DEMO), end_s=300.0), realtime=50.0)
    twin = Twin(spec, tmp_path_factory.mktemp("pushed"), on_step=hook)
    with PlanServer(twin, 0) as server:
        seen["target"] = target_for(f"http://127.0.0.1:{server.port}", export_dir=None, timeout_s=10)
        seen["result"] = twin.run()
        seen["running"] = seen["target"].running()
    return seen


@pytest.mark.sumo
def test_a_safe_plan_is_acknowledged_pending_then_running(pushed, optimised):  # noqa: F811
    plan = plans_from_dict(optimised)
    expected = {p.tls: plan_sha256(p) for p in plan.periods[0].plans}
    assert isinstance(pushed["target"], LiveTwinTarget)
    assert pushed["ack"].lights == expected and "cycle boundary" in pushed["ack"].message
    assert {t: r.pending for t, r in pushed["pending"].items()} == expected
    assert all(r.sha256 != expected[t] and r.controller for t, r in pushed["pending"].items())
    assert {t: (r.sha256, r.pending) for t, r in pushed["running"].items()} == {t: (s, None) for t, s in expected.items()}
    assert sorted(a.tls for a in pushed["result"].plans_applied) == sorted(expected)


@pytest.mark.sumo
def test_an_unsafe_plan_is_refused_with_the_twins_problems(pushed):
    exc = pushed["unsafe"]
    assert exc.refused is True and "refused the plan" in exc.message and "unsafe" in exc.message
    assert exc.problems and all(p.startswith("error: tls J3") for p in exc.problems)
    assert any(": conflict: " in p for p in exc.problems)


def test_a_dead_port_is_unreachable_naming_the_url(optimised):  # noqa: F811
    url = f"http://127.0.0.1:{_free_port()}"
    target = target_for(url, export_dir=None, timeout_s=2)
    for call in (lambda: target.push(plans_from_dict(optimised)), target.running):
        with pytest.raises(TargetError, match=f"No twin answers at {url}") as info:
            call()
        assert info.value.refused is False and info.value.problems == [info.value.message]


@pytest.mark.parametrize(("url", "match"), [
    ("", "expected a URL"),
    ("ftp://127.0.0.1:21", "unknown scheme 'ftp'"),
    ("http://127.0.0.1", "HOST:PORT with no path"),
    ("http://127.0.0.1:8765/plans", "HOST:PORT with no path"),
    ("http://127.0.0.1:99999", "not a valid URL"),
    ("file://host/x/a.json", "no host"),
    ("file:///EXPORT/a.txt", r"ending in \.utdf\.csv, \.ntcip\.json, \.add\.xml or \.json"),
    ("file:///EXPORT/../outside.json", "lies outside the export folder"),
    ("file:///etc/plan.json", "lies outside the export folder"),
])
def test_bad_urls_are_validation_errors(tmp_path, url, match):
    with pytest.raises(ValidationError, match=match):
        target_for(url.replace("/EXPORT", str(tmp_path)), export_dir=tmp_path, timeout_s=1, network=ART)


def test_file_targets_are_off_without_an_export_folder(tmp_path):
    with pytest.raises(ValidationError, match="file targets are off"):
        target_for((tmp_path / "a.json").as_uri(), export_dir=None, timeout_s=1, network=ART)


@pytest.fixture(scope="module")
def two_periods() -> NetworkPlan:
    """The arterial's own programs as an "am" period, and the same with offsets +10 s as "pm"."""
    am = plans_from_network(graph_from_sumo_net(NETWORKS / "arterial5.net.xml")).periods[0].plans
    pm = tuple(replace(p, offset_s=(p.offset_s + 10.0) % p.cycle_s) for p in am)
    return NetworkPlan((PlanPeriod("am", am), PlanPeriod("pm", pm)),
                       (ScheduleEntry(0.0, "am"), ScheduleEntry(12 * 3600.0, "pm")))


@pytest.mark.parametrize("name", ["plan.json", "sub/plan.add.xml"])
def test_a_file_target_writes_acks_and_reads_back_the_first_period(tmp_path, two_periods, name):
    target = target_for((tmp_path / name).as_uri(), export_dir=tmp_path, timeout_s=1, network=ART)
    assert isinstance(target, FileTarget) and target.running() == {}  # no file yet
    ack = target.push(two_periods)
    first = {p.tls: plan_sha256(p) for p in two_periods.periods[0].plans}
    assert ack.lights == first and first != {p.tls: plan_sha256(p) for p in two_periods.periods[1].plans}
    assert {t: (r.sha256, r.pending, r.controller) for t, r in target.running().items()} == {
        t: (s, None, "file") for t, s in first.items()}
    if name.endswith(".add.xml"):
        back = read_sumo_additional(tmp_path / name)
        assert [p.name for p in back.periods] == ["am", "pm"]
        assert (tmp_path / (name + ".json")).is_file()
    files = {target.path.name} | ({target.path.name + ".json"} if name.endswith(".add.xml") else set())
    assert set(os.listdir(target.path.parent)) == files  # no temporary file left


def test_a_file_is_replaced_atomically_and_a_failed_write_keeps_the_old_one(tmp_path, two_periods, monkeypatch):
    target = FileTarget(tmp_path / "plan.json", export_dir=tmp_path, network=ART)
    target.push(two_periods)
    before, inode = (tmp_path / "plan.json").read_text(), (tmp_path / "plan.json").stat().st_ino
    one = NetworkPlan((two_periods.periods[1],))
    target.push(one)
    assert (tmp_path / "plan.json").stat().st_ino != inode  # a new file renamed over the old one
    assert set(target.running()) == set(one.tls_ids)

    def half_written(plan, network, path):
        path.write_text(before[: len(before) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(targets.WRITERS, ".json", half_written)
    after = (tmp_path / "plan.json").read_text()
    with pytest.raises(TargetError, match="cannot write .*plan.json: No space left on device") as info:
        target.push(two_periods)
    assert info.value.refused is False
    assert (tmp_path / "plan.json").read_text() == after and os.listdir(tmp_path) == ["plan.json"]


def test_a_corrupt_file_is_a_target_error(tmp_path):
    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(TargetError, match="plan.json is no plan file"):
        FileTarget(tmp_path / "plan.json", export_dir=tmp_path, network=ART).running()


def test_a_symlink_out_of_the_export_folder_is_refused(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "link").symlink_to(tmp_path)
    with pytest.raises(ValidationError, match="lies outside the export folder"):
        FileTarget(tmp_path / "export" / "link" / "plan.json", export_dir=tmp_path / "export", network=ART)


@pytest.mark.parametrize("name", ["plan.utdf.csv", "plan.ntcip.json"])
def test_file_targets_write_the_controller_exports_with_a_plan_sidecar(tmp_path, two_periods, name):
    target = target_for((tmp_path / name).as_uri(), export_dir=tmp_path, timeout_s=1, network=ART)
    one = NetworkPlan((two_periods.periods[1],))
    ack = target.push(one)
    assert ack.lights == {p.tls: plan_sha256(p) for p in one.periods[0].plans}
    assert {t: r.sha256 for t, r in target.running().items()} == ack.lights  # read back from PATH.json
    text = (tmp_path / name).read_text()
    if name.endswith(".utdf.csv"):
        assert "[Timeplans]" in text and "[Phases]" in text
    else:
        assert json.loads(text)["format"] == "citybrain.ntcip1202"
    assert sorted(os.listdir(tmp_path)) == sorted([name, name + ".json"])


def test_a_plan_the_format_or_network_cannot_take_is_refused(tmp_path, two_periods):
    target = FileTarget(tmp_path / "plan.utdf.csv", export_dir=tmp_path, network=ART)
    with pytest.raises(TargetError, match="holds one period and the plan has 2") as info:
        target.push(two_periods)
    assert info.value.refused is True and os.listdir(tmp_path) == []
    other = plans_from_network(graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml"))
    with pytest.raises(TargetError, match="'A0', 'A1', 'B0', 'B1' not in network arterial5") as info:
        FileTarget(tmp_path / "plan.json", export_dir=tmp_path, network=ART).push(other)
    assert info.value.refused is True and os.listdir(tmp_path) == []


def test_file_targets_need_the_network(tmp_path):
    with pytest.raises(ValidationError, match="file targets need the road network"):
        target_for((tmp_path / "a.json").as_uri(), export_dir=tmp_path, timeout_s=1)
