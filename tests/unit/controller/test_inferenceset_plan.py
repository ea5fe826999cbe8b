"""The InferenceSet planner: counts, scale-down order, rolling updates, limits and status."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from kaito.api import constants
from kaito.api.inferenceset import InferenceSet, parse_inferenceset, to_storage
from kaito.api.inferenceset_children import template_hash
from kaito.controller import inferenceset_plan as planning
from kaito.controller.inferenceset_plan import Child

BASE: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "InferenceSet",
    "metadata": {"name": "chat", "namespace": "default", "generation": 4},
    "spec": {
        "replicas": 3,
        "labelSelector": {"matchLabels": {"apps": "chat"}},
        "template": {
            "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
            "inference": {"preset": {"name": "phi-4-mini-instruct"}},
        },
    },
}


def iset(**spec: Any) -> InferenceSet:
    body = copy.deepcopy(BASE)
    body["spec"].update(spec)
    return to_storage(parse_inferenceset(body))


def child(name: str, *, ready: bool = True, outdated: bool = False, **kw: Any) -> Child:
    values: dict[str, Any] = {
        "name": name,
        "created": f"2026-01-01T00:00:0{name[-1]}Z",
        "ready": ready,
        "outdated": outdated,
        "terminating": False,
        "target_nodes": 1,
        "peak_tpm": None,
        "metric_config": {},
    }
    values.update(kw)
    return Child(**values)


def test_scale_up_creates_the_missing_replicas() -> None:
    plan = planning.plan_replicas(iset(replicas=3), [child("a1")])
    assert (plan.create, plan.delete) == (2, ())


def test_steady_state_does_nothing() -> None:
    plan = planning.plan_replicas(iset(), [child("a1"), child("a2"), child("a3")])
    assert (plan.create, plan.delete) == (0, ())


def test_scale_down_deletes_not_ready_first_then_outdated_then_newest() -> None:
    kids = [
        child("a1"),
        child("a2", ready=False),
        child("a3"),
        child("a4", outdated=True),
        child("a5"),
    ]
    assert planning.plan_replicas(iset(replicas=2), kids).delete == ("a2", "a4", "a5")
    assert planning.plan_replicas(iset(replicas=4), kids).delete == ("a2",)


def test_children_being_deleted_do_not_count() -> None:
    kids = [child("a1"), child("a2", terminating=True, ready=False)]
    plan = planning.plan_replicas(iset(replicas=2), kids)
    assert (plan.create, plan.delete) == (1, ())


def test_rolling_update_replaces_one_outdated_replica_at_a_time() -> None:
    kids = [child("a1", outdated=True), child("a2", outdated=True), child("a3", outdated=True)]
    plan = planning.plan_replicas(iset(), kids)
    assert (plan.delete, plan.create) == (("a1",), 1)
    # The replacement is not ready yet and the old one is still going: wait.
    waiting = [
        child("a1", outdated=True, terminating=True),
        child("a2", outdated=True),
        child("a3", outdated=True),
        child("b4", ready=False),
    ]
    assert planning.plan_replicas(iset(), waiting).delete == ()
    # Once the replacement is ready and the old one gone, the next one goes.
    done = [child("a2", outdated=True), child("a3", outdated=True), child("b4")]
    assert planning.plan_replicas(iset(), done).delete == ("a2",)


def test_rolling_update_takes_not_ready_outdated_replicas_first_and_honours_max_unavailable() -> (
    None
):
    kids = [child("a1", outdated=True), child("a2", outdated=True), child("a3", outdated=True)]
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    assert planning.plan_replicas(iset(updateStrategy=strategy), kids).delete == ("a1", "a2")
    kids[2] = child("a3", outdated=True, ready=False)
    assert planning.plan_replicas(iset(updateStrategy=strategy), kids).delete == ("a3",)


def test_on_delete_leaves_outdated_replicas() -> None:
    kids = [child("a1", outdated=True), child("a2", outdated=True), child("a3", outdated=True)]
    plan = planning.plan_replicas(iset(updateStrategy={"type": "OnDelete"}), kids)
    assert (plan.delete, plan.create) == ((), 0)


@pytest.mark.parametrize(
    ("limit", "nodes", "target", "capped"),
    [(None, 2, 3, False), (4, 2, 2, True), (6, 2, 3, False), (2, None, 2, True), (1, 3, 0, True)],
)
def test_node_count_limit(limit: int | None, nodes: int | None, target: int, capped: bool) -> None:
    kids = [child("a1", target_nodes=nodes)]
    plan = planning.plan_replicas(iset(nodeCountLimit=limit), kids)
    assert (plan.target, plan.capped_by_node_limit) == (target, capped)


def _raw_child(name: str, ready: bool, tpm: str | None, current: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "targetNodeCount": 1,
        "conditions": [
            {"type": "WorkspaceSucceeded", "status": "True" if ready else "False"},
        ],
    }
    if tpm is not None:
        status["performance"] = {
            "metrics": {
                "peakTokensPerMinute": {
                    "description": "stress/high-concurrency",
                    "value": tpm,
                    "unit": "tokens/min",
                    "config": {"engine": "vllm"},
                }
            }
        }
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {constants.ANNOTATION_INFERENCESET_TEMPLATE_HASH: current},
        },
        "status": status,
    }


def test_status_counts_ready_replicas_and_sums_their_peak_throughput() -> None:
    target = iset()
    current = template_hash(target)
    kids = planning.describe_children(
        target,
        [
            _raw_child("a1", True, "1200.50", current),
            _raw_child("a2", True, "800", current),
            _raw_child("a3", False, "999", current),  # not ready: not summed
        ],
    )
    assert [c.outdated for c in kids] == [False, False, False]
    plan = planning.plan_replicas(target, kids)
    status = planning.build_status(target, kids, plan, now="2026-01-01T00:00:00Z")
    assert (status.replicas, status.ready_replicas) == (3, 2)
    assert status.selector == "inferenceset.kaito.sh/created-by=chat"
    ready = {c.type: c for c in status.conditions}
    assert ready["InferenceSetReady"].status == "False"
    assert ready["InferenceSetReady"].message == "inferenceset is not ready, 2/3 replicas are ready"
    assert ready["InferenceSetReady"].observed_generation == 4
    assert status.performance is not None
    metric = status.performance.metrics["aggregatedPeakTokensPerMinute"]
    assert (metric.value, metric.unit, metric.config) == (
        "2000.50",
        "tokens/min",
        {"engine": "vllm"},
    )
    assert ready["BenchmarkCompleted"].status == "False"
    assert ready["BenchmarkCompleted"].message == "2/3 replicas benchmarked"


def test_status_ready_and_benchmark_completed_when_all_replicas_report() -> None:
    target = iset(replicas=2)
    current = template_hash(target)
    raw = [_raw_child("a1", True, "10", current), _raw_child("a2", True, "20", current)]
    kids = planning.describe_children(target, raw)
    status = planning.build_status(target, kids, planning.plan_replicas(target, kids))
    kinds = {c.type: (c.status, c.reason) for c in status.conditions}
    assert kinds["InferenceSetReady"] == ("True", "inferencesetReady")
    assert kinds["BenchmarkCompleted"] == ("True", "BenchmarkCompleted")


def test_no_aggregation_for_transformers_or_disabled_benchmark() -> None:
    target = iset(replicas=1)
    target.metadata.annotations["kaito.sh/runtime"] = "transformers"
    current = template_hash(target)
    kids = planning.describe_children(target, [_raw_child("a1", True, "10", current)])
    status = planning.build_status(target, kids, planning.plan_replicas(target, kids))
    assert status.performance is None
    assert "BenchmarkCompleted" not in {c.type for c in status.conditions}
    disabled = iset(replicas=1)
    disabled.metadata.annotations["kaito.sh/disable-benchmark"] = "true"
    assert not planning.should_aggregate_performance(disabled)


def test_outdated_children_are_recognised_by_their_template_hash() -> None:
    target = iset()
    kid = planning.describe_child(_raw_child("a1", True, None, "old-hash"), template_hash(target))
    assert kid.outdated
    assert dataclasses.replace(kid, outdated=False) != kid
