"""The operator's children: which are watched, whose they are, which changes matter.

Which kinds the operator watches, which Workspace a child belongs to, and which changes to a
child can change what a reconcile pass does or writes.

Children are watched by ``kaito.k8s.informer.Informer`` caches (the reconcile reads them from
memory) and each change that matters enqueues the owning Workspace after a short delay, so the
bursts of events one step produces (a pod created, scheduled, started; a node created, labelled,
made Ready) cost one pass, not one each. A change matters when it changes what the pass reads:

* pods: only their failure class (``kaito.controller.failures``) is read, so a pod that is
  created, scheduled or becomes ready without a failure changes nothing (the StatefulSet's or the
  Job's status carries readiness, and their own events follow);
* nodes: labels, readiness, GPU capacity and deletion (not heartbeats, taints or images);
* NodeClaims: labels, conditions, node name and deletion (not finalizers);
* Services: only existence (created once, never updated);
* everything else: any change but resourceVersion and managedFields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaito.api import constants
from kaito.controller import failures
from kaito.k8s import resources
from kaito.k8s.resources import Kind

Obj = dict[str, Any]
Key = tuple[str, str]

# How long a child's change waits in the queue before its Workspace's pass, so that the changes
# of one step are merged into one pass.
CHILD_EVENT_DELAY_S = 0.15


def watched_children(provisioner: str) -> list[tuple[Kind, str]]:
    """(kind, label every watched object carries) for a node provisioner mode."""
    children = [
        (resources.STATEFULSET, constants.LABEL_WORKSPACE),
        (resources.JOB, constants.LABEL_WORKSPACE),
        (resources.POD, constants.LABEL_WORKSPACE),
        (resources.SERVICE, constants.LABEL_WORKSPACE),
        # Revision history (no pass follows its changes: it carries no Workspace label).
        (resources.CONTROLLER_REVISION, constants.LABEL_WORKSPACE_NAME_REVISION),
    ]
    if provisioner in (
        constants.NODE_PROVISIONER_GPU_PROVISIONER,
        constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER,
    ):
        children += [
            (resources.NODE, constants.LABEL_WORKSPACE),
            (resources.NODECLAIM, constants.LABEL_WORKSPACE),
        ]
    elif provisioner == constants.NODE_PROVISIONER_KARPENTER:
        label = constants.LABEL_KARPENTER_WORKSPACE_NAME
        children += [
            (resources.NODE, label),
            (resources.NODECLAIM, label),
            (resources.NODEPOOL, label),
        ]
    return children


def workspace_key(labels: Mapping[str, str], namespace: str | None) -> Key | None:
    """The Workspace a child belongs to, from its ``kaito.sh/workspace`` (or Karpenter) labels."""
    if constants.LABEL_WORKSPACE in labels:
        ns = labels.get(constants.LABEL_WORKSPACE_NAMESPACE) or namespace
        return (ns, labels[constants.LABEL_WORKSPACE]) if ns else None
    if constants.LABEL_KARPENTER_WORKSPACE_NAME in labels:
        ns = labels.get(constants.LABEL_KARPENTER_WORKSPACE_NAMESPACE)
        return (ns, labels[constants.LABEL_KARPENTER_WORKSPACE_NAME]) if ns else None
    return None


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _conditions(obj: Obj, *fields: str) -> list[tuple[Any, ...]]:
    return [tuple(c.get(f) for f in fields) for c in _status(obj).get("conditions") or []]


def _pod_view(pod: Obj) -> Any:
    failure = failures.classify_pods([pod])
    return (failure.reason, failure.message) if failure is not None else None


def _node_view(node: Obj) -> Any:
    meta = _meta(node)
    capacity = _status(node).get("capacity") or {}
    return (
        meta.get("labels"),
        bool(meta.get("deletionTimestamp")),
        [c for c in _conditions(node, "type", "status") if c[0] == "Ready"],
        capacity.get(constants.RESOURCE_NVIDIA_GPU),
    )


def _nodeclaim_view(claim: Obj) -> Any:
    meta = _meta(claim)
    return (
        meta.get("labels"),
        bool(meta.get("deletionTimestamp")),
        _conditions(claim, "type", "status", "reason", "message"),
        _status(claim).get("nodeName"),
    )


def _generic_view(obj: Obj) -> Any:
    meta = {k: v for k, v in _meta(obj).items() if k not in ("resourceVersion", "managedFields")}
    return meta, {k: v for k, v in obj.items() if k != "metadata"}


def relevant(kind: Kind, old: Obj | None, new: Obj | None) -> bool:
    """Whether a child's change (``None``: absent before / after) can matter to a pass."""
    if kind == resources.POD:
        return bool((_pod_view(old) if old else None) != (_pod_view(new) if new else None))
    if old is None or new is None:
        return True
    if kind == resources.SERVICE:
        return False
    if kind == resources.NODE:
        return bool(_node_view(old) != _node_view(new))
    if kind == resources.NODECLAIM:
        return bool(_nodeclaim_view(old) != _nodeclaim_view(new))
    return bool(_generic_view(old) != _generic_view(new))
