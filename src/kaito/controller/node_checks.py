"""What every node provisioner checks the same way: readiness, GPU capacity, conditions.

The provisioners differ in how they ask for nodes (NodeClaims, a NodePool, nothing); they judge
the nodes they got alike: a node counts once it is Ready, not being deleted, of the Workspace's
instance type and with GPUs, and ``ResourceReady`` says so (or names what is missing).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from kaito.api import constants, reasons
from kaito.api.workspace import AnyWorkspace
from kaito.controller.context import ControllerContext
from kaito.controller.status import ConditionValue, true_condition
from kaito.k8s import resources
from kaito.manifests.plan import WorkloadPlan
from kaito.presets import skus

Obj = dict[str, Any]


@dataclasses.dataclass
class NodeReadiness:
    """A provisioner's verdict on one Workspace's nodes."""

    ready: bool
    conditions: list[ConditionValue]
    worker_nodes: list[str]
    # Nodes still to be labelled ``accelerator=nvidia``: the caller patches them
    # (``label_accelerator_nodes``), together with its other writes of the pass.
    unlabelled: list[str] = dataclasses.field(default_factory=list)


async def label_accelerator_nodes(ctx: ControllerContext, names: list[str]) -> None:
    """Label the named nodes ``accelerator=nvidia`` (all at once)."""
    patch = {"metadata": {"labels": {constants.LABEL_ACCELERATOR: constants.ACCELERATOR_NVIDIA}}}
    await asyncio.gather(*(ctx.cluster.patch(resources.NODE, name, patch) for name in names))


def workspace_ident(ws: AnyWorkspace) -> tuple[str, str]:
    """``(name, namespace)`` of ``ws``; no namespace means ``default``."""
    return str(ws.metadata.name), str(ws.metadata.namespace or "default")


def is_ready(obj: Obj) -> bool:
    """A node or NodeClaim whose ``Ready`` condition is True and that is not being deleted."""
    if obj["metadata"].get("deletionTimestamp"):
        return False
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == reasons.CONDITION_TRUE)
    return False


def gpu_capacity(node: Obj) -> int:
    """The node's ``nvidia.com/gpu`` capacity (0 when the device plugin has not reported)."""
    capacity = (node.get("status") or {}).get("capacity") or {}
    try:
        return int(str(capacity.get(constants.RESOURCE_NVIDIA_GPU, "0")))
    except ValueError:
        return 0


async def list_ready_nodes(ctx: ControllerContext, labels: dict[str, str]) -> list[Obj]:
    """The ready nodes carrying ``labels``, by name."""
    found = await ctx.cluster.list(resources.NODE, labels=labels)
    return sorted((n for n in found if is_ready(n)), key=lambda n: n["metadata"]["name"])


def resource_condition(ready: bool, reason: str, message: str) -> ConditionValue:
    """``ResourceReady``: true with upstream's success reason, or false with ``reason``."""
    return true_condition(
        reasons.CONDITION_RESOURCE_READY,
        ready,
        reasons.REASON_RESOURCE_STATUS_SUCCESS if ready else reason,
        "Resource is ready" if ready else message,
    )


def claim_problem(claims: list[Obj]) -> tuple[str, str]:
    """The most telling non-ready reason among NodeClaims (e.g. InsufficientCapacity)."""
    for claim in sorted(claims, key=lambda c: c["metadata"]["name"]):
        for cond in (claim.get("status") or {}).get("conditions") or []:
            if cond.get("status") == reasons.CONDITION_FALSE and cond.get("type") != "Ready":
                name = claim["metadata"]["name"]
                return (
                    str(cond.get("reason") or reasons.REASON_NODE_CLAIM_NOT_READY),
                    f"NodeClaim {name}: {cond.get('type')} is False: {cond.get('message', '')}",
                )
    return reasons.REASON_NODE_CLAIM_NOT_READY, "waiting for NodeClaims to become ready"


async def check_nodes(
    ctx: ControllerContext,
    ws: AnyWorkspace,
    plan: WorkloadPlan,
    ready: list[Obj],
    prefix: list[ConditionValue],
    claims: list[Obj],
) -> NodeReadiness:
    """Judge the ready nodes against the plan: count, instance type, GPUs; label new ones."""
    instance_type = ws.resource.instance_type
    matching = [
        n
        for n in ready
        if n["metadata"]["labels"].get(constants.LABEL_INSTANCE_TYPE) == instance_type
    ]
    names = [n["metadata"]["name"] for n in matching]
    if len(matching) < plan.node_count:
        message = f"{len(matching)}/{plan.node_count} ready nodes of instance type {instance_type}"
        return NodeReadiness(
            False,
            [
                *prefix,
                true_condition(
                    reasons.CONDITION_NODES_READY, False, reasons.REASON_NODE_NOT_READY, message
                ),
                resource_condition(False, reasons.REASON_NODE_NOT_READY, message),
            ],
            names,
        )
    unlabelled: list[str] = []
    if instance_type and skus.get_sku(instance_type, ctx.settings.cloud) is not None:
        claimed = {(c.get("status") or {}).get("nodeName") for c in claims}
        for node in matching:
            if claims and node["metadata"]["name"] not in claimed:
                continue
            labels_now = node["metadata"].get("labels") or {}
            if labels_now.get(constants.LABEL_ACCELERATOR) != constants.ACCELERATOR_NVIDIA:
                unlabelled.append(node["metadata"]["name"])
            if gpu_capacity(node) <= 0:
                message = (
                    f"node {node['metadata']['name']} has no {constants.RESOURCE_NVIDIA_GPU} "
                    "capacity yet (NVIDIA device plugin not ready)"
                )
                return NodeReadiness(
                    False,
                    [
                        *prefix,
                        true_condition(
                            reasons.CONDITION_NODES_READY,
                            False,
                            reasons.REASON_NODE_PLUGINS_NOT_READY,
                            message,
                        ),
                        resource_condition(False, reasons.REASON_NODE_PLUGINS_NOT_READY, message),
                    ],
                    names,
                    unlabelled,
                )
    return NodeReadiness(
        True,
        [
            *prefix,
            true_condition(
                reasons.CONDITION_NODES_READY,
                True,
                reasons.REASON_NODES_READY,
                "all nodes are ready",
            ),
            resource_condition(True, "", ""),
        ],
        names,
        unlabelled,
    )


def workspace_ref(ws: AnyWorkspace) -> Obj:
    """The Workspace as an object reference, for Events about its nodes."""
    return {
        "apiVersion": constants.API_VERSION_V1BETA1,
        "kind": constants.KIND_WORKSPACE,
        "metadata": {
            "name": ws.metadata.name,
            "namespace": ws.metadata.namespace or "default",
            "uid": ws.metadata.uid,
        },
    }
