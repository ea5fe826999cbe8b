"""Kubernetes Events about a Workspace: decisions a user wants to see in ``kubectl describe``."""

from __future__ import annotations

import datetime
import logging
import secrets

from kaito.k8s import errors
from kaito.k8s.client import Cluster, Obj

EVENT_NORMAL = "Normal"
EVENT_WARNING = "Warning"
_COMPONENT = "kaito-workspace"
_MESSAGE_MAX = 1024

log = logging.getLogger(__name__)


def build_event(involved: Obj, reason: str, message: str, event_type: str = EVENT_NORMAL) -> Obj:
    """A core/v1 Event about ``involved`` (pure, for tests)."""
    meta = involved["metadata"]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = meta.get("namespace") or "default"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{secrets.token_hex(8)}",
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message[:_MESSAGE_MAX],
        "type": event_type,
        "source": {"component": _COMPONENT},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": _COMPONENT,
    }


async def post_event(
    cluster: Cluster, involved: Obj, reason: str, message: str, event_type: str = EVENT_NORMAL
) -> None:
    """Post an Event; failures are logged, never raised (events are best-effort, as upstream)."""
    try:
        await cluster.create(build_event(involved, reason, message, event_type))
    except errors.KubernetesError as exc:
        log.warning("could not post event %s: %s", reason, exc)
