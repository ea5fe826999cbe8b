"""The InferenceSet reconcile: keep N child Workspaces, roll them on template changes, report.

One pass reads the set and its children (``inferenceset.kaito.sh/created-by=<name>``, controlled
by this set's uid), asks :mod:`kaito.controller.inferenceset_plan` what to change, applies it, and
writes the status; then, when the set asks for it, keeps the KEDA ScaledObject in shape
(:mod:`kaito.manifests.scaledobject`).

Idempotent across restarts without deterministic names: children are named by the API server
(``generateName``), so a create that is repeated would make an extra replica. The count that
decides a create is therefore never taken from a watch cache that might lag: before creating, the
pass lists the children from the API itself (a consistent read), so a child created by an
earlier pass, or by an operator that was killed right after its request, is always counted.
Deletions need no such care (deleting twice is harmless). Children carry an owner reference, so
deleting the set deletes them through the garbage collector; no finalizer is needed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from kaito.api import constants
from kaito.api.inferenceset import InferenceSet, parse_inferenceset, to_storage
from kaito.api.inferenceset_children import build_child_workspace, child_labels
from kaito.api.workspace import WorkspaceParseError
from kaito.controller import inferenceset_plan as planning
from kaito.controller.errors import PermanentReconcileError
from kaito.k8s import apply, errors, events, resources
from kaito.k8s.client import Cluster, Obj
from kaito.manifests import scaledobject

log = logging.getLogger(__name__)

EventPoster = Callable[[Obj, str, str, str], Any]


@dataclasses.dataclass
class InferenceSetContext:
    """What an InferenceSet pass needs.

    Attributes:
        cluster: Reads children from the operator's watch cache; writes through the API.
        api: The API without caches, for the consistent read that precedes a create.
        byo: Bring-your-own nodes: children get no instance type.
        scaler: Where KEDA reaches the keda-kaito-scaler.
        requeue_s: Delay before looking again while waiting for a child to be sized.
    """

    cluster: Cluster
    api: Cluster
    byo: bool = False
    scaler: scaledobject.ScalerAddress = dataclasses.field(
        default_factory=scaledobject.ScalerAddress
    )
    requeue_s: float = 2.0
    # Warnings already posted (namespace, name, reason, message): posted once, not every pass.
    _warned: set[tuple[str, str, str, str]] = dataclasses.field(default_factory=set)

    async def event(self, iset: Obj, reason: str, message: str, warning: bool = False) -> None:
        """Post an Event about the set (warnings once per distinct message)."""
        meta = iset["metadata"]
        if warning:
            key = (meta.get("namespace", ""), meta["name"], reason, message)
            if key in self._warned:
                return
            self._warned.add(key)
        kind = events.EVENT_WARNING if warning else events.EVENT_NORMAL
        await events.post_event(self.cluster, iset, reason, message, kind)


def _owned_by(obj: Obj, uid: str | None) -> bool:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("uid") == uid and o.get("controller") for o in owners)


async def _children(cluster: Cluster, iset: InferenceSet) -> list[Obj]:
    meta = iset.metadata
    labels = {constants.LABEL_INFERENCESET_CREATED_BY: meta.name or ""}
    found = await cluster.list(resources.WORKSPACE, meta.namespace, labels=labels)
    return [w for w in found if _owned_by(w, meta.uid)]


def _parse(body: Obj) -> InferenceSet:
    try:
        return to_storage(parse_inferenceset(body))
    except WorkspaceParseError as exc:
        raise PermanentReconcileError(str(exc)) from exc


async def reconcile_inferenceset(ctx: InferenceSetContext, body: Obj) -> float | None:
    """One pass over one InferenceSet; returns seconds until the next pass, or None to wait."""
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None  # the garbage collector deletes the children (owner references)
    iset = _parse(body)
    name, namespace = iset.metadata.name or "", iset.metadata.namespace
    raw_children = await _children(ctx.cluster, iset)
    await _sync_labels(ctx, iset, raw_children)
    children = planning.describe_children(iset, raw_children)
    plan = planning.plan_replicas(iset, children)
    if plan.create:
        # Creates are decided from the API, never from a cache that may not show a child yet.
        children = planning.describe_children(iset, await _children(ctx.api, iset))
        plan = planning.plan_replicas(iset, children)
    deleted = set()
    for child in plan.delete:
        if await apply.delete_if_exists(ctx.cluster, resources.WORKSPACE, child, namespace):
            deleted.add(child)
    if deleted:
        await ctx.event(body, "WorkspacesDeleted", f"deleted {', '.join(sorted(deleted))}")
    created = []
    for _ in range(plan.create):
        child_ws = build_child_workspace(iset, byo=ctx.byo).to_wire()
        stored = await ctx.cluster.create(child_ws)
        created.append(stored)
    if created:
        names = ", ".join(c["metadata"]["name"] for c in created)
        await ctx.event(body, "WorkspacesCreated", f"created {names}")
    if plan.capped_by_node_limit:
        await ctx.event(
            body,
            "NodeCountLimitReached",
            f"nodeCountLimit {iset.spec.node_count_limit} allows {plan.target} of "
            f"{iset.spec.replicas} replicas",
            warning=True,
        )
    current = [
        dataclasses.replace(c, terminating=True) if c.name in deleted else c for c in children
    ]
    current += [planning.describe_child(c, "") for c in created]
    await _write_status(ctx, body, iset, current, plan)
    nodes = max((c.target_nodes or 0 for c in current), default=0) or None
    wait = await _sync_scaled_object(ctx, body, iset, nodes)
    log.debug("InferenceSet %s/%s: %s", namespace, name, plan)
    return ctx.requeue_s if wait else None


async def _sync_labels(ctx: InferenceSetContext, iset: InferenceSet, raw: list[Obj]) -> None:
    """Put the template's labels on existing children (a label change does not roll them)."""
    wanted = child_labels(iset)
    for obj in raw:
        meta = obj.get("metadata") or {}
        have = meta.get("labels") or {}
        missing = {k: v for k, v in wanted.items() if have.get(k) != v}
        if missing and not meta.get("deletionTimestamp"):
            await apply.merge_patch(
                ctx.cluster,
                resources.WORKSPACE,
                meta["name"],
                meta.get("namespace"),
                {"metadata": {"labels": missing}},
            )


