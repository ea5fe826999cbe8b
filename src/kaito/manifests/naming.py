"""Deterministic names and identities of the objects the operator creates for a Workspace.

The controller is level-triggered and may be killed at any moment, so every child it creates must be
named by a pure function of the Workspace: re-running a reconcile after a crash then finds the
object it already made instead of creating a second one (ARCHITECTURE.md decision 3). This module
owns those functions, the Workspace revision hash, and the rules that turn a user's label selector
into node labels.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from kaito.api import constants, selectors
from kaito.api.meta import LabelSelector

# Kubernetes object names that are DNS-1123 labels (NodePools are cluster-scoped and end up in
# labels).
_DNS_LABEL_MAX = 63
# gpu-provisioner turns a NodeClaim name into an AKS agent-pool name: lowercase alnum, 12 chars at
# most, starting with a letter (§2.4). "ws" + 9 hex digits keeps to that with room to spare.
_NODECLAIM_HASH_LEN = 9
_NODEPOOL_HASH_LEN = 9
_REVISION_HASH_LEN = 5
_NOT_DNS_LABEL_CHARS = re.compile(r"[^a-z0-9-]")


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def nodeclaim_name(namespace: str, name: str, index: int) -> str:
    """Name of the ``index``-th NodeClaim of a Workspace.

    Upstream hashes the current time into the name, so a controller restart between "create" and
    "observe" could create a duplicate node. Hashing ``namespace/name/index`` instead makes the
    create idempotent: the same slot always gets the same name.

    Args:
        namespace: The Workspace namespace.
        name: The Workspace name.
        index: The node slot, ``0 <= index < targetNodeCount``.

    Returns:
        ``ws`` followed by 9 lowercase hex digits; matches ``^[a-z][a-z0-9]{0,11}$``.
    """
    if index < 0:
        raise ValueError(f"node index must be >= 0, got {index}")
    digest = _sha256_hex(f"{namespace}/{name}/{index}")
    return f"{constants.NODECLAIM_NAME_PREFIX}{digest[:_NODECLAIM_HASH_LEN]}"


def nodepool_name(namespace: str, name: str) -> str:
    """Name of the Karpenter NodePool of a Workspace: ``<namespace>-<name>`` (§2.3).

    NodePools are cluster-scoped, hence the namespace prefix. Names longer than 63 characters are
    cut and given a hash suffix of the full name, so two long names that share a prefix still
    differ.
    """
    full = f"{namespace}-{name}"
    if len(full) <= _DNS_LABEL_MAX:
        return full
    suffix = _sha256_hex(full)[:_NODEPOOL_HASH_LEN]
    head = full[: _DNS_LABEL_MAX - _NODEPOOL_HASH_LEN - 1].rstrip("-")
    return f"{head}-{suffix}"


def headless_service_name(name: str) -> str:
    """Name of the headless Service that gives StatefulSet pods stable DNS names (§2.5)."""
    return f"{name}{constants.HEADLESS_SERVICE_SUFFIX}"


def leader_pod_name(name: str) -> str:
    """Name of pod 0 of the inference StatefulSet: the only pod the main Service routes to."""
    return f"{name}-0"


def leader_address(name: str, namespace: str) -> str:
    """Stable DNS name of the leader pod, through the headless Service (multi-node Ray head)."""
    return f"{leader_pod_name(name)}.{headless_service_name(name)}.{namespace}.svc.cluster.local"


def container_name(prefix: str, name: str) -> str:
    """A valid container name (DNS-1123 label) made from a prefix and a user-chosen name.

    Adapter names are DNS-1123 *subdomains* and may hold dots, which container names may not.
    """
    raw = _NOT_DNS_LABEL_CHARS.sub("-", f"{prefix}{name}".lower())
    if len(raw) > _DNS_LABEL_MAX:
        raw = f"{raw[: _DNS_LABEL_MAX - 6].rstrip('-')}-{_sha256_hex(raw)[:5]}"
    return raw.strip("-")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the stable byte form that hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def workspace_hash(resource: Any, inference: Any, tuning: Any) -> str:
    """The Workspace revision hash: sha256 over the JSON of ``resource``, ``inference``, ``tuning``.

    The arguments are the wire (camelCase, ``None`` left out) forms of the three sections; ``None``
    for a section that is absent. A change to any field of the three gives a new revision (§2.2 step
    4).
    """
    text = canonical_json(resource) + canonical_json(inference) + canonical_json(tuning)
    return _sha256_hex(text)


def controller_revision_name(name: str, digest: str) -> str:
    """Name of the ControllerRevision recording one revision of a Workspace: ``<ws>-<hash[:5]>``."""
    return f"{name}-{digest[:_REVISION_HASH_LEN]}"


def selector_labels(label_selector: LabelSelector | None) -> dict[str, str]:
    """Node labels a Workspace's ``resource.labelSelector`` asks for, sorted by key.

    ``matchLabels`` plus single-value ``In`` expressions, without the keys KAITO owns (§1.4): those
    would let a Workspace claim another Workspace's nodes. Sorting keeps manifests byte-stable.

    Raises:
        kaito.api.selectors.SelectorError: an expression cannot be written as a node label (the
            webhook rejects such Workspaces first).
    """
    labels = selectors.sanitized_selector_labels(label_selector)
    return {key: labels[key] for key in sorted(labels)}
