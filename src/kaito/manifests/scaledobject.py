"""The KEDA ``ScaledObject`` of an InferenceSet, as the keda-kaito-scaler builds it.

Upstream leaves this object to the separate keda-kaito-scaler, which watches InferenceSets with
``scaledobject.kaito.sh/auto-provision: "true"``; kaito-py's operator creates the same object
itself when KEDA's CRD is installed, so the scaler only has to serve metrics. Shape (single-metric
mode of the scaler): named after the set, owned by it, annotated ``scaledobject.kaito.sh/managed-by:
keda-kaito-scaler``, targeting the set's scale subresource (``kaito.sh/v1beta1`` InferenceSet),
polling every 15 s, one ``external`` trigger named ``keda-kaito-scaler`` with the set's name and
namespace, the scaler's gRPC address, the metric (default ``vllm:num_requests_waiting``) and the
threshold (``AverageValue``), authenticated by the ``keda-kaito-scaler-creds``
ClusterTriggerAuthentication, and the scaler's HPA behaviour (scale up: 60 s window, one replica
per 300 s, tolerance 0.1; scale down: 300 s window, one replica per 300 s, tolerance 0.5).

:func:`plan_autoscaling` reads the annotations with the scaler's rules: ``auto-provision`` must be
``"true"``; ``max-replicas`` (an integer above 1) or, without it, ``nodeCountLimit`` (max replicas =
limit // nodes per replica) must be set; ``threshold`` must be a non-negative integer;
``min-replicas`` counts only above 1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kaito.api import constants
from kaito.api.inferenceset import InferenceSet

Obj = dict[str, Any]
MAX_INT32 = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class ScalerAddress:
    """Where KEDA reaches the keda-kaito-scaler's gRPC service."""

    namespace: str = "kaito-workspace"
    service: str = "keda-kaito-scaler-svc"
    port: int = 10450

    def address(self) -> str:
        """``service.namespace.svc.cluster.local:port``."""
        return f"{self.service}.{self.namespace}.svc.cluster.local:{self.port}"


@dataclasses.dataclass(frozen=True)
class AutoscalingPlan:
    """What the annotations ask for: bounds, metric and threshold; or why nothing."""

    enabled: bool
    min_replicas: int = 1
    max_replicas: int = 1
    metric: str = constants.KEDA_DEFAULT_METRIC
    threshold: str = ""
    problem: str = ""
    wait_for_sizing: bool = False


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def plan_autoscaling(iset: InferenceSet, nodes_per_replica: int | None) -> AutoscalingPlan:
    """Read the ``scaledobject.kaito.sh/*`` annotations of ``iset``.

    Args:
        iset: The InferenceSet.
        nodes_per_replica: GPU nodes one replica uses (a child's ``targetNodeCount``), None while
            no child is sized yet; only needed when ``nodeCountLimit`` bounds the replicas.
    """
    notes = iset.metadata.annotations
    if notes.get(constants.ANNOTATION_SCALEDOBJECT_AUTO_PROVISION) != "true":
        return AutoscalingPlan(enabled=False)
    limit = iset.spec.node_count_limit or 0
    max_text = notes.get(constants.ANNOTATION_SCALEDOBJECT_MAX_REPLICAS)
    if max_text is not None:
        value = _int(max_text)
        if value is None or value <= 1:
            return AutoscalingPlan(
                enabled=False, problem=f"max-replicas must be an integer above 1, got {max_text!r}"
            )
    elif limit <= 0:
        return AutoscalingPlan(
            enabled=False,
            problem="auto-provision needs the max-replicas annotation or nodeCountLimit",
        )
    threshold = notes.get(constants.ANNOTATION_SCALEDOBJECT_THRESHOLD, "")
    threshold_value = _int(threshold)
    if threshold_value is None or threshold_value < 0:
        return AutoscalingPlan(
            enabled=False, problem=f"threshold must be a non-negative integer, got {threshold!r}"
        )
    metric = (
        notes.get(constants.ANNOTATION_SCALEDOBJECT_METRIC_NAME) or constants.KEDA_DEFAULT_METRIC
    )
    minimum = _int(notes.get(constants.ANNOTATION_SCALEDOBJECT_MIN_REPLICAS))
    min_replicas = min(minimum, MAX_INT32) if minimum is not None and minimum > 1 else 1
    if limit <= 0:
        max_replicas = min(_int(max_text) or 1, MAX_INT32)
    elif not nodes_per_replica:
        return AutoscalingPlan(enabled=True, wait_for_sizing=True)
    else:
        max_replicas = min(max(1, limit // nodes_per_replica), MAX_INT32)
    if max_replicas < min_replicas:
        return AutoscalingPlan(
            enabled=False,
            problem=(f"max-replicas ({max_replicas}) is less than min-replicas ({min_replicas})"),
        )
    return AutoscalingPlan(
        enabled=True,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        metric=metric,
        threshold=str(threshold_value),
    )


def _rules(tolerance: str, window: int) -> Obj:
    return {
        "stabilizationWindowSeconds": window,
        "selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
        "tolerance": tolerance,
    }


def build_scaled_object(iset: InferenceSet, plan: AutoscalingPlan, scaler: ScalerAddress) -> Obj:
    """The ScaledObject for ``iset`` (``plan`` must be enabled)."""
    meta = iset.metadata
    name = meta.name or ""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": name,
            "namespace": meta.namespace,
            "annotations": {
                constants.ANNOTATION_SCALEDOBJECT_MANAGED_BY: constants.KEDA_SCALER_NAME
            },
            "ownerReferences": [
                {
                    "apiVersion": constants.API_VERSION_V1BETA1,
                    "kind": constants.KIND_INFERENCESET,
                    "name": name,
                    "uid": meta.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {"scaleUp": _rules("0.1", 60), "scaleDown": _rules("0.5", 300)}
                }
            },
            "scaleTargetRef": {
                "name": name,
                "apiVersion": constants.API_VERSION_V1BETA1,
                "kind": constants.KIND_INFERENCESET,
            },
            "pollingInterval": constants.KEDA_POLLING_INTERVAL_S,
            "minReplicaCount": plan.min_replicas,
            "maxReplicaCount": plan.max_replicas,
            "triggers": [
                {
                    "type": "external",
                    "name": constants.KEDA_SCALER_NAME,
                    "metadata": {
                        "threshold": plan.threshold,
                        "inferenceSetName": name,
                        "inferenceSetNamespace": meta.namespace,
                        "scalerAddress": scaler.address(),
                        "metricName": plan.metric,
                    },
                    "authenticationRef": {
                        "name": constants.KEDA_TRIGGER_AUTH_NAME,
                        "kind": constants.KEDA_TRIGGER_AUTH_KIND,
                    },
                    "metricType": "AverageValue",
                }
            ],
        },
    }
