"""The Workspace's revision history: ControllerRevisions and the annotations that mirror them.

Every distinct spec (by hash) is one ControllerRevision ``<ws>-<hash[:5]>``, numbered in order, at
most ``MAX_CONTROLLER_REVISIONS`` kept (§2.2 step 4); the Workspace carries the hash and number as
annotations, patched together with the finalizer in one compare-and-swap. The number is stamped on
the workload, which is how a changed spec rolls the StatefulSet or replaces the Job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace
from kaito.controller.context import ControllerContext
from kaito.controller.errors import ReconcileError
from kaito.k8s import apply, resources
from kaito.manifests import naming, revisions

Obj = dict[str, Any]


async def update_metadata(
    ctx: ControllerContext, body: Obj, annotations: Mapping[str, str | None], *, finalizer: bool
) -> Obj:
    """Add our finalizer and the revision annotations in one compare-and-swap patch.

    Returns the Workspace as stored afterwards (``body`` itself when nothing had to change).
    """
    meta = body["metadata"]
    patch: Obj = {}
    finalizers = list(meta.get("finalizers") or [])
    if finalizer and constants.WORKSPACE_FINALIZER not in finalizers:
        patch["finalizers"] = [*finalizers, constants.WORKSPACE_FINALIZER]
    current = meta.get("annotations") or {}
    if any(current.get(k) != v for k, v in annotations.items()):
        patch["annotations"] = dict(annotations)
    if not patch:
        return body
    patch["resourceVersion"] = meta["resourceVersion"]
    return await ctx.cluster.patch(
        resources.WORKSPACE, meta["name"], {"metadata": patch}, meta["namespace"]
    )


async def sync_revision(ctx: ControllerContext, body: Obj, ws: AnyWorkspace) -> int:
    """Record the Workspace's current revision; returns its number (§2.2 step 4).

    One ControllerRevision per distinct hash (``<ws>-<hash[:5]>``), numbered in order, at most
    ``MAX_CONTROLLER_REVISIONS`` kept; the hash and number are mirrored as Workspace annotations.
    """
    revision, annotations = await record_revision(ctx, body, ws)
    await update_metadata(ctx, body, annotations, finalizer=False)
    return revision


async def record_revision(
    ctx: ControllerContext, body: Obj, ws: AnyWorkspace
) -> tuple[int, dict[str, str]]:
    """The revision number of ``ws``'s spec (recording a new ControllerRevision if needed).

    Returns:
        The number and the annotations the Workspace should carry for it.
    """
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    digest = revisions.workspace_hash(ws)
    annotations = meta.get("annotations") or {}
    recorded = annotations.get(constants.ANNOTATION_WORKSPACE_REVISION, "")
    if (
        annotations.get(constants.ANNOTATION_WORKSPACE_HASH) == digest
        and recorded.isdigit()
        # The annotations are written together with the ControllerRevision's create: when that
        # create failed, the watch cache lacks the revision and this pass records it again.
        and not ctx.cluster.cached_absent(
            resources.CONTROLLER_REVISION, naming.controller_revision_name(name, digest), namespace
        )
    ):
        # Recorded by an earlier pass.
        return int(recorded), _revision_annotations(digest, int(recorded))
    revision, desired = await _next_revision(ctx, name, namespace, ws, digest)
    if desired is not None:
        stored, _ = await apply.create_or_get(ctx.cluster, desired)
        revision = _check_stored_revision(stored, digest, revision)
    await _prune_revisions(ctx, name, namespace)
    return revision, _revision_annotations(digest, revision)


def _revision_annotations(digest: str, revision: int) -> dict[str, str]:
    return {
        constants.ANNOTATION_WORKSPACE_HASH: digest,
        constants.ANNOTATION_WORKSPACE_REVISION: str(revision),
    }


async def _history(ctx: ControllerContext, name: str, namespace: str) -> list[Obj]:
    history = await ctx.cluster.list(
        resources.CONTROLLER_REVISION,
        namespace,
        labels={constants.LABEL_WORKSPACE_NAME_REVISION: name},
    )
    history.sort(key=lambda r: int(r.get("revision") or 0))
    return history


async def _next_revision(
    ctx: ControllerContext, name: str, namespace: str, ws: AnyWorkspace, digest: str
) -> tuple[int, Obj | None]:
    """The number of ``digest``'s revision, and the ControllerRevision to create (if new)."""
    history = await _history(ctx, name, namespace)
    same = [
        r
        for r in history
        if (r["metadata"].get("annotations") or {}).get(constants.ANNOTATION_WORKSPACE_HASH)
        == digest
    ]
    if same:
        return int(same[-1].get("revision") or 1), None
    revision = (int(history[-1].get("revision") or 0) + 1) if history else 1
    return revision, revisions.build_controller_revision(ws, revision)


def _check_stored_revision(stored: Obj, digest: str, revision: int) -> int:
    """The number of the ControllerRevision as stored (its name may have been taken)."""
    stored_hash = (stored["metadata"].get("annotations") or {}).get(
        constants.ANNOTATION_WORKSPACE_HASH
    )
    if stored_hash != digest:
        raise ReconcileError(f"revision name conflicts: {stored['metadata']['name']}")
    return int(stored.get("revision") or revision)


async def _prune_revisions(ctx: ControllerContext, name: str, namespace: str) -> None:
    history = await _history(ctx, name, namespace)
    for old in history[: max(0, len(history) - constants.MAX_CONTROLLER_REVISIONS)]:
        await apply.delete_if_exists(
            ctx.cluster, resources.CONTROLLER_REVISION, old["metadata"]["name"], namespace
        )


async def record_revision_and_metadata(
    ctx: ControllerContext, body: Obj, ws: AnyWorkspace
) -> tuple[int, Obj]:
    """``record_revision`` and the metadata patch (finalizer, revision annotations).

    A new revision's number is known before its ControllerRevision exists, so its create and the
    Workspace patch go together (one round trip instead of two; neither needs the other). Should
    the create fail after the annotations landed, the next pass records the revision again (see
    ``record_revision``).

    Returns:
        The revision number and the Workspace as stored afterwards (``body`` if unchanged).
    """
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    digest = revisions.workspace_hash(ws)
    current = meta.get("annotations") or {}
    if current.get(constants.ANNOTATION_WORKSPACE_HASH) != digest:
        revision, desired = await _next_revision(ctx, name, namespace, ws, digest)
        if desired is not None:
            (stored, _), updated = await asyncio.gather(
                apply.create_or_get(ctx.cluster, desired),
                update_metadata(ctx, body, _revision_annotations(digest, revision), finalizer=True),
            )
            try:
                stored_revision = _check_stored_revision(stored, digest, revision)
            except ReconcileError:
                # Put the annotations back as they were: no revision was recorded.
                previous = {
                    k: current.get(k)
                    for k in (
                        constants.ANNOTATION_WORKSPACE_HASH,
                        constants.ANNOTATION_WORKSPACE_REVISION,
                    )
                }
                await update_metadata(ctx, updated, previous, finalizer=True)
                raise
            if stored_revision != revision:
                updated = await update_metadata(
                    ctx, updated, _revision_annotations(digest, stored_revision), finalizer=True
                )
            await _prune_revisions(ctx, name, namespace)
            return stored_revision, updated
    revision, annotations = await record_revision(ctx, body, ws)
    return revision, await update_metadata(ctx, body, annotations, finalizer=True)
