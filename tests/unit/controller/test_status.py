"""Status recomputed from observations: conditions, reasons, states, errors (§1.3, §2.7)."""

from __future__ import annotations

from typing import Any

from kaito.controller.status import (
    Observation,
    compute_status,
    new_failures,
    status_equal,
    true_condition,
)

RESOURCE_OK = [
    true_condition("NodeClaimReady", True, "NodeClaimsReady", "ok"),
    true_condition("NodesReady", True, "NodesReady", "ok"),
    true_condition("ResourceReady", True, "workspaceResourceStatusSuccess", "ok"),
]


def _ws(kind: str = "inference", status: dict | None = None, generation: int = 3) -> dict:
    body: dict[str, Any] = {
        "metadata": {"name": "w", "namespace": "default", "generation": generation},
        "resource": {},
        kind: {"preset": {"name": "phi-4"}},
    }
    if status is not None:
        body["status"] = status
    return body


def _cond(status: dict, ctype: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == ctype)


def _sts(replicas: int, ready: int) -> dict:
    return {"spec": {"replicas": replicas}, "status": {"readyReplicas": ready}}


def test_ready_statefulset_on_ready_nodes_makes_the_workspace_succeed() -> None:
    status = compute_status(_ws(), Observation(1, RESOURCE_OK, ["n1"], statefulset=_sts(1, 1)))
    assert status["state"] == "Ready"
    assert _cond(status, "InferenceReady")["reason"] == "WorkspaceInferenceStatusSuccess"
    assert _cond(status, "WorkspaceSucceeded")["status"] == "True"
    assert _cond(status, "WorkspaceReady")["status"] == "True"  # the older summary, mirrored
    assert status["targetNodeCount"] == 1
    assert status["workerNodes"] == ["n1"]
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])


def test_inference_goes_not_ready_after_first_ready_but_pending_before() -> None:
    waiting = Observation(1, RESOURCE_OK, statefulset=_sts(1, 0))
    assert compute_status(_ws(), waiting)["state"] == "Pending"
    assert compute_status(_ws(status={"state": "Ready"}), waiting)["state"] == "NotReady"


def test_reconcile_error_is_appended_to_not_true_conditions_only() -> None:
    obs = Observation(1, RESOURCE_OK, statefulset=_sts(1, 0), error="boom")
    status = compute_status(_ws(), obs)
    assert _cond(status, "InferenceReady")["message"].endswith(" (last reconcile error: boom)")
    assert "boom" not in _cond(status, "ResourceReady")["message"]


def test_long_messages_are_cut_to_256_characters() -> None:
    obs = Observation(1, RESOURCE_OK, statefulset=_sts(1, 0), error="x" * 1000)
    status = compute_status(_ws(), obs)
    assert all(len(c["message"]) <= 256 for c in status["conditions"])


def test_transition_time_only_moves_when_status_flips() -> None:
    obs = Observation(1, RESOURCE_OK, statefulset=_sts(1, 0))
    first = compute_status(_ws(), obs)
    pinned = [dict(c, lastTransitionTime="2020-01-01T00:00:00Z") for c in first["conditions"]]
    again = compute_status(_ws(status={**first, "conditions": pinned}), obs)
    assert status_equal(again, {**first, "conditions": pinned})
    flipped = compute_status(
        _ws(status={**first, "conditions": pinned}),
        Observation(1, RESOURCE_OK, statefulset=_sts(1, 1)),
    )
    assert _cond(flipped, "InferenceReady")["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert _cond(flipped, "ResourceReady")["lastTransitionTime"] == "2020-01-01T00:00:00Z"


def test_tuning_job_states_follow_the_job() -> None:
    def state(job: dict | None) -> tuple[str, str, str]:
        status = compute_status(_ws("tuning"), Observation(1, RESOURCE_OK, job=job))
        return (
            status["state"],
            _cond(status, "JobStarted")["reason"],
            _cond(status, "WorkspaceSucceeded")["status"],
        )

    assert state(None) == ("Pending", "WorkspaceTuningJobStatusPending", "False")
    assert state({"status": {"active": 1}}) == (
        "Running",
        "WorkspaceTuningJobStatusStarted",
        "False",
    )
    assert state({"status": {"succeeded": 1}}) == (
        "Succeeded",
        "WorkspaceTuningJobStatusStarted",
        "True",
    )
    assert state({"status": {"failed": 1}}) == ("Failed", "WorkspaceTuningJobStatusFailed", "False")


def test_byo_status_drops_node_claim_condition() -> None:
    old = compute_status(_ws(), Observation(1, RESOURCE_OK, statefulset=_sts(1, 1)))
    byo_conditions = RESOURCE_OK[1:]
    status = compute_status(_ws(status=old), Observation(1, byo_conditions, statefulset=_sts(1, 1)))
    assert "NodeClaimReady" not in {c["type"] for c in status["conditions"]}


def test_deleting_workspace_reports_workspace_deleting() -> None:
    status = compute_status(_ws(), Observation(deleting=True))
    assert _cond(status, "WorkspaceDeleting")["reason"] == "workspaceDeleted"


def test_new_failures_reports_only_reasons_that_just_appeared() -> None:
    crash = {
        "conditions": [
            {
                "type": "InferenceReady",
                "status": "False",
                "reason": "ContainerCrashLoopBackOff",
                "message": "pod w-0 keeps crashing",
            }
        ]
    }
    pending = {
        "conditions": [
            {
                "type": "InferenceReady",
                "status": "False",
                "reason": "WorkspaceInferenceStatusPending",
            }
        ]
    }
    assert new_failures(pending, crash) == ["ContainerCrashLoopBackOff: pod w-0 keeps crashing"]
    assert new_failures(crash, crash) == []
    assert new_failures({}, pending) == []
