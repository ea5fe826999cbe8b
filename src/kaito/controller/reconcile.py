"""The level-triggered Workspace reconcile (§2.2): plan, apply, observe, status.

``reconcile`` is called for a Workspace whenever it or one of its children changes, and again
after ``Outcome.requeue_after`` while it waits. Every pass recomputes the status from what exists
(so a restarted operator needs no memory), writes it only when it changed, and appends the pass's
error to condition messages. Deletion runs through the same entry point: node requests are deleted
and awaited before the ``workspace.finalizer.kaito.sh`` finalizer is released (§2.8).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import yaml

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace, WorkspaceParseError, parse_workspace, to_v1beta1
from kaito.controller import benchmark, history, workloads
from kaito.controller import status as status_mod
from kaito.controller.context import ControllerContext
from kaito.controller.errors import PermanentReconcileError, ReconcileError
from kaito.controller.history import record_revision as record_revision
from kaito.controller.history import sync_revision as sync_revision
from kaito.controller.provisioners import (
    NodeProvisioner,
    get_provisioner,
    label_accelerator_nodes,
)
from kaito.k8s import apply, errors, events, resources
from kaito.manifests import naming, render, tuning
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import WorkloadPlan
from kaito.presets import skus
from kaito.presets.errors import PresetError

Obj = dict[str, Any]
log = logging.getLogger(__name__)

# Event reason for a newly observed failure (pod failure classes, tuning Job failure).
EVENT_FAILED = "WorkspaceFailed"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the caller should do next.

    Attributes:
        requeue_after: Seconds until the next pass (waiting on nodes, pods or a job), or ``None``
            when only a change to the Workspace or its children needs another pass.
        done: The Workspace is gone (its finalizer was released).
        state: The Workspace's state after the pass.
        reconciled: The Workspace as stored after this pass patched its metadata (finalizer,
            revision annotations), when it did: the spec of that object is the one this pass
            reconciled, so its own watch event needs no pass.
        latest: The newest Workspace object this pass saw or wrote (its status write's result).
    """

    requeue_after: float | None = None
    done: bool = False
    state: str | None = None
    reconciled: Obj | None = None
    latest: Obj | None = None


def _parse(body: Obj) -> AnyWorkspace:
    clean = {k: v for k, v in body.items() if k != "status"}
    try:
        return to_v1beta1(parse_workspace(clean))
    except WorkspaceParseError as exc:
        raise PermanentReconcileError(f"the Workspace cannot be read: {exc}") from exc


def _provisioner(ctx: ControllerContext) -> NodeProvisioner:
    return get_provisioner(ctx.settings.node_provisioner)


async def _max_model_len(ctx: ControllerContext, ws: AnyWorkspace) -> int | None:
    """The user's ``vllm.max-model-len`` from the inference ConfigMap, if set."""
    if ws.inference is None or not ws.inference.config:
        return None
    cm = await ctx.cluster.get_or_none(
        resources.CONFIGMAP, ws.inference.config, ws.metadata.namespace or "default"
    )
    text = ((cm or {}).get("data") or {}).get(constants.CONFIGMAP_KEY_INFERENCE)
    if not text:
        return None
    try:
        doc = yaml.safe_load(text) or {}
        value = (doc.get(constants.INFERENCE_CONFIG_VLLM_SECTION) or {}).get(
            constants.INFERENCE_CONFIG_MAX_MODEL_LEN
        )
        return int(value) if value is not None else None
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        return None


async def _gpu(ctx: ControllerContext, ws: AnyWorkspace) -> skus.GPUConfig | None:
    """GPU facts: the SKU table for provisioned nodes, GPU Feature Discovery labels for BYO."""
    if ws.resource.instance_type:
        return skus.get_sku(ws.resource.instance_type, ctx.settings.cloud)
    labels = naming.selector_labels(ws.resource.label_selector)
    for node in await ctx.cluster.list(resources.NODE, labels=labels):
        config = skus.gpu_config_from_node_labels(node["metadata"].get("labels") or {})
        if config is not None:
            return config
    return None


