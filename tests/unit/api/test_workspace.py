"""Parsing Workspaces: version dispatch, unknown fields with paths, wire round trips, conversion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from kaito.api import constants, v1alpha1, v1beta1
from kaito.api.workspace import (
    WorkspaceParseError,
    dump_workspace,
    is_workspace_document,
    parse_workspace,
    to_v1beta1,
    workspace_runtime,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _doc(version: str = "v1beta1", **extra: object) -> dict[str, object]:
    return {
        "apiVersion": f"kaito.sh/{version}",
        "kind": "Workspace",
        "metadata": {"name": "ws"},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"a": "b"}},
        },
        **extra,
    }


def _issues(doc: object) -> list[tuple[str, str]]:
    with pytest.raises(WorkspaceParseError) as info:
        parse_workspace(doc)  # type: ignore[arg-type]
    return [(i.field, i.message) for i in info.value.issues]


def test_dispatches_on_api_version() -> None:
    assert isinstance(parse_workspace(_doc("v1alpha1")), v1alpha1.Workspace)
    assert isinstance(parse_workspace(_doc("v1beta1")), v1beta1.Workspace)


def test_unknown_fields_are_reported_with_camel_case_paths() -> None:
    doc = _doc(
        tuning={
            "preset": {"name": "phi-4", "presetOptionz": {}},
            "method": "lora",
            "input": {"urls": ["https://x.io/a", 5], "volumeSorce": {}},
            "output": {"image": "a/b:1", "imagePushSecret": "s"},
        }
    )
    doc["resource"]["instancetype"] = "x"  # type: ignore[index]
    assert _issues(doc) == [
        ("resource.instancetype", "unknown field"),
        ("tuning.preset.presetOptionz", "unknown field"),
        ("tuning.input.urls[1]", "Input should be a valid string"),
        ("tuning.input.volumeSorce", "unknown field"),
    ]


def test_missing_required_fields_are_reported() -> None:
    doc = _doc(tuning={"method": "lora"})
    del doc["resource"]["labelSelector"]  # type: ignore[attr-defined]
    assert _issues(doc) == [
        ("resource.labelSelector", "required field is missing"),
        ("tuning.input", "required field is missing"),
        ("tuning.output", "required field is missing"),
    ]


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({**_doc(), "apiVersion": "kaito.sh/v2"}, "apiVersion"),
        ({**_doc(), "kind": "Deployment"}, "kind"),
        ({**_doc(), "apiVersion": None}, "apiVersion"),
    ],
)
def test_unsupported_version_or_kind_is_rejected(doc: dict[str, object], field: str) -> None:
    assert field in [f for f, _ in _issues(doc)]


def test_non_mapping_document_is_rejected() -> None:
    assert _issues(["not", "a", "map"]) == [("", "a Workspace must be a mapping (YAML object)")]


def test_enum_and_bounds_are_enforced() -> None:
    doc = _doc(inference={"preset": {"name": "phi-4", "accessMode": "shared"}})
    doc["resource"]["count"] = "two"  # type: ignore[index]
    doc["resource"]["partition"] = {"mode": "accelerator", "count": 0}  # type: ignore[index]
    fields = [f for f, _ in _issues(doc)]
    assert fields == ["resource.count", "resource.partition.count", "inference.preset.accessMode"]


def test_v1beta1_only_fields_are_unknown_in_v1alpha1() -> None:
    doc = _doc(
        "v1alpha1",
        inference={"preset": {"name": "phi-4", "presetOptions": {"modelAccessSecret": "hf"}}},
    )
    doc["resource"]["partition"] = {"mode": "mig"}  # type: ignore[index]
    assert [f for f, _ in _issues(doc)] == [
        "resource.partition",
        "inference.preset.presetOptions.modelAccessSecret",
    ]


def test_defaults_match_the_crd() -> None:
    alpha = parse_workspace({**_doc("v1alpha1"), "resource": {"labelSelector": {}}})
    beta = parse_workspace(
        {**_doc(), "resource": {"labelSelector": {}}, "inference": {"preset": {"name": "phi-4"}}}
    )
    assert alpha.resource.instance_type == "Standard_NC24ads_A100_v4"
    assert alpha.resource.count == 1
    assert beta.resource.instance_type is None
    assert beta.inference is not None
    assert beta.inference.preset is not None
    assert beta.inference.preset.access_mode == "public"


def test_snake_case_names_are_accepted_too() -> None:
    ws = parse_workspace(
        _doc(
            tuning={
                "preset": {"name": "phi-4"},
                "method": "lora",
                "input": {"image": "a/b:1", "image_pull_secrets": ["s"]},
                "output": {"volume_source": {"emptyDir": {}}},
            }
        )
    )
    assert ws.tuning is not None
    assert ws.tuning.input.image_pull_secrets == ["s"]
    assert ws.tuning.output.volume_source == {"emptyDir": {}}


def test_dump_is_camel_case_and_omits_unset_values() -> None:
    ws = parse_workspace(_doc(inference={"preset": {"name": "phi-4"}, "config": ""}))
    assert dump_workspace(ws) == {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "ws"},
        "resource": {
            "count": 1,
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"a": "b"}},
        },
        "inference": {"preset": {"name": "phi-4", "accessMode": "public"}},
    }


def test_schemaless_fields_keep_their_content() -> None:
    template = {
        "metadata": {"labels": {"x": "y"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1}}}
            ]
        },
    }
    ws = parse_workspace(_doc(inference={"template": template}))
    assert dump_workspace(ws)["inference"] == {"template": template}


def test_server_metadata_and_status_round_trip() -> None:
    doc = _doc(inference={"preset": {"name": "phi-4"}})
    doc["metadata"] = {
        "name": "ws",
        "namespace": "ns",
        "uid": "u-1",
        "resourceVersion": "7",
        "generation": 2,
        "creationTimestamp": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "finalizers": [constants.WORKSPACE_FINALIZER],
        "ownerReferences": [
            {
                "apiVersion": "kaito.sh/v1beta1",
                "kind": "InferenceSet",
                "name": "is",
                "uid": "u-0",
                "controller": True,
            }
        ],
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        "annotations": {constants.ANNOTATION_WORKSPACE_REVISION: "1"},
    }
    doc["status"] = {
        "workerNodes": ["n1"],
        "state": "Ready",
        "targetNodeCount": 1,
        "someFutureField": 1,
        "conditions": [
            {
                "type": "ResourceReady",
                "status": "True",
                "reason": "NodesReady",
                "message": "",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
                "observedGeneration": 2,
            }
        ],
        "performance": {
            "metrics": {
                "peakTokensPerMinute": {
                    "description": "stress/high-concurrency",
                    "value": "1000",
                    "unit": "tokens/min",
                }
            }
        },
    }
    out = dump_workspace(parse_workspace(doc))
    assert out["metadata"]["creationTimestamp"] == "2026-01-02T03:04:05Z"
    assert out["metadata"]["ownerReferences"][0]["controller"] is True
    assert "someFutureField" not in out["status"]
    assert out["status"]["conditions"][0]["message"] == ""
    assert parse_workspace(out).to_wire() == out


def test_v1alpha1_converts_to_v1beta1_with_the_same_fields() -> None:
    seed = yaml.safe_load((EXAMPLES / "seed_workspace_tuning_phi_3.yaml").read_text())
    alpha = parse_workspace(seed)
    beta = to_v1beta1(alpha)
    assert isinstance(beta, v1beta1.Workspace)
    alpha_wire = dump_workspace(alpha)
    beta_wire = dump_workspace(beta)
    assert beta_wire.pop("apiVersion") == constants.API_VERSION_V1BETA1
    assert alpha_wire.pop("apiVersion") == constants.API_VERSION_V1ALPHA1
    assert alpha_wire == beta_wire
    assert to_v1beta1(beta) is beta


def test_is_workspace_document() -> None:
    assert is_workspace_document(_doc())
    assert is_workspace_document({**_doc(), "apiVersion": "kaito.sh/v9"})
    assert not is_workspace_document({"kind": "ConfigMap", "apiVersion": "v1"})
    assert not is_workspace_document("text")


@pytest.mark.parametrize(
    ("annotation", "vllm_gate", "expected"),
    [
        (None, True, "vllm"),
        (None, False, "transformers"),
        ("transformers", True, "transformers"),
        ("VLLM", False, "vllm"),
        ("something-else", True, "vllm"),
    ],
)
def test_workspace_runtime(annotation: str | None, vllm_gate: bool, expected: str) -> None:
    doc = _doc(inference={"preset": {"name": "phi-4"}})
    if annotation is not None:
        doc["metadata"] = {"name": "ws", "annotations": {constants.ANNOTATION_RUNTIME: annotation}}
    assert workspace_runtime(parse_workspace(doc), vllm_gate) == expected


def test_assignment_is_validated() -> None:
    ws = parse_workspace(_doc(inference={"preset": {"name": "phi-4"}}))
    with pytest.raises(ValueError, match="count"):
        ws.resource.count = "two"  # type: ignore[assignment]


def test_map_keys_with_dots_or_slashes_are_bracketed_in_paths() -> None:
    doc = _doc(inference={"preset": {"name": "phi-4"}})
    doc["metadata"] = {"name": "ws", "annotations": {"kaito.sh/enablelb": True}}
    assert _issues(doc) == [
        ("metadata.annotations[kaito.sh/enablelb]", "Input should be a valid string")
    ]


def test_empty_inference_object_survives_a_round_trip() -> None:
    ws = parse_workspace(_doc(inference={}))
    assert ws.inference is not None
    assert dump_workspace(ws)["inference"] == {}
    assert parse_workspace(dump_workspace(ws)) == ws
