"""Status recomputed from observations: conditions, reasons, states, errors (§1.3, §2.7)."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.controller.status import (
    JOB_FAILED,
    JOB_SUCCEEDED,
    Observation,
    compute_status,
    job_outcome,
    new_failures,
    statefulset_rollout,
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


def _job_cond(ctype: str, reason: str = "", message: str = "") -> dict:
    return {"type": ctype, "status": "True", "reason": reason, "message": message}


def _job(backoff_limit: int | None = 6, **status: Any) -> dict:
    spec = {} if backoff_limit is None else {"backoffLimit": backoff_limit}
    return {"metadata": {"name": "w", "generation": 1}, "spec": spec, "status": status}


def _failed_pod(name: str, finished: str, reason: str = "Error", code: int = 1) -> dict:
    terminated = {"reason": reason, "exitCode": code, "finishedAt": finished}
    return {
        "metadata": {"name": name},
        "status": {
            "phase": "Failed",
            "containerStatuses": [{"name": "tuner", "state": {"terminated": terminated}}],
        },
    }


def _cond(status: dict, ctype: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == ctype)


def _sts(
    replicas: int,
    ready: int,
    *,
    generation: int = 1,
    observed: int | None = 1,
    updated: int | None = None,
    current: str | None = "w-5d4f",
    update: str | None = "w-5d4f",
) -> dict:
    """A StatefulSet as the API returns it (zero counts omitted, as Kubernetes does)."""
    status: dict[str, Any] = {
        "observedGeneration": observed,
        "replicas": replicas,
        "readyReplicas": ready,
        "updatedReplicas": replicas if updated is None else updated,
        "currentRevision": current,
        "updateRevision": update,
    }
    return {
        "metadata": {"name": "w", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {k: v for k, v in status.items() if v},
    }


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
    assert state(
        {
            "spec": {"backoffLimit": 6},
            "status": {"failed": 7, "conditions": [_job_cond("Failed", "BackoffLimitExceeded")]},
        }
    ) == ("Failed", "WorkspaceTuningJobStatusFailed", "False")


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


# ---- tuning Job retries (backoffLimit) --------------------------------------------------------


def _tuning(job: dict | None, pods: list[dict] | None = None, old: dict | None = None) -> dict:
    return compute_status(
        _ws("tuning", status=old), Observation(1, RESOURCE_OK, job=job, pods=pods or [])
    )


def test_a_failed_pod_below_the_backoff_limit_keeps_the_workspace_running() -> None:
    pods = [
        _failed_pod("w-abcde", "2025-01-01T00:01:00Z", "OOMKilled", 137),
        {"metadata": {"name": "w-fghij"}, "status": {"phase": "Running"}},
    ]
    status = _tuning(_job(failed=1, active=1, ready=1), pods)
    assert status["state"] == "Running"
    started = _cond(status, "JobStarted")
    assert (started["status"], started["reason"]) == ("True", "WorkspaceTuningJobStatusStarted")
    # The failed attempt is still reported, in the message.
    assert "retrying after 1 failed pod(s) (backoff limit 6)" in started["message"]
    assert "OOMKilled" in started["message"]
    assert "w-abcde" in started["message"]
    succeeded = _cond(status, "WorkspaceSucceeded")
    assert (succeeded["status"], succeeded["reason"]) == ("False", "workspacePending")


def test_between_retries_with_no_active_pod_the_workspace_stays_running() -> None:
    # The Job controller waits (pod backoff) before the next attempt: active and ready are 0.
    status = _tuning(_job(failed=3), [_failed_pod("w-1", "2025-01-01T00:00:00Z")])
    assert status["state"] == "Running"
    assert _cond(status, "JobStarted")["status"] == "True"
    assert "exited with code 1 (Error)" in _cond(status, "JobStarted")["message"]


def test_a_retry_that_succeeds_ends_succeeded_without_a_failure_event() -> None:
    running = _tuning(_job(active=1, ready=1))
    retrying = _tuning(_job(failed=2, active=1), [_failed_pod("w-1", "t1")], old=running)
    done = _tuning(
        _job(failed=2, succeeded=1, conditions=[_job_cond("Complete")]),
        [_failed_pod("w-1", "t1")],
        old=retrying,
    )
    assert [running["state"], retrying["state"], done["state"]] == [
        "Running",
        "Running",
        "Succeeded",
    ]
    assert _cond(done, "JobStarted")["status"] == "True"
    assert _cond(done, "JobStarted")["message"] == "the tuning job has started"
    assert _cond(done, "WorkspaceSucceeded")["status"] == "True"
    assert new_failures(running, retrying) == []
    assert new_failures(retrying, done) == []


def test_the_job_failed_condition_fails_the_workspace_with_reason_and_last_pod() -> None:
    pods = [
        _failed_pod("w-old", "2025-01-01T00:01:00Z", "Error", 1),
        _failed_pod("w-new", "2025-01-01T00:09:00Z", "OOMKilled", 137),
    ]
    job = _job(
        failed=7,
        conditions=[
            _job_cond("FailureTarget", "BackoffLimitExceeded", "Job has reached the limit"),
            _job_cond(
                "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            ),
        ],
    )
    running = _tuning(_job(failed=6, active=1), pods)
    status = _tuning(job, pods, old=running)
    assert status["state"] == "Failed"
    started = _cond(status, "JobStarted")
    assert (started["status"], started["reason"]) == ("False", "WorkspaceTuningJobStatusFailed")
    assert started["message"].startswith(
        "BackoffLimitExceeded: Job has reached the specified backoff limit; last failure: "
    )
    assert "w-new" in started["message"]
    assert "out of memory" in started["message"]
    assert _cond(status, "WorkspaceSucceeded")["reason"] == "workspaceFailed"
    # One Warning event, when the Job (not a pod) failed.
    assert len(new_failures(running, status)) == 1


def test_a_deadline_exceeded_job_fails_without_any_failed_pod() -> None:
    job = _job(conditions=[_job_cond("Failed", "DeadlineExceeded", "Job was active longer")])
    status = _tuning(job)
    assert status["state"] == "Failed"
    assert "DeadlineExceeded" in _cond(status, "JobStarted")["message"]


@pytest.mark.parametrize(
    ("job", "outcome"),
    [
        (None, None),
        (_job(active=1), None),
        (_job(failed=1, active=1), None),
        (_job(failed=6), None),  # six failures with backoffLimit 6: one more try
        (_job(failed=7), JOB_FAILED),  # no Failed condition (older servers): count > limit
        (_job(backoff_limit=None, failed=6), None),  # Kubernetes' default limit is 6
        (_job(backoff_limit=None, failed=7), JOB_FAILED),
        (_job(backoff_limit=0, failed=1), JOB_FAILED),
        (_job(failed=1, conditions=[_job_cond("Failed", "PodFailurePolicy")]), JOB_FAILED),
        (_job(failed=1, conditions=[_job_cond("FailureTarget", "PodFailurePolicy")]), JOB_FAILED),
        (_job(failed=3, succeeded=1), JOB_SUCCEEDED),
        (_job(conditions=[_job_cond("Complete")], succeeded=1), JOB_SUCCEEDED),
        (_job(conditions=[_job_cond("SuccessCriteriaMet")]), JOB_SUCCEEDED),
        (_job(failed=1, conditions=[{"type": "Failed", "status": "False"}]), None),
    ],
)
def test_job_outcome_follows_kubernetes_not_the_first_failed_pod(
    job: dict | None, outcome: str | None
) -> None:
    assert job_outcome(job) == outcome


# ---- StatefulSet rollouts ---------------------------------------------------------------------


def test_a_template_change_not_yet_observed_is_not_ready() -> None:
    # The operator patched the template (generation 2); readyReplicas still counts the old pods.
    sts = _sts(2, 2, generation=2, observed=1)
    old = compute_status(_ws(), Observation(2, RESOURCE_OK, statefulset=_sts(2, 2)))
    status = compute_status(_ws(status=old), Observation(2, RESOURCE_OK, statefulset=sts))
    inference = _cond(status, "InferenceReady")
    assert (inference["status"], inference["reason"]) == (
        "False",
        "WorkspaceInferenceStatusPending",
    )
    assert "observe generation 2" in inference["message"]
    assert status["state"] == "NotReady"
    assert _cond(status, "WorkspaceSucceeded")["status"] == "False"


def test_a_rolling_update_in_progress_is_not_ready() -> None:
    sts = _sts(2, 2, generation=2, observed=2, updated=1, current="w-old", update="w-new")
    old = compute_status(_ws(), Observation(2, RESOURCE_OK, statefulset=_sts(2, 2)))
    status = compute_status(_ws(status=old), Observation(2, RESOURCE_OK, statefulset=sts))
    inference = _cond(status, "InferenceReady")
    assert inference["status"] == "False"
    assert inference["reason"] == "WorkspaceInferenceStatusPending"
    assert inference["message"].startswith("rolling out: 1 of 2 pods updated")
    assert status["state"] == "NotReady"
    assert "rolling out" in _cond(status, "WorkspaceSucceeded")["message"]
    # A rollout is progress, not a failure: no Warning event.
    assert new_failures(old, status) == []


def test_a_rollout_whose_new_pod_crash_loops_reports_the_crash() -> None:
    sts = _sts(1, 0, generation=2, observed=2, updated=1, current="w-old", update="w-new")
    crashing = {
        "metadata": {"name": "w-0"},
        "status": {
            "containerStatuses": [
                {
                    "name": "w",
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ]
        },
    }
    status = compute_status(_ws(), Observation(1, RESOURCE_OK, statefulset=sts, pods=[crashing]))
    assert _cond(status, "InferenceReady")["reason"] == "ContainerCrashLoopBackOff"


def test_a_finished_rollout_is_ready() -> None:
    sts = _sts(2, 2, generation=2, observed=2, updated=2, current="w-new", update="w-new")
    status = compute_status(_ws(), Observation(2, RESOURCE_OK, statefulset=sts))
    assert _cond(status, "InferenceReady")["status"] == "True"
    assert status["state"] == "Ready"


@pytest.mark.parametrize(
    ("sts", "done", "message"),
    [
        (_sts(2, 2), True, "all 2 inference pods are updated and ready"),
        (_sts(2, 2, generation=3, observed=2), False, "observe generation 3 (observed: 2)"),
        (_sts(2, 0, generation=1, observed=None), False, "observe generation 1 (observed: 0)"),
        (
            _sts(2, 2, generation=2, observed=2, updated=0, current="a", update="b"),
            False,
            "rolling out: 0 of 2 pods updated to revision b, 2 ready",
        ),
        # All pods updated but one not ready yet (currentRevision moves only when all are ready).
        (
            _sts(2, 1, generation=2, observed=2, updated=2, current="a", update="b"),
            False,
            "inference pods ready: 1/2",
        ),
        # Updated and ready, currentRevision not caught up yet: kubectl calls this complete.
        (_sts(2, 2, generation=2, observed=2, updated=2, current="a", update="b"), True, ""),
        # Scaling up at one revision: the new pod is not created yet.
        (_sts(2, 1, updated=1), False, "inference pods ready: 1/2 (1 created at the current"),
        # updatedReplicas omitted (zero) while revisions differ: nothing rolled yet.
        (_sts(1, 1, updated=0, current="a", update="b"), False, "rolling out: 0 of 1"),
        (_sts(0, 0), False, "inference pods ready: 0/0"),
    ],
)
def test_statefulset_rollout_follows_kubectl_rollout_status(
    sts: dict, done: bool, message: str
) -> None:
    got_done, got_message = statefulset_rollout(sts)
    assert got_done is done
    assert message in got_message
