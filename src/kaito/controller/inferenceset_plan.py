"""Pure decisions of the InferenceSet controller: which replicas to create, delete, and what status.

Given an InferenceSet and its child Workspaces as the API has them, :func:`plan_replicas` says
how many children to create and which to delete, and :func:`build_status` what the set's status
is. Nothing here does I/O, so every rule is unit-tested table-style and the controller
(:mod:`kaito.controller.inferenceset`) only applies the plan:

* **Count.** Children being deleted do not count. The target is ``spec.replicas``, lowered to
  what ``nodeCountLimit`` allows (``limit // nodes per replica``, the nodes per replica being the
  largest ``status.targetNodeCount`` among the children, 1 before any is sized).
* **Scale down** deletes not-ready replicas first, then outdated ones (made from an older
  template), then the newest.
* **Rolling update** (``RollingUpdate``, the default): outdated replicas are deleted while fewer
  than ``maxUnavailable`` replicas are unavailable (not ready, being deleted or missing), not-ready
  ones first; their replacements are created from the new template in the same pass. With
  ``OnDelete`` outdated replicas stay until a user deletes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from kaito.api import conditions, constants, reasons, v1beta1
from kaito.api.inferenceset import InferenceSet, InferenceSetStatus
from kaito.api.inferenceset_children import (
    child_selector,
    max_unavailable,
    template_hash,
    update_strategy_type,
)
from kaito.api.workspace import workspace_runtime

Obj = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Child:
    """What the controller needs to know about one child Workspace."""

    name: str
    created: str
    ready: bool
    outdated: bool
    terminating: bool
    target_nodes: int | None
    peak_tpm: float | None
    metric_config: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class ReplicaPlan:
    """What one pass changes."""

    target: int
    create: int
    delete: tuple[str, ...]
    capped_by_node_limit: bool


def _condition_true(obj: Obj, ctype: str) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return bool(cond.get("status") == "True")
    return False


def _peak_tpm(obj: Obj) -> tuple[float | None, Mapping[str, str]]:
    metrics = ((obj.get("status") or {}).get("performance") or {}).get("metrics") or {}
    metric = metrics.get(constants.METRIC_PEAK_TOKENS_PER_MINUTE) or {}
    try:
        value = float(metric.get("value", ""))
    except (TypeError, ValueError):
        return None, {}
    return (value if value > 0 else None), dict(metric.get("config") or {})


def describe_child(obj: Obj, current_hash: str) -> Child:
    """A child Workspace as the planner sees it."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    peak, config = _peak_tpm(obj)
    target = status.get("targetNodeCount")
    return Child(
        name=str(meta.get("name", "")),
        created=str(meta.get("creationTimestamp") or ""),
        ready=_condition_true(obj, reasons.CONDITION_WORKSPACE_SUCCEEDED),
        outdated=(meta.get("annotations") or {}).get(
            constants.ANNOTATION_INFERENCESET_TEMPLATE_HASH
        )
        != current_hash,
        terminating=bool(meta.get("deletionTimestamp")),
        target_nodes=target if isinstance(target, int) and target > 0 else None,
        peak_tpm=peak,
        metric_config=config,
    )


def describe_children(iset: InferenceSet, objs: Sequence[Obj]) -> list[Child]:
    """Every child of ``iset``, sorted by name (so plans are deterministic)."""
    current = template_hash(iset)
    return sorted((describe_child(o, current) for o in objs), key=lambda c: c.name)


def replica_target(iset: InferenceSet, children: Sequence[Child]) -> tuple[int, bool]:
    """The replica count to keep, and whether ``nodeCountLimit`` lowered it."""
    desired = max(0, iset.spec.replicas)
    limit = iset.spec.node_count_limit
    if not limit or limit <= 0:
        return desired, False
    per_replica = max((c.target_nodes or 1 for c in children), default=1)
    allowed = limit // per_replica
    return (allowed, True) if allowed < desired else (desired, False)


def _deletion_order(child: Child) -> tuple[bool, bool, str, str]:
    # Not ready first, then outdated, then the newest (reverse creation time), then by name.
    inverted = "".join(chr(0x10FFFF - ord(ch)) for ch in child.created)
    return (child.ready, not child.outdated, inverted, child.name)


