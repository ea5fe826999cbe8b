"""The generated CRD: a valid, structural CustomResourceDefinition that accepts every example."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kaito.api import constants, crd

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
COMMITTED = ROOT / "config" / "crd" / "bases" / constants.WORKSPACE_CRD_FILE


@pytest.fixture(scope="module")
def workspace_crd() -> dict[str, Any]:
    return crd.build_workspace_crd()


def _schema(workspace_crd: dict[str, Any], version: str) -> dict[str, Any]:
    for entry in workspace_crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(version)


def _nodes(schema: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def test_crd_validates_as_a_custom_resource_definition(workspace_crd: dict[str, Any]) -> None:
    kubernetes_validate.validate(workspace_crd, kubernetes_validate.latest_version(), strict=True)


def test_rendered_yaml_round_trips_and_matches_committed_file() -> None:
    rendered = crd.render_crds()
    text = rendered[constants.WORKSPACE_CRD_FILE]
    assert "&id" not in text  # no YAML anchors
    assert yaml.safe_load(text) == crd.build_workspace_crd()
    assert COMMITTED.read_text() == text, "run `make crds`"


def test_names_scope_and_versions(workspace_crd: dict[str, Any]) -> None:
    spec = workspace_crd["spec"]
    assert workspace_crd["metadata"]["name"] == "workspaces.kaito.sh"
    assert spec["group"] == "kaito.sh"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["wk", "wks"]
    assert spec["names"]["categories"] == ["workspace"]
    assert (spec["names"]["kind"], spec["names"]["plural"]) == ("Workspace", "workspaces")
    versions = {v["name"]: v for v in spec["versions"]}
    assert set(versions) == {"v1alpha1", "v1beta1"}
    assert all(v["served"] and v["subresources"] == {"status": {}} for v in versions.values())
    assert [n for n, v in versions.items() if v["storage"]] == ["v1beta1"]
    assert "conversion" not in spec


def test_printer_columns_per_version(workspace_crd: dict[str, Any]) -> None:
    columns = {v["name"]: v["additionalPrinterColumns"] for v in workspace_crd["spec"]["versions"]}
    beta = [(c["name"], c["jsonPath"]) for c in columns["v1beta1"]]
    assert beta == [
        ("Instance", ".resource.instanceType"),
        ("ResourceReady", '.status.conditions[?(@.type=="ResourceReady")].status'),
        ("InferenceReady", '.status.conditions[?(@.type=="InferenceReady")].status'),
        ("JobStarted", '.status.conditions[?(@.type=="JobStarted")].status'),
        ("WorkspaceSucceeded", '.status.conditions[?(@.type=="WorkspaceSucceeded")].status'),
        ("TargetNodeCount", ".status.targetNodeCount"),
        ("State", ".status.state"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    alpha = {c["name"]: c for c in columns["v1alpha1"]}
    assert [c["name"] for c in columns["v1alpha1"] if "priority" not in c] == [
        "Instance",
        "ResourceReady",
        "InferenceReady",
        "JobStarted",
        "WorkspaceSucceeded",
        "Age",
    ]
    assert alpha["WorkspaceReady"]["priority"] == 1
    assert columns["v1beta1"][5]["type"] == "integer"


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_schema_is_structural(workspace_crd: dict[str, Any], version: str) -> None:
    schema = _schema(workspace_crd, version)
    preserved = []
    for path, node in _nodes(schema):
        for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "not", "$defs", "definitions"):
            assert forbidden not in node, f"{path} has {forbidden}"
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        assert "type" in node or preserve, f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            preserved.append(path)
            assert "properties" not in node
    expected = [
        ".inference.template",
        ".tuning.input.volumeSource",
        ".tuning.output.volumeSource",
        ".inference.adapters[].source.volumeSource",
    ]
    assert sorted(preserved) == sorted(expected)
    assert schema["properties"]["metadata"] == {"type": "object"}


def test_schema_carries_defaults_enums_required_and_descriptions(
    workspace_crd: dict[str, Any],
) -> None:
    beta = _schema(workspace_crd, "v1beta1")["properties"]
    alpha = _schema(workspace_crd, "v1alpha1")["properties"]
    assert beta["resource"]["properties"]["count"]["default"] == 1
    assert "default" not in beta["resource"]["properties"]["instanceType"]
    assert alpha["resource"]["properties"]["instanceType"]["default"] == "Standard_NC24ads_A100_v4"
    assert beta["resource"]["required"] == ["labelSelector"]
    assert beta["tuning"]["required"] == ["input", "output"]
    preset = beta["inference"]["properties"]["preset"]
    assert preset["required"] == ["name"]
    assert preset["properties"]["accessMode"] == {
        "default": "public",
        "description": preset["properties"]["accessMode"]["description"],
        "enum": ["public", "private"],
        "type": "string",
    }
    partition = beta["resource"]["properties"]["partition"]
    assert partition["properties"]["mode"]["enum"] == ["mig", "accelerator"]
    assert "partition" not in alpha["resource"]["properties"]
    assert "modelAccessSecret" in preset["properties"]["presetOptions"]["properties"]
    status = beta["status"]["properties"]
    assert {"workerNodes", "state", "conditions", "targetNodeCount", "performance"} <= set(status)
    assert status["conditions"]["items"]["properties"]["status"]["enum"] == [
        "True",
        "False",
        "Unknown",
    ]
    for path, node in _nodes(_schema(workspace_crd, "v1beta1")):
        if path.count(".") == 1 and path != ".metadata":
            assert node.get("description"), f"{path} lacks a description"


def _example_workspaces() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in EXAMPLES:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if isinstance(doc, dict) and doc.get("kind") == "Workspace":
                out.append((f"{path.name}#{index}", doc))
    return out


def test_examples_include_the_founding_document_and_a_dozen_more() -> None:
    names = [name for name, _ in _example_workspaces()]
    assert "seed_workspace_tuning_phi_3.yaml#0" in names
    assert len(names) >= 13


@pytest.mark.parametrize(
    ("name", "doc"), _example_workspaces(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_example_validates_against_generated_schema(
    workspace_crd: dict[str, Any], name: str, doc: dict[str, Any]
) -> None:
    version = doc["apiVersion"].split("/")[1]
    jsonschema.validate(doc, _schema(workspace_crd, version))


def _base() -> dict[str, Any]:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w"},
        "resource": {"instanceType": "x", "labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"preset": {"name": "phi-4"}},
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("resource", "count"), "one"),
        (("resource", "labelSelector"), None),
        (("resource", "labelSelector", "matchLabels"), {"a": 1}),
        (("resource", "partition"), {"mode": "time-slicing"}),
        (("resource", "partition"), {"mode": "accelerator", "count": 0}),
        (("inference", "preset", "accessMode"), "shared"),
        (("inference", "preset", "name"), None),
        (("inference", "adapters"), {"source": {}}),
        (("tuning",), {"method": "lora", "input": {"urls": "https://x"}, "output": {}}),
        (("tuning",), {"method": "lora", "output": {}}),
        (
            ("status",),
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "Maybe",
                        "reason": "R",
                        "message": "",
                        "lastTransitionTime": "t",
                    }
                ]
            },
        ),
        (
            ("status",),
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "bad reason",
                        "message": "",
                        "lastTransitionTime": "t",
                    }
                ]
            },
        ),
        (("status", "targetNodeCount"), "3"),
    ],
)
def test_invalid_document_fails_schema_validation(
    workspace_crd: dict[str, Any], path: tuple[str, ...], value: Any
) -> None:
    doc = copy.deepcopy(_base())
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema(workspace_crd, "v1beta1"))
