"""Typed views of the StatefulSet and Job status fields the controller reads, and their meaning.

Objects come from the API server as plain dictionaries in which Kubernetes omits zero values and
unset fields; each view reads its fields once, with those defaults, so the rules below (and
``kaito.controller.status``) work on named, typed values instead of ``.get(...) or 0`` chains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kaito.api import reasons

Obj = dict[str, Any]

# Kubernetes' default ``spec.backoffLimit`` (the Job the operator builds sets the same value).
DEFAULT_BACKOFF_LIMIT = 6
JOB_SUCCEEDED = "Succeeded"
JOB_FAILED = "Failed"


def _int(value: object) -> int:
    return int(str(value or 0))


@dataclass(frozen=True)
class StatefulSetView:
    """The rollout fields of a StatefulSet (``spec.replicas`` and ``status``)."""

    replicas: int
    ready: int
    updated: int
    generation: int | None
    observed_generation: int
    current_revision: str | None
    update_revision: str | None

    @classmethod
    def of(cls, sts: Obj) -> StatefulSetView:
        """Read ``sts``; counts Kubernetes left out are 0."""
        meta = sts.get("metadata") or {}
        status = sts.get("status") or {}
        generation = meta.get("generation")
        return cls(
            replicas=_int((sts.get("spec") or {}).get("replicas")),
            ready=_int(status.get("readyReplicas")),
            updated=_int(status.get("updatedReplicas")),
            generation=None if generation is None else int(generation),
            observed_generation=_int(status.get("observedGeneration")),
            current_revision=status.get("currentRevision"),
            update_revision=status.get("updateRevision"),
        )


@dataclass(frozen=True)
class JobView:
    """The progress fields of a Job (``spec.backoffLimit`` and ``status``)."""

    active: int = 0
    ready: int = 0
    succeeded: int = 0
    failed: int = 0
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    true_conditions: Mapping[str, Obj] = field(default_factory=dict)
    """Conditions whose status is True, by type."""

    @classmethod
    def of(cls, job: Obj) -> JobView:
        """Read ``job``; counts Kubernetes left out are 0, a missing backoff limit is 6."""
        status = job.get("status") or {}
        limit = (job.get("spec") or {}).get("backoffLimit")
        return cls(
            active=_int(status.get("active")),
            ready=_int(status.get("ready")),
            succeeded=_int(status.get("succeeded")),
            failed=_int(status.get("failed")),
            backoff_limit=DEFAULT_BACKOFF_LIMIT if limit is None else int(limit),
            true_conditions={
                str(c.get("type")): dict(c)
                for c in status.get("conditions") or []
                if c.get("status") == reasons.CONDITION_TRUE
            },
        )

    def true_condition(self, *types: str) -> Obj | None:
        """The first of ``types`` (in that order of preference) that is True."""
        return next(
            (dict(self.true_conditions[t]) for t in types if t in self.true_conditions), None
        )


def statefulset_rollout(sts: Obj) -> tuple[bool, str]:
    """Whether every pod of ``sts`` runs its current spec and is ready, with a progress message.

    What ``kubectl rollout status statefulset`` checks for a RollingUpdate: the StatefulSet
    controller has observed the current ``metadata.generation``; ``updatedReplicas`` (pods at
    ``updateRevision``) and ``readyReplicas`` reach ``spec.replicas``. Until the controller has
    observed a template change, ``readyReplicas`` still counts the old pods, and during the roll
    ``currentRevision`` differs from ``updateRevision``, so ready replicas alone would report a
    Workspace Ready on its previous revision. The operator sets no ``partition``: every pod must
    be updated.
    """
    v = StatefulSetView.of(sts)
    if v.generation is not None and v.observed_generation < v.generation:
        return False, (
            f"waiting for the StatefulSet controller to observe generation {v.generation} "
            f"(observed: {v.observed_generation}); inference pods ready: {v.ready}/{v.replicas}"
        )
    current, update = v.current_revision, v.update_revision
    if v.updated < v.replicas and not (current and update and current == update):
        return False, (
            f"rolling out: {v.updated} of {v.replicas} pods updated"
            + (f" to revision {update}" if update else "")
            + f", {v.ready} ready"
        )
    if v.replicas <= 0 or v.ready < v.replicas or v.updated < v.replicas:
        return False, f"inference pods ready: {v.ready}/{v.replicas}" + (
            f" ({v.updated} created at the current revision)" if v.updated < v.replicas else ""
        )
    return True, f"all {v.replicas} inference pods are updated and ready"


def job_outcome(job: Obj | None) -> str | None:
    """``JOB_SUCCEEDED``, ``JOB_FAILED``, or ``None`` while the Job runs, waits or retries.

    A Job has failed only when Kubernetes says so: its ``Failed`` condition (or the terminal
    ``FailureTarget`` that precedes it) is True (BackoffLimitExceeded, DeadlineExceeded, a pod
    failure policy), or -- for servers that do not set the condition -- ``status.failed`` exceeds
    ``spec.backoffLimit``. A failed pod below the limit is a retry, not a failure.
    """
    if job is None:
        return None
    v = JobView.of(job)
    if v.true_condition("Complete", "SuccessCriteriaMet") is not None:
        return JOB_SUCCEEDED
    if v.true_condition("Failed", "FailureTarget") is not None:
        return JOB_FAILED
    if v.succeeded > 0:
        return JOB_SUCCEEDED
    if v.failed > v.backoff_limit:
        return JOB_FAILED
    return None