def plan_replicas(iset: InferenceSet, children: Sequence[Child]) -> ReplicaPlan:
    """How many children to create and which to delete in this pass."""
    target, capped = replica_target(iset, children)
    active = [c for c in children if not c.terminating]
    delete: list[Child] = []
    if len(active) > target:
        delete = sorted(active, key=_deletion_order)[: len(active) - target]
    elif update_strategy_type(iset) == constants.UPDATE_STRATEGY_ROLLING:
        try:
            budget = max_unavailable(iset)
        except ValueError:
            budget = 1
        terminating = len(children) - len(active)
        unavailable = sum(1 for c in active if not c.ready) + terminating
        unavailable += max(0, target - len(active))
        outdated = sorted((c for c in active if c.outdated), key=lambda c: (c.ready, c.name))
        delete = outdated[: max(0, budget - unavailable)]
    remaining = len(active) - len(delete)
    return ReplicaPlan(
        target=target,
        create=max(0, target - remaining),
        delete=tuple(c.name for c in delete),
        capped_by_node_limit=capped,
    )


def should_aggregate_performance(iset: InferenceSet) -> bool:
    """Upstream aggregates only when the children benchmark: vLLM, a preset, not disabled."""
    meta = iset.metadata
    if meta.annotations.get(constants.ANNOTATION_DISABLE_BENCHMARK) == "true":
        return False
    probe = v1beta1.Workspace(
        metadata=meta.model_copy(update={"annotations": dict(meta.annotations)}),
        resource=v1beta1.ResourceSpec(label_selector=iset.spec.label_selector),
        inference=iset.spec.template.inference,
    )
    runtime = workspace_runtime(probe)
    return runtime == constants.RUNTIME_VLLM and iset.spec.template.inference.preset is not None


def build_status(
    iset: InferenceSet, children: Sequence[Child], plan: ReplicaPlan, *, now: str | None = None
) -> InferenceSetStatus:
    """The status the set should have after this pass (conditions keep their transition times)."""
    previous = iset.status or InferenceSetStatus()
    status = previous.model_copy(deep=True)
    desired = max(0, iset.spec.replicas)
    ready = [c for c in children if c.ready and not c.terminating]
    status.replicas = desired
    status.ready_replicas = len(ready)
    status.selector = child_selector(iset.metadata.name or "")
    generation = iset.metadata.generation
    if len(ready) == desired:
        conditions.set_condition(
            status.conditions,
            constants.CONDITION_INFERENCESET_READY,
            "True",
            constants.REASON_INFERENCESET_READY,
            "inferenceset is ready",
            observed_generation=generation,
            now=now,
        )
    else:
        message = f"inferenceset is not ready, {len(ready)}/{desired} replicas are ready"
        if plan.capped_by_node_limit:
            message += (
                f"; nodeCountLimit {iset.spec.node_count_limit} allows {plan.target} replicas"
            )
        conditions.set_condition(
            status.conditions,
            constants.CONDITION_INFERENCESET_READY,
            "False",
            constants.REASON_INFERENCESET_NOT_READY,
            message,
            observed_generation=generation,
            now=now,
        )
    _set_performance(iset, status, ready, desired, now)
    return status


def _set_performance(
    iset: InferenceSet,
    status: InferenceSetStatus,
    ready: Sequence[Child],
    desired: int,
    now: str | None,
) -> None:
    key = constants.METRIC_AGGREGATED_PEAK_TOKENS_PER_MINUTE
    benchmarked = [c for c in ready if c.peak_tpm is not None]
    aggregate = should_aggregate_performance(iset)
    if aggregate and benchmarked:
        performance = status.performance or v1beta1.Performance()
        performance.metrics[key] = v1beta1.Metric(
            description=constants.METRIC_DESCRIPTION_STRESS,
            value=f"{sum(c.peak_tpm or 0.0 for c in benchmarked):.2f}",
            unit=constants.METRIC_UNIT_TOKENS_PER_MINUTE,
            config=dict(benchmarked[0].metric_config),
        )
        status.performance = performance
    elif status.performance is not None:
        status.performance.metrics.pop(key, None)
        if not status.performance.metrics:
            status.performance = None
    if not aggregate:
        conditions.remove_condition(status.conditions, reasons.CONDITION_BENCHMARK_COMPLETED)
        return
    done = len(benchmarked) == desired and desired > 0
    conditions.set_condition(
        status.conditions,
        reasons.CONDITION_BENCHMARK_COMPLETED,
        "True" if done else "False",
        reasons.REASON_BENCHMARK_COMPLETED if done else constants.REASON_BENCHMARK_PENDING,
        f"{len(benchmarked)}/{desired} replicas benchmarked",
        observed_generation=iset.metadata.generation,
        now=now,
    )