async def _write_status(
    ctx: InferenceSetContext,
    body: Obj,
    iset: InferenceSet,
    children: list[planning.Child],
    plan: planning.ReplicaPlan,
) -> None:
    def compute(latest: Obj) -> Obj | None:
        fresh = _parse(latest)
        status = planning.build_status(fresh, children, plan).to_wire()
        return None if status == (latest.get("status") or {}) else status

    meta = iset.metadata
    await apply.patch_status(
        ctx.cluster, resources.INFERENCESET, meta.name or "", meta.namespace, compute, current=body
    )


def _covers(have: Any, want: Any) -> bool:
    """Whether ``have`` holds everything in ``want`` (fields KEDA defaults are left alone)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_covers(have.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(have) == len(want)
            and all(_covers(h, w) for h, w in zip(have, want, strict=True))
        )
    return bool(have == want)


async def _keda_installed(ctx: InferenceSetContext) -> bool:
    crd = await ctx.cluster.get_or_none(resources.CRD, constants.KEDA_SCALEDOBJECT_CRD)
    return crd is not None


async def _sync_scaled_object(
    ctx: InferenceSetContext, body: Obj, iset: InferenceSet, nodes_per_replica: int | None
) -> bool:
    """Create or update the set's ScaledObject; True while waiting for a child to be sized."""
    plan = scaledobject.plan_autoscaling(iset, nodes_per_replica)
    if plan.problem:
        await ctx.event(body, "ScaledObjectSkipped", plan.problem, warning=True)
    if not plan.enabled:
        return False
    if not await _keda_installed(ctx):
        await ctx.event(
            body,
            "ScaledObjectSkipped",
            f"KEDA is not installed (no CRD {constants.KEDA_SCALEDOBJECT_CRD}); "
            "the scaledobject.kaito.sh annotations have no effect",
            warning=True,
        )
        return False
    if plan.wait_for_sizing:
        return True
    desired = scaledobject.build_scaled_object(iset, plan, ctx.scaler)
    meta = iset.metadata
    existing = await ctx.cluster.get_or_none(
        resources.SCALED_OBJECT, meta.name or "", meta.namespace
    )
    if existing is None:
        try:
            await ctx.cluster.create(desired)
        except errors.AlreadyExistsError:
            return False  # created meanwhile; the next pass compares it
        await ctx.event(body, "ScaledObjectCreated", f"created KEDA ScaledObject {meta.name}")
    elif not _owned_by(existing, meta.uid):
        await ctx.event(
            body,
            "ScaledObjectSkipped",
            f"ScaledObject {meta.name} exists and is not managed by this InferenceSet",
            warning=True,
        )
    elif not _covers(existing.get("spec"), desired["spec"]):
        await apply.merge_patch(
            ctx.cluster,
            resources.SCALED_OBJECT,
            meta.name or "",
            meta.namespace,
            {"spec": desired["spec"]},
        )
    return False
