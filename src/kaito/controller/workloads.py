"""Services, the inference StatefulSet, the tuning Job and its ConfigMap (§2.5, §2.6, §2.9, §2.10).

Each ``apply_*`` is idempotent. Services are created once and never updated (as upstream). The
StatefulSet is created once; when the Workspace revision changes only the parts upstream rolls out
(container env and mounts, init containers, volumes) are patched, and the pod template change makes
Kubernetes roll the pods. A tuning Job cannot be changed, so a new revision replaces it.
"""

from __future__ import annotations

import asyncio
import logging
from types import EllipsisType
from typing import Any

from kaito.api import constants, reasons
from kaito.api.workspace import AnyWorkspace
from kaito.controller.context import ControllerContext
from kaito.k8s import apply, events, resources
from kaito.manifests import inference, services, tuning
from kaito.manifests.plan import WorkloadPlan

Obj = dict[str, Any]
log = logging.getLogger(__name__)

EVENT_WORKLOAD_CREATED = "WorkloadCreated"
EVENT_WORKLOAD_UPDATED = "WorkloadUpdated"
EVENT_WORKLOAD_REPLACED = "WorkloadReplaced"


def _revision_of(obj: Obj) -> str | None:
    return (obj["metadata"].get("annotations") or {}).get(constants.ANNOTATION_WORKSPACE_REVISION)


async def apply_services(ctx: ControllerContext, ws: AnyWorkspace, runtime: str) -> None:
    """The leader Service and the headless Service, created if missing (both at once)."""
    await asyncio.gather(
        *(
            apply.get_or_create(ctx.cluster, body)
            for body in (services.build_service(ws, runtime), services.build_headless_service(ws))
        )
    )


async def apply_statefulset(
    ctx: ControllerContext, ws: AnyWorkspace, ws_body: Obj, plan: WorkloadPlan
) -> Obj:
    """Create the StatefulSet, or roll out a new revision (env, mounts, init containers)."""
    desired = inference.build_statefulset(ws, ctx.settings, plan)
    name, namespace = desired["metadata"]["name"], desired["metadata"]["namespace"]
    if ctx.cluster.cached_absent(resources.STATEFULSET, name, namespace):
        # About to create it: look for an old release's Deployment at the same time.
        (current, created), old = await asyncio.gather(
            apply.get_or_create(ctx.cluster, desired),
            ctx.cluster.get_or_none(resources.DEPLOYMENT, name, namespace),
        )
    else:
        current, created = await apply.get_or_create(ctx.cluster, desired)
        old = (
            await ctx.cluster.get_or_none(resources.DEPLOYMENT, name, namespace)
            if created
            else None
        )
    if created:
        await ctx.event(ws_body, EVENT_WORKLOAD_CREATED, f"created StatefulSet {name}")
        await _migrate_deployment(ctx, ws_body, old, name, namespace)
        return current
    if _revision_of(current) == str(plan.revision):
        return current
    want_pod = desired["spec"]["template"]["spec"]
    have_pod = (current.get("spec") or {}).get("template", {}).get("spec") or {}
    containers = list(have_pod.get("containers") or want_pod["containers"])
    if containers and want_pod.get("containers"):
        first = dict(containers[0])
        first["env"] = want_pod["containers"][0].get("env")
        first["volumeMounts"] = want_pod["containers"][0].get("volumeMounts")
        containers[0] = first
    patch = {
        "metadata": {"annotations": {constants.ANNOTATION_WORKSPACE_REVISION: str(plan.revision)}},
        "spec": {
            "template": {
                "spec": {
                    "containers": containers,
                    "initContainers": want_pod.get("initContainers"),
                    "volumes": want_pod.get("volumes"),
                }
            }
        },
    }
    updated = await ctx.cluster.patch(
        resources.STATEFULSET, name, patch, desired["metadata"]["namespace"]
    )
    await ctx.event(
        ws_body,
        EVENT_WORKLOAD_UPDATED,
        f"rolled out revision {plan.revision} to StatefulSet {name}",
    )
    return updated


