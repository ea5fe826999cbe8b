"""Local mode's status: what the supervisor saw of its processes, fed to the controller's rules.

On a cluster the controller observes NodeClaims, the StatefulSet, the tuning Job and their pods,
and :func:`kaito.controller.status.compute_status` turns that into conditions and a state. Locally
the supervisor observes processes instead, so this module only translates: :class:`Observed` (the
tuning steps' progress, the server's health) becomes the same kind of
:class:`~kaito.controller.status.Observation` -- this machine as the one ready node, a Job whose
status mirrors the tuning steps, a one-replica StatefulSet that is ready when ``/health`` answers --
and ``compute_status`` writes the status. ``kaito get -o yaml`` therefore carries exactly the
conditions (``WorkspaceReady`` included), reasons and states ``kubectl get workspace -o yaml`` does.

Three facts have no cluster counterpart and are applied after ``compute_status``, in one place:
a local process is never restarted, so a server that failed before it was ever ready leaves the
Workspace ``Failed`` (a pod would be retried and stay Pending); a server stopped on purpose is
``NotReady``, not failed; and a tuning Workspace run with ``--serve`` also reports
``InferenceReady`` for the server of its adapter.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from kaito.api import conditions, constants, reasons, v1beta1
from kaito.controller import status as controller_status
from kaito.controller.failures import PodFailure

LOCAL_NODE_MESSAGE = "running on this machine (kaito local mode)"
REASON_LOCAL_STOPPED = "LocalProcessStopped"
"""Reason for a server stopped on purpose (Ctrl-C or ``kaito delete``); local mode only."""
REASON_LOCAL_DISK_FULL = "LocalDiskFull"
"""Reason used when the state disk filled up (a record could not be written, or during start-up)."""
REASON_LOCAL_RUNNER_LOST = "LocalRunnerLost"
"""Reason used when the supervising process vanished without recording an outcome."""
REASON_LOCAL_STEP_FAILED = "LocalStepFailed"
"""The Job-level reason of a tuning step that exited non-zero (a Job's ``BackoffLimitExceeded``)."""

JobProgress = Literal["pending", "running", "succeeded", "failed"]
ServerProgress = Literal["absent", "starting", "ready", "down"]

_ACTIVE_STATES = frozenset(
    {constants.STATE_PENDING, constants.STATE_RUNNING, constants.STATE_READY}
)


@dataclasses.dataclass
class Observed:
    """What the supervisor has seen of its processes: the local stand-in for cluster objects.

    Attributes:
        node: This machine's name (``status.workerNodes``).
        job: The tuning steps: none started, one running, all done, or one failed.
        job_failure: Why the tuning steps failed (reason and message).
        server: ``kaito-serve``: not started, starting, answering ``/health``, or gone.
        server_failure: Why the server is down.
        ever_ready: The server answered ``/health`` at least once in this run.
        performance: ``status.performance`` (wire form) read from the server's benchmark lines.
        benchmark_error: Why no benchmark result could be read.
    """

    node: str
    job: JobProgress = "pending"
    job_failure: PodFailure | None = None
    server: ServerProgress = "absent"
    server_failure: PodFailure | None = None
    ever_ready: bool = False
    performance: dict[str, Any] | None = None
    benchmark_error: str | None = None

    def job_failed(self, reason: str, message: str) -> None:
        """A tuning step failed (or the run could not go on)."""
        self.job, self.job_failure = "failed", PodFailure(reason, message)

    def server_down(self, reason: str, message: str) -> None:
        """The server stopped, or never came up."""
        self.server, self.server_failure = "down", PodFailure(reason, message)

    def server_ready(self) -> None:
        """The server answers ``/health``."""
        self.server, self.server_failure, self.ever_ready = "ready", None, True

    @classmethod
    def from_status(cls, ws: v1beta1.Workspace) -> Observed:
        """What a recorded status says was last seen (a resumed run, or a supervisor's autopsy)."""
        status = ws.status or v1beta1.WorkspaceStatus()
        state = status.state
        seen = cls(node=(status.worker_nodes or ["localhost"])[0])
        if state == constants.STATE_SUCCEEDED:
            seen.job = "succeeded"
        elif state == constants.STATE_RUNNING:
            seen.job = "running"
        inference = conditions.get_condition(status.conditions, reasons.CONDITION_INFERENCE_READY)
        if inference is not None and inference.status == reasons.CONDITION_TRUE:
            seen.server, seen.ever_ready = "ready", True
        elif state in (constants.STATE_READY, constants.STATE_NOT_READY):
            seen.ever_ready = True
        return seen


def _job(seen: Observed) -> dict[str, Any]:
    """A Job whose status says what the tuning steps did (no retries: ``backoffLimit`` 0)."""
    job_status: dict[str, Any] = {}
    if seen.job == "running":
        job_status["active"] = 1
    elif seen.job == "succeeded":
        job_status["succeeded"] = 1
    elif seen.job == "failed":
        failure = seen.job_failure or PodFailure(REASON_LOCAL_STEP_FAILED, "a tuning step failed")
        job_status["failed"] = 1
        job_status["conditions"] = [
            {
                "type": controller_status.JOB_FAILED,
                "status": reasons.CONDITION_TRUE,
                "reason": failure.reason,
                "message": failure.message,
            }
        ]
    return {"spec": {"backoffLimit": 0}, "status": job_status}


def _statefulset(seen: Observed) -> dict[str, Any]:
    """A one-replica StatefulSet, its pod ready while ``/health`` answers."""
    ready = 1 if seen.server == "ready" else 0
    return {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": 1},
    }


def _server_condition(seen: Observed) -> tuple[str, str, str]:
    if seen.server == "ready":
        return (
            reasons.CONDITION_TRUE,
            reasons.REASON_INFERENCE_STATUS_SUCCESS,
            "Inference has been deployed successfully",
        )
    if seen.server == "down" and seen.server_failure is not None:
        return reasons.CONDITION_FALSE, seen.server_failure.reason, seen.server_failure.message
    return (
        reasons.CONDITION_FALSE,
        reasons.REASON_INFERENCE_STATUS_PENDING,
        "the inference server is starting",
    )


def observe(ws: v1beta1.Workspace, seen: Observed) -> None:
    """Recompute ``ws.status`` from ``seen`` with the controller's rules (see the module doc)."""
    tuning = ws.tuning is not None
    obs = controller_status.Observation(
        target_node_count=1,
        node_conditions=[
            controller_status.true_condition(
                reasons.CONDITION_RESOURCE_READY,
                True,
                reasons.REASON_RESOURCE_STATUS_SUCCESS,
                LOCAL_NODE_MESSAGE,
            )
        ],
        worker_nodes=[seen.node],
    )
    obs.performance, obs.benchmark_error = seen.performance, seen.benchmark_error
    if tuning:
        obs.job = _job(seen)
    else:
        obs.statefulset = _statefulset(seen)
        obs.workload_failure = seen.server_failure if seen.server == "down" else None
    wire = ws.to_wire()
    new = controller_status.compute_status(wire, obs)
    status = v1beta1.WorkspaceStatus.model_validate(new)
    if tuning and seen.server != "absent":
        value, reason, message = _server_condition(seen)
        conditions.set_condition(
            status.conditions,
            reasons.CONDITION_INFERENCE_READY,
            value,  # type: ignore[arg-type]
            reason,
            message,
            observed_generation=ws.metadata.generation,
        )
    if not tuning and seen.server == "down" and seen.server_failure is not None:
        stopped = seen.server_failure.reason == REASON_LOCAL_STOPPED
        if stopped:
            status.state = constants.STATE_NOT_READY
        elif not seen.ever_ready:
            status.state = constants.STATE_FAILED
    ws.status = status


def start(ws: v1beta1.Workspace, node_name: str) -> Observed:
    """A fresh run: nothing seen yet but this machine (state Pending); returns the observation."""
    ws.status = v1beta1.WorkspaceStatus()
    seen = Observed(node=node_name)
    observe(ws, seen)
    return seen


def is_active(ws: v1beta1.Workspace) -> bool:
    """Whether the recorded state says something should be running."""
    state = ws.status.state if ws.status else None
    if state in _ACTIVE_STATES:
        return True
    return conditions.is_condition_true(
        ws.status.conditions if ws.status else [], reasons.CONDITION_INFERENCE_READY
    )


def mark_runner_lost(ws: v1beta1.Workspace, message: str) -> None:
    """The supervisor is gone while the record says work was under way (a crash or a reboot)."""
    seen = Observed.from_status(ws)
    if ws.tuning is not None and seen.job in ("pending", "running"):
        seen.job_failed(REASON_LOCAL_RUNNER_LOST, message)
    if ws.tuning is None or seen.server == "ready":
        seen.server_down(REASON_LOCAL_RUNNER_LOST, message)
    observe(ws, seen)


def reason_for_exit(exit_code: int) -> str:
    """The upstream pod-failure reason closest to a process exit code (137 means OOM-killed)."""
    if exit_code == 128 + 9:
        return reasons.REASON_CONTAINER_OOM_KILLED
    return reasons.REASON_CONTAINER_START_ERROR
