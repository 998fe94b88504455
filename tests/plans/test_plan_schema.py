"""The published plan JSON Schema (citybrain/plans/plan.schema.json) is the reader's and writer's contract."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans.formats import plans_from_network
from citybrain.plans.formats.json import plan_schema, plans_from_dict, plans_to_dict

ROOT = Path(__file__).resolve().parents[2]
NET = graph_from_sumo_net(ROOT / "networks" / "arterial5.net.xml")
SCHEMA = plan_schema()


def _written() -> dict:
    data = plans_to_dict(plans_from_network(NET))
    data["schedule"] = [{"start": "06:30", "period": data["periods"][0]["name"]}]
    return data


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _levels(data: dict):
    """(level name, schema node, one written object) for every object level of the file."""
    period = data["periods"][0]
    plan = period["plans"][0]
    props = SCHEMA["properties"]
    yield "File", SCHEMA, data
    yield "Schedule entry", props["schedule"]["items"], data["schedule"][0]
    yield "Period", props["periods"]["items"], period
    yield "Plan (one light)", _resolve(props["periods"]["items"]["properties"]["plans"]["items"]), plan
    yield "Phase", _resolve(SCHEMA["$defs"]["signal_plan"]["properties"]["phases"]["items"]), plan["phases"][0]


def _errors(value, node: dict, where: str = "$") -> list[str]:
    """A validator for the subset of JSON Schema the plan schema uses (jsonschema is not a dependency)."""
    node = _resolve(node)
    out = []
    if "const" in node and value != node["const"]:
        out.append(f"{where}: expected {node['const']!r}")
    if "oneOf" in node and sum(not _errors(value, n, where) for n in node["oneOf"]) != 1:
        out.append(f"{where}: matches not exactly one of oneOf")
    kind = node.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
             "null": type(None)}
    if kind and (not isinstance(value, types[kind]) or (kind in ("integer", "number") and isinstance(value, bool))):
        return [*out, f"{where}: expected {kind}"]
    if isinstance(value, (int, float)) and "minimum" in node and value < node["minimum"]:
        out.append(f"{where}: below {node['minimum']}")
    if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
        out.append(f"{where}: does not match {node['pattern']}")
    if isinstance(value, dict):
        out += [f"{where}: missing {k}" for k in node.get("required", ()) if k not in value]
        for k, v in value.items():
            if k in node.get("properties", {}):
                out += _errors(v, node["properties"][k], f"{where}.{k}")
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            out.append(f"{where}: fewer than {node['minItems']} items")
        out += [e for i, v in enumerate(value) for e in _errors(v, node.get("items", {}), f"{where}[{i}]")]
    return out


def test_the_schema_is_shipped_and_the_written_plan_follows_it():
    data = _written()
    assert _errors(data, SCHEMA) == []
    broken = copy.deepcopy(data)
    broken["periods"][0]["plans"][0]["phases"][0]["green_s"] = "forty"
    del broken["periods"][0]["plans"][0]["tls"]
    assert _errors(broken, SCHEMA) == ["$.periods[0].plans[0]: missing tls",
                                       "$.periods[0].plans[0].phases[0].green_s: expected number"]


def test_the_writer_writes_exactly_the_schemas_fields():
    for level, node, written in _levels(_written()):
        assert set(written) == set(node["properties"]), level


@pytest.mark.parametrize("level", ["File", "Schedule entry", "Period", "Plan (one light)", "Phase"])
def test_the_reader_requires_what_the_schema_requires_and_no_more(level):
    data = _written()
    node = next(n for name, n, _ in _levels(data) if name == level)
    for field in node["properties"]:
        if level == "File" and field in ("schema", "version"):
            continue  # a const: its absence reads as a wrong value
        copy_ = copy.deepcopy(data)
        obj = next(o for name, _, o in _levels(copy_) if name == level)
        del obj[field]
        if field in node.get("required", ()):
            with pytest.raises(ValidationError, match=re.escape(field)):
                plans_from_dict(copy_, source="plan.json", network=NET)
        else:
            plans_from_dict(copy_, source="plan.json", network=NET)


def test_formats_doc_lists_the_schemas_fields_by_level():
    doc = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")
    section = doc.split("## Plan JSON", 1)[1]
    for level, node, _ in _levels(_written()):
        line = next(x for x in section.splitlines() if x.startswith(f"- {level}:"))
        required, _, optional = line.partition("; optional")
        assert re.findall(r"`(\w+)`", required) == list(node.get("required", [])), level
        assert set(re.findall(r"`(\w+)`", optional)) == set(node["properties"]) - set(node.get("required", [])), level
