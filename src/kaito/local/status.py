"""The operator's conditions and states, written from local progress.

On a cluster the controller derives ``status`` from NodeClaims, the StatefulSet and the tuning Job
(reference §2.7). Locally the same facts come from the supervisor: this machine is the one node (so
``ResourceReady`` is true once the preflight checks pass), the tuning processes stand for the Job,
and the ``kaito-serve`` process for the StatefulSet. Every transition here uses the condition types,
reasons and state values of ``kaito.api.constants``, so ``kaito get -o yaml`` reads like
``kubectl get workspace -o yaml`` and tools that parse one can parse the other.

These functions only change the object in memory; the runner records it.
"""

from __future__ import annotations

from kaito.api import conditions, constants, v1beta1
from kaito.api.meta import ConditionStatus

LOCAL_NODE_MESSAGE = "running on this machine (kaito local mode)"
REASON_LOCAL_STOPPED = "LocalProcessStopped"
"""Reason for a server stopped on purpose (Ctrl-C or ``kaito delete``); local mode only."""
REASON_LOCAL_DISK_FULL = "LocalDiskFull"
"""Reason used when the state disk filled up (a record could not be written, or during start-up)."""
REASON_LOCAL_RUNNER_LOST = "LocalRunnerLost"
"""Reason used when the supervising process vanished without recording an outcome."""

_ACTIVE_STATES = frozenset(
    {constants.STATE_PENDING, constants.STATE_RUNNING, constants.STATE_READY}
)


def _status(ws: v1beta1.Workspace) -> v1beta1.WorkspaceStatus:
    if ws.status is None:
        ws.status = v1beta1.WorkspaceStatus()
    return ws.status


def _set(ws: v1beta1.Workspace, ctype: str, status: ConditionStatus, reason: str, msg: str) -> None:
    conditions.set_condition(
        _status(ws).conditions,
        ctype,
        status,
        reason,
        msg,
        observed_generation=ws.metadata.generation,
    )


def is_tuning(ws: v1beta1.Workspace) -> bool:
    """Whether ``ws`` is a tuning Workspace (else inference)."""
    return ws.tuning is not None


def mark_created(ws: v1beta1.Workspace, node_name: str) -> None:
    """A fresh run: the machine is the resource, nothing has started yet (state Pending)."""
    status = _status(ws)
    status.conditions = []
    status.state = constants.STATE_PENDING
    status.target_node_count = 1
    status.worker_nodes = [node_name]
    _set(
        ws,
        constants.CONDITION_RESOURCE_READY,
        constants.CONDITION_TRUE,
        constants.REASON_RESOURCE_STATUS_SUCCESS,
        LOCAL_NODE_MESSAGE,
    )
    summary_pending = "waiting for the tuning job" if is_tuning(ws) else "waiting for the server"
    if is_tuning(ws):
        _set(
            ws,
            constants.CONDITION_JOB_STARTED,
            constants.CONDITION_FALSE,
            constants.REASON_TUNING_JOB_PENDING,
            "the tuning job has not started",
        )
    else:
        _set(
            ws,
            constants.CONDITION_INFERENCE_READY,
            constants.CONDITION_FALSE,
            constants.REASON_INFERENCE_STATUS_PENDING,
            "the inference server has not started",
        )
    _set(
        ws,
        constants.CONDITION_WORKSPACE_SUCCEEDED,
        constants.CONDITION_FALSE,
        constants.REASON_WORKSPACE_PENDING,
        summary_pending,
    )


def mark_job_started(ws: v1beta1.Workspace, message: str) -> None:
    """A tuning step (fetch, train, push) is running: ``JobStarted`` true, state Running."""
    _set(
        ws,
        constants.CONDITION_JOB_STARTED,
        constants.CONDITION_TRUE,
        constants.REASON_TUNING_JOB_STARTED,
        message,
    )
    _status(ws).state = constants.STATE_RUNNING


def mark_job_succeeded(ws: v1beta1.Workspace, message: str) -> None:
    """Every tuning step finished: ``WorkspaceSucceeded`` true, state Succeeded."""
    _set(
        ws,
        constants.CONDITION_WORKSPACE_SUCCEEDED,
        constants.CONDITION_TRUE,
        constants.REASON_WORKSPACE_SUCCEEDED,
        message,
    )
    _status(ws).state = constants.STATE_SUCCEEDED


def mark_job_failed(ws: v1beta1.Workspace, message: str) -> None:
    """A tuning step failed: ``JobStarted`` false (Failed), ``WorkspaceSucceeded`` false, Failed."""
    _set(
        ws,
        constants.CONDITION_JOB_STARTED,
        constants.CONDITION_FALSE,
        constants.REASON_TUNING_JOB_FAILED,
        message,
    )
    _set(
        ws,
        constants.CONDITION_WORKSPACE_SUCCEEDED,
        constants.CONDITION_FALSE,
        constants.REASON_WORKSPACE_FAILED,
        message,
    )
    _status(ws).state = constants.STATE_FAILED