async def _migrate_deployment(
    ctx: ControllerContext, ws_body: Obj, old: Obj | None, name: str, ns: str
) -> None:
    """Delete ``old``, the Deployment older releases ran inference in (now a StatefulSet, §2.6)."""
    labels = ((old or {}).get("metadata") or {}).get("labels") or {}
    if old is None or labels.get(constants.LABEL_WORKSPACE) != name:
        return
    await apply.delete_if_exists(ctx.cluster, resources.DEPLOYMENT, name, ns)
    await ctx.event(
        ws_body,
        reasons.EVENT_WORKLOAD_MIGRATION,
        f"deleted the Deployment {name} of an earlier release; inference now runs in a StatefulSet",
        events.EVENT_WARNING,
    )


async def apply_tuning_config(ctx: ControllerContext, ws: AnyWorkspace) -> str | None:
    """Ensure the training ConfigMap exists; return its ``training_config.yaml`` text if known.

    Without ``tuning.config`` the default template is copied from the operator namespace into the
    Workspace namespace once (§2.9); when the operator namespace lacks it, the packaged default is
    used (the same content ``config/`` installs).
    """
    spec = ws.tuning
    assert spec is not None
    namespace = ws.metadata.namespace or "default"
    if spec.config:
        cm = await ctx.cluster.get_or_none(resources.CONFIGMAP, spec.config, namespace)
        return ((cm or {}).get("data") or {}).get(constants.CONFIGMAP_KEY_TRAINING)
    method = spec.method or constants.TUNING_METHOD_LORA
    name = tuning.default_tuning_configmap_name(method)
    existing = await ctx.cluster.get_or_none(resources.CONFIGMAP, name, namespace)
    if existing is not None:
        return (existing.get("data") or {}).get(constants.CONFIGMAP_KEY_TRAINING)
    body = tuning.build_default_tuning_configmap(method, namespace)
    source = await ctx.cluster.get_or_none(
        resources.CONFIGMAP, name, ctx.settings.operator_namespace
    )
    if source is not None and source.get("data"):
        body["data"] = dict(source["data"])
    stored, _ = await apply.create_or_get(ctx.cluster, body)
    return (stored.get("data") or {}).get(constants.CONFIGMAP_KEY_TRAINING)


async def read_tuning_job(ctx: ControllerContext, ws: AnyWorkspace) -> Obj | None:
    """The tuning Job (no request when the watch cache knows it is absent)."""
    name, namespace = str(ws.metadata.name), ws.metadata.namespace or "default"
    if ctx.cluster.cached_absent(resources.JOB, name, namespace):
        return None
    return await ctx.cluster.get_or_none(resources.JOB, name, namespace)


def tuning_job_due(current: Obj | None) -> bool:
    """Whether ``apply_tuning_job`` will create the Job (and needs the training config)."""
    return current is None


async def apply_tuning_job(
    ctx: ControllerContext,
    ws: AnyWorkspace,
    ws_body: Obj,
    plan: WorkloadPlan,
    current: Obj | EllipsisType | None = ...,
) -> Obj | None:
    """Create the Job; replace it when the revision changed. ``None`` while replacing.

    ``current`` is the Job as the caller read it (``read_tuning_job``); read here when omitted.
    """
    desired = tuning.build_tuning_job(ws, ctx.settings, plan)
    name = desired["metadata"]["name"]
    namespace = desired["metadata"]["namespace"]
    if current is ...:
        current = await read_tuning_job(ctx, ws)
    if current is not None and _revision_of(current) != str(plan.revision):
        if not current["metadata"].get("deletionTimestamp"):
            await ctx.cluster.delete(resources.JOB, name, namespace, foreground=False)
            await ctx.event(
                ws_body,
                EVENT_WORKLOAD_REPLACED,
                f"tuning spec changed: replacing Job {name} with revision {plan.revision}",
            )
        return None
    if current is not None:
        return current
    created, was_created = await apply.create_or_get(ctx.cluster, desired)
    if was_created:
        await ctx.event(ws_body, EVENT_WORKLOAD_CREATED, f"created Job {name}")
    return created
