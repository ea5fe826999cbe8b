"""The KEDA ScaledObject of an InferenceSet, with the keda-kaito-scaler's annotation rules."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api.inferenceset import parse_inferenceset, to_storage
from kaito.manifests import scaledobject


def iset(annotations: dict[str, str], node_count_limit: int | None = None) -> Any:
    spec: dict[str, Any] = {
        "labelSelector": {"matchLabels": {"apps": "s"}},
        "template": {
            "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
            "inference": {"preset": {"name": "phi-4-mini-instruct"}},
        },
    }
    if node_count_limit is not None:
        spec["nodeCountLimit"] = node_count_limit
    return to_storage(
        parse_inferenceset(
            {
                "apiVersion": "kaito.sh/v1alpha1",
                "kind": "InferenceSet",
                "metadata": {
                    "name": "s",
                    "namespace": "ns",
                    "uid": "u",
                    "annotations": annotations,
                },
                "spec": spec,
            }
        )
    )


ON = {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/threshold": "10"}


@pytest.mark.parametrize(
    ("annotations", "limit", "nodes", "expected"),
    [
        ({}, None, None, (False, "")),
        ({**ON, "scaledobject.kaito.sh/max-replicas": "1"}, None, None, (False, "above 1")),
        (ON, None, None, (False, "max-replicas annotation or nodeCountLimit")),
        ({**ON, "scaledobject.kaito.sh/max-replicas": "4", "scaledobject.kaito.sh/threshold": "x"},
         None, None, (False, "threshold")),
        ({**ON, "scaledobject.kaito.sh/max-replicas": "4"}, None, None, (True, "")),
        (ON, 10, None, (True, "")),
    ],
)  # fmt: skip
def test_annotation_rules(
    annotations: dict[str, str], limit: int | None, nodes: int | None, expected: tuple[bool, str]
) -> None:
    plan = scaledobject.plan_autoscaling(iset(annotations, limit), nodes)
    assert plan.enabled is expected[0]
    assert expected[1] in plan.problem


def test_max_replicas_from_node_count_limit_waits_for_sizing() -> None:
    assert scaledobject.plan_autoscaling(iset(ON, 10), None).wait_for_sizing
    plan = scaledobject.plan_autoscaling(iset(ON, 10), 3)
    assert (plan.min_replicas, plan.max_replicas) == (1, 3)
    low = {**ON, "scaledobject.kaito.sh/min-replicas": "4"}
    assert "less than min-replicas" in scaledobject.plan_autoscaling(iset(low, 10), 3).problem


def test_scaled_object_shape() -> None:
    notes = {
        **ON,
        "scaledobject.kaito.sh/max-replicas": "5",
        "scaledobject.kaito.sh/min-replicas": "2",
        "scaledobject.kaito.sh/metricName": "vllm:num_requests_running",
    }
    target = iset(notes)
    plan = scaledobject.plan_autoscaling(target, None)
    obj = scaledobject.build_scaled_object(target, plan, scaledobject.ScalerAddress())
    assert obj["metadata"]["name"] == "s"
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "u"
    spec = obj["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["pollingInterval"]) == (2, 5, 15)
    assert spec["scaleTargetRef"]["apiVersion"] == "kaito.sh/v1beta1"
    (trigger,) = spec["triggers"]
    assert trigger["metadata"]["metricName"] == "vllm:num_requests_running"
    assert trigger["metadata"]["threshold"] == "10"
    assert trigger["metadata"]["scalerAddress"] == (
        "keda-kaito-scaler-svc.kaito-workspace.svc.cluster.local:10450"
    )
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["tolerance"] == "0.1"
    assert behavior["scaleDown"]["tolerance"] == "0.5"
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]