def mark_job_interrupted(ws: v1beta1.Workspace, message: str) -> None:
    """Tuning stopped on purpose before the end: back to Pending, resumable by ``kaito run``."""
    _set(
        ws,
        constants.CONDITION_JOB_STARTED,
        constants.CONDITION_FALSE,
        constants.REASON_TUNING_JOB_PENDING,
        message,
    )
    _set(
        ws,
        constants.CONDITION_WORKSPACE_SUCCEEDED,
        constants.CONDITION_FALSE,
        constants.REASON_WORKSPACE_PENDING,
        message,
    )
    _status(ws).state = constants.STATE_PENDING


def mark_inference_pending(ws: v1beta1.Workspace, message: str) -> None:
    """The server is starting (loading the model): ``InferenceReady`` false, Pending."""
    _set(
        ws,
        constants.CONDITION_INFERENCE_READY,
        constants.CONDITION_FALSE,
        constants.REASON_INFERENCE_STATUS_PENDING,
        message,
    )
    if not is_tuning(ws):
        _set(
            ws,
            constants.CONDITION_WORKSPACE_SUCCEEDED,
            constants.CONDITION_FALSE,
            constants.REASON_WORKSPACE_PENDING,
            message,
        )
        _status(ws).state = constants.STATE_PENDING


def mark_inference_ready(ws: v1beta1.Workspace, message: str) -> None:
    """The server answers ``/health``: ``InferenceReady`` true; an inference Workspace is Ready.

    A tuning Workspace run with ``--serve`` keeps its Succeeded state and gains the condition.
    """
    _set(
        ws,
        constants.CONDITION_INFERENCE_READY,
        constants.CONDITION_TRUE,
        constants.REASON_INFERENCE_STATUS_SUCCESS,
        message,
    )
    if not is_tuning(ws):
        _set(
            ws,
            constants.CONDITION_WORKSPACE_SUCCEEDED,
            constants.CONDITION_TRUE,
            constants.REASON_WORKSPACE_SUCCEEDED,
            message,
        )
        _status(ws).state = constants.STATE_READY


def mark_benchmark(
    ws: v1beta1.Workspace, performance: v1beta1.Performance | None, msg: str
) -> None:
    """Record the post-load benchmark: ``status.performance`` and ``BenchmarkCompleted``.

    ``performance`` None (no usable result) sets the condition False with ``msg``.
    """
    if performance is None:
        _set(
            ws,
            constants.CONDITION_BENCHMARK_COMPLETED,
            constants.CONDITION_FALSE,
            constants.REASON_BENCHMARK_FAILED,
            msg,
        )
        return
    _status(ws).performance = performance
    _set(
        ws,
        constants.CONDITION_BENCHMARK_COMPLETED,
        constants.CONDITION_TRUE,
        constants.REASON_BENCHMARK_COMPLETED,
        msg,
    )


def mark_inference_down(
    ws: v1beta1.Workspace, reason: str, message: str, *, ever_ready: bool
) -> None:
    """The server stopped or never came up: ``InferenceReady`` false.

    An inference Workspace goes NotReady after it was Ready (as upstream's Ready⇄NotReady), and
    Failed when the server never became ready.
    """
    _set(ws, constants.CONDITION_INFERENCE_READY, constants.CONDITION_FALSE, reason, message)
    if is_tuning(ws):
        return
    if ever_ready:
        _status(ws).state = constants.STATE_NOT_READY
        return
    _set(
        ws,
        constants.CONDITION_WORKSPACE_SUCCEEDED,
        constants.CONDITION_FALSE,
        constants.REASON_WORKSPACE_FAILED,
        message,
    )
    _status(ws).state = constants.STATE_FAILED


def is_active(ws: v1beta1.Workspace) -> bool:
    """Whether the recorded state says something should be running."""
    state = ws.status.state if ws.status else None
    if state in _ACTIVE_STATES:
        return True
    return conditions.is_condition_true(
        ws.status.conditions if ws.status else [], constants.CONDITION_INFERENCE_READY
    )


def mark_runner_lost(ws: v1beta1.Workspace, message: str) -> None:
    """The supervisor is gone while the record says work was under way (a crash or a reboot)."""
    state = ws.status.state if ws.status else None
    if is_tuning(ws):
        if state in (constants.STATE_RUNNING, constants.STATE_PENDING):
            mark_job_failed(ws, message)
        if conditions.is_condition_true(
            ws.status.conditions if ws.status else [], constants.CONDITION_INFERENCE_READY
        ):
            mark_inference_down(ws, REASON_LOCAL_RUNNER_LOST, message, ever_ready=True)
        return
    mark_inference_down(
        ws,
        REASON_LOCAL_RUNNER_LOST,
        message,
        ever_ready=state in (constants.STATE_READY, constants.STATE_NOT_READY),
    )


def reason_for_exit(exit_code: int) -> str:
    """The upstream pod-failure reason closest to a process exit code (137 means OOM-killed)."""
    if exit_code == 128 + 9:
        return constants.REASON_CONTAINER_OOM_KILLED
    return constants.REASON_CONTAINER_START_ERROR