async def _observe_workload(
    ctx: ControllerContext, ws: AnyWorkspace, obs: Any, status: Obj
) -> None:
    name, namespace = str(ws.metadata.name), ws.metadata.namespace or "default"
    selector = {constants.LABEL_WORKSPACE: name}
    if ws.inference is not None:
        if obs.statefulset is None and not ctx.cluster.cached_absent(
            resources.STATEFULSET, name, namespace
        ):
            obs.statefulset = await ctx.cluster.get_or_none(resources.STATEFULSET, name, namespace)
        if obs.statefulset is not None:
            obs.pods = await ctx.cluster.list(resources.POD, namespace, labels=selector)
            await benchmark.observe_benchmark(ctx, ws, obs, status)
    else:
        if not ctx.cluster.cached_absent(resources.JOB, name, namespace):
            obs.job = await ctx.cluster.get_or_none(resources.JOB, name, namespace)
        status = (obs.job or {}).get("status") or {}
        if status.get("failed"):
            obs.pods = await ctx.cluster.list(resources.POD, namespace, labels={"job-name": name})


async def _write_status(
    ctx: ControllerContext, body: Obj, obs: status_mod.Observation
) -> tuple[str | None, Obj | None]:
    """Write the recomputed status when it changed.

    Returns:
        The resulting ``state`` and the object as written (``None`` when nothing was).
    """
    meta = body["metadata"]
    states: list[str | None] = []
    news: list[str] = []

    def compute(current: Obj) -> Obj | None:
        new = status_mod.compute_status(current, obs)
        states.append(new.get("state"))
        news[:] = status_mod.new_failures(current.get("status") or {}, new)
        if status_mod.status_equal(new, current.get("status") or {}):
            return None
        return new

    written = await apply.patch_status(
        ctx.cluster, resources.WORKSPACE, meta["name"], meta["namespace"], compute, current=body
    )
    if written is not None:
        for message in news:
            await ctx.event(body, EVENT_FAILED, message, events.EVENT_WARNING)
    return (states[-1] if states else None), written


async def reconcile(ctx: ControllerContext, body: Obj) -> Outcome:
    """One pass over a Workspace (given as the raw object from a watch or a GET).

    Raises:
        PermanentReconcileError: The Workspace cannot be reconciled until it changes.
        ReconcileError: A retriable failure (after the status was updated with it).
    """
    ws = _parse(body)
    if body["metadata"].get("deletionTimestamp"):
        return await finalize(ctx, body, ws)
    obs = status_mod.Observation()
    requeue: float | None = None
    failure: Exception | None = None
    reconciled: Obj | None = None
    try:
        # The finalizer lands before any node is requested, so a deletion can never orphan one.
        revision, updated = await history.record_revision_and_metadata(ctx, body, ws)
        if updated is not body:
            reconciled = body = updated
        old_target = int(((body.get("status") or {}).get("targetNodeCount")) or 0)
        gpu = await _gpu(ctx, ws)
        plan = render.plan_workload(
            ws,
            ctx.settings,
            node_count=old_target or None,
            gpu=gpu,
            max_model_len=await _max_model_len(ctx, ws) if not old_target else None,
            revision=revision,
        )
        obs.target_node_count = plan.node_count
        provisioner = _provisioner(ctx)
        readiness = await provisioner.ensure(ctx, ws, plan)
        obs.node_conditions = readiness.conditions
        obs.worker_nodes = readiness.worker_nodes
        # Independent writes, issued together: the node labels (nothing schedules on them), the
        # Services and the workload; a pass waits for one round trip, not one per write.
        labels = label_accelerator_nodes(ctx, readiness.unlabelled)
        if not readiness.ready:
            await labels
            requeue = ctx.requeue_s
        elif ws.inference is not None:
            _, _, obs.statefulset = await asyncio.gather(
                labels,
                workloads.apply_services(ctx, ws, plan.runtime),
                workloads.apply_statefulset(ctx, ws, body, plan),
            )
        else:
            await asyncio.gather(labels, _apply_tuning(ctx, ws, body, plan))
    except (PresetError, ManifestError) as exc:
        failure = PermanentReconcileError(str(exc))
        obs.error = str(exc)
    except errors.KubernetesError as exc:
        failure = ReconcileError(str(exc))
        obs.error = str(exc)
    except ValueError as exc:
        # Not the Workspace's fault (a builder's bug, say): retried, never made permanent.
        failure = ReconcileError(f"internal error: {exc}")
        obs.error = str(exc)
    state: str | None = None
    latest: Obj = body
    try:
        await _observe_workload(ctx, ws, obs, body.get("status") or {})
        state, written = await _write_status(ctx, body, obs)
        latest = written or body
    except errors.KubernetesError as exc:
        if failure is None:
            failure = ReconcileError(f"status update failed: {exc}")
    if failure is not None:
        raise failure
    if requeue is None and not _finished(ws, obs):
        requeue = ctx.requeue_s
    return Outcome(requeue_after=requeue, state=state, reconciled=reconciled, latest=latest)


