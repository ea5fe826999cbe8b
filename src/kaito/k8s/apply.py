"""Idempotent write helpers: the only ways the controller changes the cluster.

Every helper can be re-run after a crash at any point with the same result (ARCHITECTURE.md decision
3): creates treat "already exists" as success and return what is there; updates are merge patches of
the fields we own; status writes re-read and retry on conflict.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from kaito.k8s import errors
from kaito.k8s.client import Cluster, Obj
from kaito.k8s.resources import Kind, kind_of

STATUS_RETRIES = 5
_RETRY_DELAY_S = 0.05


async def create_or_get(cluster: Cluster, obj: Obj) -> tuple[Obj, bool]:
    """Create ``obj`` unless an object with its name exists.

    Returns:
        The object as stored and whether this call created it.
    """
    try:
        return await cluster.create(obj), True
    except errors.AlreadyExistsError:
        meta = obj["metadata"]
        kind = kind_of(obj)
        existing = await cluster.get(kind, meta["name"], meta.get("namespace"))
        return existing, False


async def get_or_create(cluster: Cluster, obj: Obj) -> tuple[Obj, bool]:
    """Like ``create_or_get`` but reads first: one GET per call once the object exists.

    For objects that exist on nearly every pass (Services, the StatefulSet), a read is cheaper
    for the API server than a rejected create followed by a read. When the cluster's watch
    cache says the object is absent, it is created at once (``AlreadyExists`` still reads it).
    """
    meta = obj["metadata"]
    if cluster.cached_absent(kind_of(obj), meta["name"], meta.get("namespace")):
        return await create_or_get(cluster, obj)
    existing = await cluster.get_or_none(kind_of(obj), meta["name"], meta.get("namespace"))
    if existing is not None:
        return existing, False
    return await create_or_get(cluster, obj)


async def merge_patch(
    cluster: Cluster, kind: Kind, name: str, namespace: str | None, patch: Obj
) -> Obj:
    """Merge-patch the fields we own (labels, annotations, a template) without a version check."""
    return await cluster.patch(kind, name, patch, namespace)


async def patch_status(
    cluster: Cluster,
    kind: Kind,
    name: str,
    namespace: str | None,
    compute: Callable[[Obj], Obj | None],
    *,
    retries: int = STATUS_RETRIES,
    current: Obj | None = None,
) -> Obj | None:
    """Write a status computed from the freshest object, retrying on conflicts and server errors.

    Args:
        cluster: The API.
        kind: Kind of the object.
        name: Object name.
        namespace: Object namespace (``None`` for cluster-scoped kinds).
        retries: Attempts before the last error is raised.
        current: The object as the caller last read it; the first attempt uses it instead of a
            fresh read (the resourceVersion check catches a stale copy, and retries re-read).
        compute: Given the current object, returns the new ``status`` or ``None`` when nothing
            needs writing (the status is unchanged).

    Returns:
        The updated object, or ``None`` when nothing was written.
    """
    for attempt in range(retries):
        try:
            if current is None or attempt > 0:
                current = await cluster.get(kind, name, namespace)
            status = compute(copy.deepcopy(current))
            if status is None:
                return None
            body: dict[str, Any] = {
                "metadata": {"resourceVersion": current["metadata"].get("resourceVersion")},
                "status": status,
            }
            # resourceVersion in a merge patch makes the write a compare-and-swap. Keys removed
            # from the status are cleared with explicit nulls.
            for key in current.get("status") or {}:
                if key not in status:
                    body["status"][key] = None
            return await cluster.patch(kind, name, body, namespace, status=True)
        except errors.NotFoundError:
            return None
        except errors.KubernetesError as exc:
            if not exc.retriable or attempt == retries - 1:
                raise
            await asyncio.sleep(_RETRY_DELAY_S * (attempt + 1))
    return None


async def delete_if_exists(
    cluster: Cluster, kind: Kind, name: str, namespace: str | None = None
) -> bool:
    """Delete an object; ``False`` when it was already gone."""
    try:
        await cluster.delete(kind, name, namespace)
    except errors.NotFoundError:
        return False
    return True
