"""Classification of pod failures into condition reasons (§2.7).

"Ready status lies" was a top user complaint upstream: a Workspace said Ready while its pod crash
looped. The controller therefore inspects the workload's pods on every pass and names the first
failure it finds, in upstream's order: OOM kill, image pull errors, container start errors, crash
loops, evictions, then scheduling failures.

A tuning Job's failed pods are only described here (``job_pod_failure``): Kubernetes retries them up
to the Job's ``backoffLimit``, so whether the Job (and the Workspace) failed is decided by the Job's
own status (``kaito.controller.status.job_outcome``), never by one failed pod.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from kaito.api import reasons

Obj = dict[str, Any]

START_ERROR_REASONS = (
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "PreStartHookError",
    "PostStartHookError",
    "ContainerCannotRun",
)


@dataclasses.dataclass(frozen=True)
class PodFailure:
    """A pod failure worth a condition reason."""

    reason: str
    message: str


def _container_statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _terminated_reason(cs: Obj) -> str | None:
    for key in ("state", "lastState"):
        terminated = (cs.get(key) or {}).get("terminated") or {}
        if terminated.get("reason"):
            return str(terminated["reason"])
    return None


def _waiting(cs: Obj) -> tuple[str, str]:
    waiting = (cs.get("state") or {}).get("waiting") or {}
    return str(waiting.get("reason") or ""), str(waiting.get("message") or "")


def _classify_pod(pod: Obj) -> PodFailure | None:
    name = pod.get("metadata", {}).get("name", "?")
    statuses = _container_statuses(pod)
    for cs in statuses:
        if _terminated_reason(cs) == "OOMKilled":
            return PodFailure(
                reasons.REASON_CONTAINER_OOM_KILLED,
                f"pod {name}: container {cs.get('name')} was killed for running out of memory "
                "(OOMKilled); the model may not fit this instance type",
            )
    for cs in statuses:
        reason, message = _waiting(cs)
        if reason in reasons.IMAGE_PULL_WAITING_REASONS:
            return PodFailure(
                reasons.REASON_IMAGE_PULL_ERROR,
                f"pod {name}: container {cs.get('name')} cannot pull its image "
                f"({reason}): {message}",
            )
    for cs in statuses:
        reason, message = _waiting(cs)
        if reason in START_ERROR_REASONS:
            return PodFailure(
                reasons.REASON_CONTAINER_START_ERROR,
                f"pod {name}: container {cs.get('name')} failed to start ({reason}): {message}",
            )
    for cs in statuses:
        reason, _ = _waiting(cs)
        if reason == "CrashLoopBackOff":
            last = _terminated_reason(cs) or "error"
            return PodFailure(
                reasons.REASON_CONTAINER_CRASH_LOOP_BACK_OFF,
                f"pod {name}: container {cs.get('name')} keeps crashing (CrashLoopBackOff, "
                f"{cs.get('restartCount', 0)} restarts, last exit: {last})",
            )
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        message = str(status.get("message") or "")
        lowered = message.lower()
        if "disk" in lowered or "ephemeral-storage" in lowered:
            reason = reasons.REASON_NODE_DISK_PRESSURE
        elif "memory" in lowered:
            reason = reasons.REASON_NODE_MEMORY_PRESSURE
        else:
            reason = reasons.REASON_POD_EVICTED
        return PodFailure(reason, f"pod {name} was evicted: {message}")
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return PodFailure(
                reasons.REASON_UNSCHEDULABLE,
                f"pod {name} cannot be scheduled: {cond.get('message', '')}",
            )
    return None


def classify_pods(pods: Iterable[Obj]) -> PodFailure | None:
    """The first failure among ``pods`` (sorted by name), or ``None`` when none is failing."""
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("name", "")):
        failure = _classify_pod(pod)
        if failure is not None:
            return failure
    return None


def _finished_at(pod: Obj) -> str:
    """When the pod's last container stopped (RFC 3339 sorts as text), else its creation time."""
    times = [
        str(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt") or "")
        for cs in _container_statuses(pod)
    ]
    meta = pod.get("metadata") or {}
    return max([t for t in times if t] or [str(meta.get("creationTimestamp") or "")])


def _exit_detail(pod: Obj) -> str:
    for cs in _container_statuses(pod):
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode") not in (None, 0):
            reason = terminated.get("reason") or "Error"
            return (
                f"container {cs.get('name')} exited with code {terminated['exitCode']} ({reason})"
            )
    status = pod.get("status") or {}
    reason = status.get("reason") or "Failed"
    message = status.get("message")
    return f"{reason}: {message}" if message else str(reason)


def job_pod_failure(pods: Iterable[Obj]) -> str | None:
    """A description of the most recently failed pod of a Job, or ``None`` when none failed.

    Only pods in phase ``Failed`` count (the ones the Job controller counts in ``status.failed``);
    the classified reason is used when there is one (OOMKilled, eviction, ...), else the exit code.
    """
    failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
    if not failed:
        return None
    pod = max(failed, key=lambda p: (_finished_at(p), p.get("metadata", {}).get("name", "")))
    classified = _classify_pod(pod)
    if classified is not None:
        return classified.message
    return f"pod {pod.get('metadata', {}).get('name', '?')} failed: {_exit_detail(pod)}"