async def _apply_tuning(
    ctx: ControllerContext, ws: AnyWorkspace, body: Obj, plan: WorkloadPlan
) -> None:
    """The training ConfigMap and the Job.

    The ConfigMap is read only while the Job is to be created: a Job that exists needs neither,
    and one of an old revision is only deleted.
    """
    current = await workloads.read_tuning_job(ctx, ws)
    if workloads.tuning_job_due(current):
        text = await workloads.apply_tuning_config(ctx, ws)
        output_dir = tuning.output_dir_of(text)
        if output_dir:
            plan = dataclasses.replace(plan, tuning_output_dir=output_dir)
    await workloads.apply_tuning_job(ctx, ws, body, plan, current)


def _finished(ws: AnyWorkspace, obs: status_mod.Observation) -> bool:
    """Whether nothing is left to wait for (children's watch events cover later changes)."""
    if ws.inference is not None:
        # Not while a rollout is in progress: old pods are still ready then.
        return obs.statefulset is not None and status_mod.statefulset_rollout(obs.statefulset)[0]
    # A Job retrying its failed pods is not finished.
    return status_mod.job_outcome(obs.job) is not None


async def finalize(ctx: ControllerContext, body: Obj, ws: AnyWorkspace) -> Outcome:
    """Delete node requests, wait for them to go, then release the finalizer (§2.8)."""
    meta = body["metadata"]
    if constants.WORKSPACE_FINALIZER not in (meta.get("finalizers") or []):
        return Outcome(done=True)
    try:
        gone = await _provisioner(ctx).delete_nodes(ctx, ws)
    except errors.KubernetesError as exc:
        raise ReconcileError(f"deleting node requests failed: {exc}") from exc
    if not gone:
        obs = status_mod.Observation(deleting=True)
        try:
            await _write_status(ctx, body, obs)
        except errors.KubernetesError as exc:
            log.debug("status update during deletion failed: %s", exc)
        return Outcome(requeue_after=ctx.requeue_s)
    remaining = [f for f in meta.get("finalizers") or [] if f != constants.WORKSPACE_FINALIZER]
    patch = {
        "metadata": {"finalizers": remaining or None, "resourceVersion": meta["resourceVersion"]}
    }
    try:
        await ctx.cluster.patch(resources.WORKSPACE, meta["name"], patch, meta["namespace"])
    except errors.NotFoundError:
        pass
    except errors.KubernetesError as exc:
        raise ReconcileError(f"releasing the finalizer failed: {exc}") from exc
    return Outcome(done=True)
