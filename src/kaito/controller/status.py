"""Workspace status recomputed from observed objects on every pass (§1.3, §2.7).

Pure: the reconcile loop gathers what it saw (node readiness from the provisioner, the StatefulSet
and its pods, or the tuning Job) into an ``Observation``; ``compute_status`` turns that and the
previous status into the new one. Previous conditions are kept as a base so that
``lastTransitionTime`` only moves when a status flips, and the caller writes only when the result
differs from what is stored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kaito.api import conditions, constants, reasons
from kaito.api.meta import Condition
from kaito.controller.failures import PodFailure, classify_pods, job_pod_failure
from kaito.controller.views import (
    JOB_FAILED,
    JOB_SUCCEEDED,
    JobView,
    job_outcome,
    statefulset_rollout,
)

Obj = dict[str, Any]

__all__ = [
    "JOB_FAILED",
    "JOB_SUCCEEDED",
    "ConditionValue",
    "Observation",
    "compute_status",
    "job_outcome",
    "new_failures",
    "statefulset_rollout",
    "status_equal",
    "true_condition",
]


@dataclasses.dataclass(frozen=True)
class ConditionValue:
    """One condition as a provisioner or workload check reports it."""

    type: str
    status: str
    reason: str
    message: str


@dataclasses.dataclass
class Observation:
    """What one reconcile pass saw.

    Attributes:
        target_node_count: ``status.targetNodeCount`` (``None`` while unknown).
        node_conditions: ``NodeClaimReady``/``NodesReady``/``ResourceReady`` from the provisioner.
        worker_nodes: Names of the ready nodes serving the Workspace.
        statefulset: The inference StatefulSet, if it exists.
        pods: Its pods (or the tuning Job's pods).
        job: The tuning Job, if it exists.
        deleting: The Workspace has a deletionTimestamp.
        error: Text of the error that ended this pass early, if any.
        performance: ``status.performance`` read from the ready pod's benchmark lines.
        benchmark_error: Why no benchmark result could be read this pass.
        workload_failure: A failure of the inference workload the observer classified itself
            (``kaito run`` watches processes, not pods); takes the place of the pods' failure.
    """

    target_node_count: int | None = None
    node_conditions: list[ConditionValue] = dataclasses.field(default_factory=list)
    worker_nodes: list[str] = dataclasses.field(default_factory=list)
    statefulset: Obj | None = None
    pods: list[Obj] = dataclasses.field(default_factory=list)
    job: Obj | None = None
    deleting: bool = False
    error: str | None = None
    performance: Obj | None = None
    benchmark_error: str | None = None
    workload_failure: PodFailure | None = None


def _true(value: bool) -> str:
    return reasons.CONDITION_TRUE if value else reasons.CONDITION_FALSE


def _inference_conditions(obs: Observation, resource_ready: bool) -> list[ConditionValue]:
    sts = obs.statefulset
    failure = obs.workload_failure or (classify_pods(obs.pods) if obs.pods else None)
    if sts is None:
        ready = False
        inference = ConditionValue(
            reasons.CONDITION_INFERENCE_READY,
            reasons.CONDITION_FALSE,
            reasons.REASON_INFERENCE_STATUS_PENDING,
            "waiting for the GPU nodes before creating the inference workload"
            if not resource_ready
            else "the inference StatefulSet is being created",
        )
    else:
        rolled_out, progress = statefulset_rollout(sts)
        ready = rolled_out and resource_ready
        if ready:
            inference = ConditionValue(
                reasons.CONDITION_INFERENCE_READY,
                reasons.CONDITION_TRUE,
                reasons.REASON_INFERENCE_STATUS_SUCCESS,
                "Inference has been deployed successfully",
            )
        elif failure is not None:
            inference = ConditionValue(
                reasons.CONDITION_INFERENCE_READY,
                reasons.CONDITION_FALSE,
                failure.reason,
                failure.message,
            )
        else:
            inference = ConditionValue(
                reasons.CONDITION_INFERENCE_READY,
                reasons.CONDITION_FALSE,
                reasons.REASON_INFERENCE_STATUS_PENDING,
                progress,
            )
    if ready:
        summary = ConditionValue(
            reasons.CONDITION_WORKSPACE_SUCCEEDED,
            reasons.CONDITION_TRUE,
            reasons.REASON_WORKSPACE_SUCCEEDED,
            "workspace succeeds",
        )
    elif failure is not None and sts is not None:
        summary = ConditionValue(
            reasons.CONDITION_WORKSPACE_SUCCEEDED,
            reasons.CONDITION_FALSE,
            reasons.REASON_WORKSPACE_FAILED,
            f"inference is failing: {failure.message}",
        )
    else:
        summary = ConditionValue(
            reasons.CONDITION_WORKSPACE_SUCCEEDED,
            reasons.CONDITION_FALSE,
            reasons.REASON_WORKSPACE_PENDING,
            "workspace is not ready yet: " + inference.message,
        )
    return [inference, summary]


def benchmark_recorded(status: Obj) -> bool:
    """Whether ``status`` already holds the benchmark result (recorded once, never re-read)."""
    found = conditions.get_condition(
        [
            Condition.model_validate(c)
            for c in status.get("conditions") or []
            if isinstance(c, dict)
        ],
        reasons.CONDITION_BENCHMARK_COMPLETED,
    )
    return found is not None and found.status == reasons.CONDITION_TRUE


def _benchmark_conditions(obs: Observation, current: list[Condition]) -> list[ConditionValue]:
    # Write-once as upstream: a recorded result keeps its condition (refreshed to this generation)
    # and is never replaced; a failed read is reported, and kept (with its time) until a later
    # pass reads again (controller/benchmark.py waits RETRY_AFTER_S).
    kept = conditions.get_condition(current, reasons.CONDITION_BENCHMARK_COMPLETED)
    if kept is not None and kept.status == reasons.CONDITION_TRUE:
        return [ConditionValue(kept.type, kept.status, kept.reason, kept.message)]
    if obs.performance is not None:
        return [
            ConditionValue(
                reasons.CONDITION_BENCHMARK_COMPLETED,
                reasons.CONDITION_TRUE,
                reasons.REASON_BENCHMARK_COMPLETED,
                "benchmark result has been recorded",
            )
        ]
    if obs.benchmark_error is not None:
        return [
            ConditionValue(
                reasons.CONDITION_BENCHMARK_COMPLETED,
                reasons.CONDITION_FALSE,
                reasons.REASON_BENCHMARK_FAILED,
                obs.benchmark_error,
            )
        ]
    if kept is None:
        return []
    return [ConditionValue(kept.type, kept.status, kept.reason, kept.message)]


def _tuning_conditions(obs: Observation) -> tuple[list[ConditionValue], str]:
    job = obs.job
    view = JobView.of(job or {})
    failed = view.failed
    outcome = job_outcome(job)
    # A failed pod means the Job ran; between retries (the pod backoff) nothing is active.
    started = bool(view.active or view.ready or view.succeeded or failed)
    if job is None:
        started_cond = ConditionValue(
            reasons.CONDITION_JOB_STARTED,
            reasons.CONDITION_FALSE,
            reasons.REASON_TUNING_JOB_PENDING,
            "the tuning job has not been created yet",
        )
    elif outcome == JOB_FAILED:
        started_cond = ConditionValue(
            reasons.CONDITION_JOB_STARTED,
            reasons.CONDITION_FALSE,
            reasons.REASON_TUNING_JOB_FAILED,
            _job_failure_message(job, obs.pods),
        )
    elif started or outcome == JOB_SUCCEEDED:
        message = "the tuning job has started"
        if failed and outcome is None:
            message = (
                f"the tuning job is retrying after {failed} failed pod(s) "
                f"(backoff limit {view.backoff_limit})"
            )
            last = job_pod_failure(obs.pods)
            if last:
                message += f"; last failure: {last}"
        started_cond = ConditionValue(
            reasons.CONDITION_JOB_STARTED,
            reasons.CONDITION_TRUE,
            reasons.REASON_TUNING_JOB_STARTED,
            message,
        )
    else:
        started_cond = ConditionValue(
            reasons.CONDITION_JOB_STARTED,
            reasons.CONDITION_FALSE,
            reasons.REASON_TUNING_JOB_PENDING,
            "the tuning job is pending",
        )
    if outcome == JOB_SUCCEEDED:
        state = constants.STATE_SUCCEEDED
        summary = ConditionValue(
            reasons.CONDITION_WORKSPACE_SUCCEEDED,
            reasons.CONDITION_TRUE,
            reasons.REASON_WORKSPACE_SUCCEEDED,
            "workspace succeeds",
        )
    elif outcome == JOB_FAILED:
        state = constants.STATE_FAILED
        summary = ConditionValue(
            reasons.CONDITION_WORKSPACE_SUCCEEDED,
            reasons.CONDITION_FALSE,
            reasons.REASON_WORKSPACE_FAILED,
            "the tuning job failed: " + started_cond.message,
        )
    else:
        state = constants.STATE_RUNNING if started else constants.STATE_PENDING
        summary = ConditionValue(
            reasons.CONDITION_WORKSPACE_SUCCEEDED,
            reasons.CONDITION_FALSE,
            reasons.REASON_WORKSPACE_PENDING,
            "the tuning job has not finished",
        )
    return [started_cond, summary], state


def _job_failure_message(job: Obj, pods: list[Obj]) -> str:
    """The Job's own failure reason first (BackoffLimitExceeded, ...), then its last failed pod."""
    parts = []
    view = JobView.of(job)
    cond = view.true_condition("Failed", "FailureTarget")
    if cond is not None:
        parts.append(f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".rstrip(": "))
    else:
        parts.append(f"{view.failed} pods failed (backoff limit {view.backoff_limit})")
    last = job_pod_failure(pods)
    if last is None:
        classified = classify_pods(pods) if pods else None
        last = classified.message if classified is not None else None
    if last:
        parts.append(f"last failure: {last}")
    return "; ".join(parts)


def compute_status(ws: Obj, obs: Observation) -> Obj:
    """The new ``status`` of ``ws`` (wire form) from what this pass observed.

    Conditions whose status is not ``True`` carry the pass's error, when there was one, as
    `` (last reconcile error: ...)``; messages are cut to 256 characters.
    """
    old = ws.get("status") or {}
    generation = (ws.get("metadata") or {}).get("generation")
    current: list[Condition] = [
        Condition.model_validate(c) for c in old.get("conditions") or [] if isinstance(c, dict)
    ]
    values: list[ConditionValue] = list(obs.node_conditions)
    resource_ready = any(
        v.type == reasons.CONDITION_RESOURCE_READY and v.status == reasons.CONDITION_TRUE
        for v in values
    )
    previous_state = old.get("state")
    if ws.get("tuning") is not None:
        extra, state = _tuning_conditions(obs)
        values += extra
        # A cluster's tuning Job never benchmarks; a local tuning run with --serve may.
        values += _benchmark_conditions(obs, current)
        for stale in (reasons.CONDITION_INFERENCE_READY,):
            conditions.remove_condition(current, stale)
    else:
        values += _inference_conditions(obs, resource_ready)
        succeeded = values[-1].status == reasons.CONDITION_TRUE
        values += _benchmark_conditions(obs, current)
        if succeeded:
            state = constants.STATE_READY
        elif previous_state in (constants.STATE_READY, constants.STATE_NOT_READY):
            state = constants.STATE_NOT_READY
        else:
            state = constants.STATE_PENDING
        conditions.remove_condition(current, reasons.CONDITION_JOB_STARTED)
    summary = next(v for v in values if v.type == reasons.CONDITION_WORKSPACE_SUCCEEDED)
    # The founding document's `kubectl get workspace` view shows the older summary condition.
    values.append(
        ConditionValue(
            reasons.CONDITION_WORKSPACE_READY, summary.status, summary.reason, summary.message
        )
    )
    if obs.deleting:
        values.append(
            ConditionValue(
                reasons.CONDITION_WORKSPACE_DELETING,
                reasons.CONDITION_TRUE,
                reasons.REASON_WORKSPACE_DELETED,
                "workspace is being deleted",
            )
        )
    reported = {v.type for v in values}
    for node_type in (reasons.CONDITION_NODE_CLAIM_READY, reasons.CONDITION_NODES_READY):
        if node_type not in reported:
            conditions.remove_condition(current, node_type)
    for v in values:
        message = v.message
        if obs.error and v.status != reasons.CONDITION_TRUE:
            message = conditions.with_reconcile_error(message, obs.error)
        conditions.set_condition(
            current,
            v.type,
            v.status,  # type: ignore[arg-type]
            v.reason,
            message,
            observed_generation=generation,
        )
    new: Obj = dict(old)
    if obs.performance is not None:
        new["performance"] = obs.performance
    new["conditions"] = [c.to_wire() for c in current]
    new["state"] = state
    if obs.target_node_count is not None:
        new["targetNodeCount"] = obs.target_node_count
    new["workerNodes"] = sorted(obs.worker_nodes)
    return new


_FAILURE_CONDITIONS = (reasons.CONDITION_INFERENCE_READY, reasons.CONDITION_JOB_STARTED)
_NOT_FAILURES = frozenset(
    {
        reasons.REASON_INFERENCE_STATUS_SUCCESS,
        reasons.REASON_INFERENCE_STATUS_PENDING,
        reasons.REASON_TUNING_JOB_STARTED,
        reasons.REASON_TUNING_JOB_PENDING,
    }
)


def new_failures(old: Obj, new: Obj) -> list[str]:
    """Messages of failures that ``new`` reports and ``old`` did not (for Warning events)."""

    def failing(status: Obj) -> dict[str, Obj]:
        return {
            c["type"]: c
            for c in status.get("conditions") or []
            if c.get("type") in _FAILURE_CONDITIONS
            and c.get("status") == reasons.CONDITION_FALSE
            and c.get("reason") not in _NOT_FAILURES
        }

    before = failing(old)
    return [
        f"{c['reason']}: {c.get('message', '')}"
        for ctype, c in failing(new).items()
        if before.get(ctype, {}).get("reason") != c.get("reason")
    ]


def status_equal(a: Obj, b: Obj) -> bool:
    """Semantic equality of two statuses (ignores list order of conditions)."""

    def norm(s: Obj) -> Obj:
        out = dict(s)
        out["conditions"] = sorted(out.get("conditions") or [], key=lambda c: c.get("type", ""))
        return {k: v for k, v in out.items() if v not in (None, [], {})}

    return norm(a) == norm(b)


def true_condition(condition_type: str, status: bool, reason: str, message: str) -> ConditionValue:
    """Shorthand for provisioners: a condition whose status is a bool."""
    return ConditionValue(condition_type, _true(status), reason, message)
