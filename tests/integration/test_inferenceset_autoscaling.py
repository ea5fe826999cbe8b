"""InferenceSet admission of upstream's examples, KEDA ScaledObjects and an HPA on the real API.

The webhook is reached through the API server (``kubectl apply --dry-run=server`` runs admission
without storing anything). KEDA itself cannot run here; its ScaledObject CRD is installed for one
test (a schemaless stand-in of ``scaledobjects.keda.sh``), which is all the operator looks for.
The kube-controller-manager of the suite runs the HPA controller: without a metrics API it still
enforces ``minReplicas`` through the InferenceSet's scale subresource.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cluster.client import ApiError
from tests.integration.conftest import Harness
from tests.integration.test_inferenceset import children, inference_set, set_ready, status

Obj = dict[str, Any]
EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream_inferencesets"
# Upstream's verdicts with node auto-provisioning (the suite's gpu-provisioner operator): the MIG
# examples name no instanceType, which auto-provisioning requires.
NAP_VERDICTS = {
    "kaito_inferenceset_llama-3.1_8b_instruct.yaml": None,
    "kaito_inferenceset_mistral_7b-instruct.yaml": None,
    "kaito_inferenceset_phi_4_mini.yaml": None,
    "kaito_inferenceset_mig_single_strategy.yaml": "instanceType is required",
    "kaito_inferenceset_mig_mixed_strategy.yaml": "instanceType is required",
}
KEDA_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "scaledobjects.keda.sh"},
    "spec": {
        "group": "keda.sh",
        "names": {
            "kind": "ScaledObject",
            "listKind": "ScaledObjectList",
            "plural": "scaledobjects",
            "singular": "scaledobject",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_every_upstream_example_is_in_the_table() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(NAP_VERDICTS)


@pytest.mark.timeout(90)
async def test_upstream_examples_get_upstreams_verdict_from_the_webhook(harness: Harness) -> None:
    await harness.start_operator()
    for name, refusal in NAP_VERDICTS.items():
        text = (
            (EXAMPLES / name).read_text().replace("namespace: default", f"namespace: {harness.ns}")
        )
        # The user fills in the token placeholder (base64 of "hf_x").
        text = text.replace("<base64-encoded-huggingface-token>", "aGZfeA==")
        result = harness.kubectl("apply", "--dry-run=server", "-f", "-", input=text, check=False)
        if refusal is None:
            assert result.returncode == 0, (name, result.stderr)
            assert "inferenceset.kaito.sh" in result.stdout
        else:
            assert result.returncode != 0, name
            assert "denied the request" in result.stderr, result.stderr
            assert refusal in result.stderr, result.stderr
    assert harness.objects("inferencesets") == []  # dry runs store nothing


@pytest.mark.timeout(60)
async def test_byo_operator_refuses_an_instance_type_and_checks_the_child_workspace(
    harness: Harness,
) -> None:
    await harness.start_operator(node_provisioner="byo")
    with pytest.raises(ApiError) as refused:
        harness.create("inferencesets", inference_set("byo", 1))
    assert "instanceType must be empty when nodeProvisioner is byo" in refused.value.body
    bad = inference_set("badpreset", 1)
    bad["spec"]["template"] = {"inference": {"preset": {"name": "no-such-model-xyz"}}}
    with pytest.raises(ApiError) as refused:
        harness.create("inferencesets", bad)
    assert "spec.template.inference.preset.name" in refused.value.body


def _events(h: Harness, reason: str) -> list[str]:
    return [e["message"] for e in h.objects("events") if e.get("reason") == reason]


@pytest.mark.timeout(120)
async def test_keda_scaled_object_follows_the_annotations_once_keda_is_installed(
    harness: Harness,
) -> None:
    await harness.start_operator()
    body = inference_set("auto", 1)
    body["metadata"]["annotations"] = {
        "scaledobject.kaito.sh/auto-provision": "true",
        "scaledobject.kaito.sh/max-replicas": "3",
        "scaledobject.kaito.sh/threshold": "10",
    }
    harness.create("inferencesets", body)
    await harness.wait_for(
        lambda: any("KEDA is not installed" in m for m in _events(harness, "ScaledObjectSkipped")),
        within=20,
        what="skipped event without KEDA",
    )
    harness.kube.create("customresourcedefinitions", KEDA_CRD)
    try:
        harness.cp.kubectl(
            "wait", "--for=condition=Established", "--timeout=30s", "crd/scaledobjects.keda.sh"
        )
        annotate = {"metadata": {"annotations": {"scaledobject.kaito.sh/threshold": "20"}}}
        harness.patch("inferencesets", "auto", annotate)
        # A pass may create it from the earlier threshold first (a child's change); then updates it.
        so = await harness.wait_for(
            lambda: (
                (s := harness.get("scaledobjects", "auto"))
                and s["spec"]["triggers"][0]["metadata"]["threshold"] == "20"
                and s
            ),
            within=20,
            what="ScaledObject with threshold 20",
        )
        iset = harness.get("inferencesets", "auto")
        assert iset is not None
        spec = so["spec"]
        assert spec["scaleTargetRef"] == {
            "name": "auto",
            "apiVersion": "kaito.sh/v1beta1",
            "kind": "InferenceSet",
        }
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (1, 3)
        assert spec["pollingInterval"] == 15
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "external"
        assert trigger["name"] == "keda-kaito-scaler"
        assert trigger["metricType"] == "AverageValue"
        assert trigger["authenticationRef"] == {
            "name": "keda-kaito-scaler-creds",
            "kind": "ClusterTriggerAuthentication",
        }
        assert trigger["metadata"] == {
            "threshold": "20",
            "inferenceSetName": "auto",
            "inferenceSetNamespace": harness.ns,
            "scalerAddress": "keda-kaito-scaler-svc.kaito-workspace.svc.cluster.local:10450",
            "metricName": "vllm:num_requests_waiting",
        }
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 60
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
        (owner,) = so["metadata"]["ownerReferences"]
        assert owner["uid"] == iset["metadata"]["uid"]
        assert owner["controller"] is True
        assert so["metadata"]["annotations"]["scaledobject.kaito.sh/managed-by"] == (
            "keda-kaito-scaler"
        )

        harness.patch(
            "inferencesets",
            "auto",
            {"metadata": {"annotations": {"scaledobject.kaito.sh/metricName": "vllm:x"}}},
        )
        await harness.wait_for(
            lambda: (
                (s := harness.get("scaledobjects", "auto"))
                and s["spec"]["triggers"][0]["metadata"]["metricName"] == "vllm:x"
            ),
            within=20,
            what="ScaledObject updated",
        )
    finally:
        harness.kube.delete("customresourcedefinitions", "scaledobjects.keda.sh")


@pytest.mark.timeout(120)
async def test_hpa_scales_the_inferenceset_through_its_scale_subresource(harness: Harness) -> None:
    await harness.start_operator()
    harness.create("inferencesets", inference_set("hpa", 1))
    await harness.wait_for(lambda: set_ready(harness, "hpa", 1), within=40, what="1 ready")
    harness.create(
        "horizontalpodautoscalers",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "hpa"},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "kaito.sh/v1beta1",
                    "kind": "InferenceSet",
                    "name": "hpa",
                },
                "minReplicas": 2,
                "maxReplicas": 3,
            },
        },
    )
    await harness.wait_for(lambda: set_ready(harness, "hpa", 2), within=60, what="HPA to 2")
    assert (harness.get("inferencesets", "hpa") or {})["spec"]["replicas"] == 2
    assert status(harness, "hpa")["selector"] == "inferenceset.kaito.sh/created-by=hpa"
    assert len(children(harness, "hpa")) == 2
