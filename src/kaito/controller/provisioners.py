"""Node provisioning behind one protocol with three implementations (§2.3, §2.4).

``gpu-provisioner`` creates one NodeClaim per node, named deterministically per Workspace and slot
so that a restart at any moment re-finds the claims it made instead of adding more; ``karpenter``
keeps one NodePool per Workspace with static ``replicas``; ``byo`` only counts existing nodes that
carry the Workspace's labels. All of them are non-blocking: ``ensure`` issues what is missing,
reports readiness as conditions from the same reads, and the caller requeues while not ready.
"""

from __future__ import annotations

from typing import Any, Protocol

from kaito.api import constants, reasons
from kaito.api.workspace import AnyWorkspace
from kaito.controller.context import ControllerContext
from kaito.controller.node_checks import NodeReadiness as NodeReadiness
from kaito.controller.node_checks import (
    check_nodes,
    claim_problem,
    is_ready,
    list_ready_nodes,
    resource_condition,
    workspace_ident,
    workspace_ref,
)
from kaito.controller.node_checks import label_accelerator_nodes as label_accelerator_nodes
from kaito.controller.status import ConditionValue, true_condition
from kaito.k8s import apply, events, resources
from kaito.manifests import naming, nodes
from kaito.manifests.plan import WorkloadPlan

Obj = dict[str, Any]


class NodeProvisioner(Protocol):
    """What the reconcile loop needs from a node provisioner."""

    name: str

    def ownership_labels(self, ws: AnyWorkspace) -> dict[str, str]:
        """Labels the provisioner puts on the Workspace's nodes (besides the user's)."""
        ...

    async def ensure(
        self, ctx: ControllerContext, ws: AnyWorkspace, plan: WorkloadPlan
    ) -> NodeReadiness:
        """Request whatever nodes are missing (never waiting for them) and report readiness."""
        ...

    async def delete_nodes(self, ctx: ControllerContext, ws: AnyWorkspace) -> bool:
        """Delete the Workspace's node requests; ``True`` once they are all gone."""
        ...


async def _node_request_created(ctx: ControllerContext, ws: AnyWorkspace, message: str) -> None:
    """Count a new node request (NodeClaim or NodePool) and tell the Workspace's Events."""
    ctx.on_nodeclaim_created()
    await ctx.event(workspace_ref(ws), reasons.EVENT_NODE_CLAIM_CREATED, message)


def _claims_ready() -> ConditionValue:
    """``NodeClaimReady`` true: every NodeClaim (or the NodePool's claims) is ready."""
    return true_condition(
        reasons.CONDITION_NODE_CLAIM_READY,
        True,
        reasons.REASON_NODE_CLAIMS_READY,
        "all NodeClaims are ready",
    )


class GPUProvisioner:
    """Azure gpu-provisioner: one NodeClaim per node (§2.4)."""

    name = constants.NODE_PROVISIONER_GPU_PROVISIONER

    def ownership_labels(self, ws: AnyWorkspace) -> dict[str, str]:
        """``kaito.sh/workspace`` and ``kaito.sh/workspacenamespace``."""
        name, namespace = workspace_ident(ws)
        return nodes.provisioner_labels(name, namespace, self.name)

    def _node_labels(self, ws: AnyWorkspace) -> dict[str, str]:
        return {**naming.selector_labels(ws.resource.label_selector), **self.ownership_labels(ws)}

    async def _claims(self, ctx: ControllerContext, ws: AnyWorkspace) -> list[Obj]:
        return await ctx.cluster.list(resources.NODECLAIM, labels=self.ownership_labels(ws))

    async def ensure(
        self, ctx: ControllerContext, ws: AnyWorkspace, plan: WorkloadPlan
    ) -> NodeReadiness:
        """Create missing NodeClaims slot by slot; then claims, nodes, GPU plugins (§2.3, §2.4)."""
        ready_nodes = await list_ready_nodes(ctx, self._node_labels(ws))
        # Ready nodes with the Workspace's labels that no provisioner made count as covered.
        byo = [
            n
            for n in ready_nodes
            if constants.LABEL_KARPENTER_NODEPOOL not in n["metadata"]["labels"]
        ]
        needed = max(0, plan.node_count - len(byo))
        claims = await self._claims(ctx, ws)
        claims += await self._create_missing(ctx, ws, plan, claims, needed)
        ready_claims = [c for c in claims if is_ready(c)]
        if len(ready_claims) < needed:
            reason, message = claim_problem(claims)
            message = f"{len(ready_claims)}/{needed} NodeClaims ready; {message}"
            return NodeReadiness(
                False,
                [
                    true_condition(reasons.CONDITION_NODE_CLAIM_READY, False, reason, message),
                    true_condition(
                        reasons.CONDITION_NODES_READY,
                        False,
                        reasons.REASON_NODE_NOT_READY,
                        "waiting for NodeClaims",
                    ),
                    resource_condition(False, reason, message),
                ],
                [],
            )
        claim_ok = _claims_ready()
        return await check_nodes(ctx, ws, plan, ready_nodes, [claim_ok], ready_claims)

    async def _create_missing(
        self,
        ctx: ControllerContext,
        ws: AnyWorkspace,
        plan: WorkloadPlan,
        claims: list[Obj],
        needed: int,
    ) -> list[Obj]:
        name, namespace = workspace_ident(ws)
        existing = {c["metadata"]["name"] for c in claims}
        missing = needed - len(claims)
        made: list[Obj] = []
        index = 0
        while missing > 0:
            claim_name = naming.nodeclaim_name(namespace, name, index)
            index += 1
            if claim_name in existing:
                continue
            body = nodes.build_nodeclaim(ws, index - 1, ctx.settings, plan)
            try:
                stored, created = await apply.create_or_get(ctx.cluster, body)
            except Exception as exc:
                await ctx.event(
                    workspace_ref(ws),
                    reasons.EVENT_NODE_CLAIM_CREATION_FAILED,
                    f"failed to create NodeClaim {claim_name}: {exc}",
                    events.EVENT_WARNING,
                )
                raise
            missing -= 1
            made.append(stored)
            if created:
                await _node_request_created(
                    ctx,
                    ws,
                    f"created NodeClaim {claim_name} for instance type {ws.resource.instance_type}",
                )
        return made

    async def delete_nodes(self, ctx: ControllerContext, ws: AnyWorkspace) -> bool:
        """Delete every NodeClaim labelled for the Workspace; done when none is left."""
        claims = await self._claims(ctx, ws)
        for claim in claims:
            if not claim["metadata"].get("deletionTimestamp"):
                await apply.delete_if_exists(
                    ctx.cluster, resources.NODECLAIM, claim["metadata"]["name"]
                )
        return not claims


class KarpenterProvisioner:
    """Karpenter: one NodePool per Workspace with static ``replicas`` (§2.3)."""

    name = constants.NODE_PROVISIONER_KARPENTER

    def ownership_labels(self, ws: AnyWorkspace) -> dict[str, str]:
        """``karpenter.kaito.sh/workspace-name`` and ``-namespace``."""
        name, namespace = workspace_ident(ws)
        return nodes.provisioner_labels(name, namespace, self.name)

    def _pool_name(self, ws: AnyWorkspace) -> str:
        name, namespace = workspace_ident(ws)
        return naming.nodepool_name(namespace, name)

    async def ensure(
        self, ctx: ControllerContext, ws: AnyWorkspace, plan: WorkloadPlan
    ) -> NodeReadiness:
        """Ensure the NodePool, then report its NodeClaims and nodes."""
        await self._ensure_pool(ctx, ws, plan)
        return await self._check(ctx, ws, plan)

    async def _ensure_pool(
        self, ctx: ControllerContext, ws: AnyWorkspace, plan: WorkloadPlan
    ) -> None:
        """Create the NodePool, or raise its replicas (they never go down)."""
        body = nodes.build_nodepool(ws, ctx.settings, plan, replicas=plan.node_count)
        pool, created = await apply.create_or_get(ctx.cluster, body)
        if created:
            await _node_request_created(
                ctx,
                ws,
                f"created NodePool {pool['metadata']['name']} with {plan.node_count} node(s)",
            )
            return
        current = int((pool.get("spec") or {}).get("replicas") or 0)
        if current < plan.node_count:
            await ctx.cluster.patch(
                resources.NODEPOOL,
                pool["metadata"]["name"],
                {"spec": {"replicas": plan.node_count}},
            )

    async def _check(
        self, ctx: ControllerContext, ws: AnyWorkspace, plan: WorkloadPlan
    ) -> NodeReadiness:
        """The pool's NodeClaims, then nodes of the right instance type."""
        claims = await ctx.cluster.list(
            resources.NODECLAIM, labels={constants.LABEL_KARPENTER_NODEPOOL: self._pool_name(ws)}
        )
        ready_claims = [c for c in claims if is_ready(c)]
        if len(ready_claims) < plan.node_count:
            reason, message = claim_problem(claims)
            message = f"{len(ready_claims)}/{plan.node_count} NodeClaims ready; {message}"
            return NodeReadiness(
                False,
                [
                    true_condition(reasons.CONDITION_NODE_CLAIM_READY, False, reason, message),
                    resource_condition(False, reason, message),
                ],
                [],
            )
        claim_ok = _claims_ready()
        labels = {**naming.selector_labels(ws.resource.label_selector), **self.ownership_labels(ws)}
        ready_nodes = await list_ready_nodes(ctx, labels)
        return await check_nodes(ctx, ws, plan, ready_nodes, [claim_ok], ready_claims)

    async def delete_nodes(self, ctx: ControllerContext, ws: AnyWorkspace) -> bool:
        """Delete the NodePool; done once it and its NodeClaims are gone."""
        pool_name = self._pool_name(ws)
        pool = await ctx.cluster.get_or_none(resources.NODEPOOL, pool_name)
        if pool is not None and not pool["metadata"].get("deletionTimestamp"):
            await apply.delete_if_exists(ctx.cluster, resources.NODEPOOL, pool_name)
        claims = await ctx.cluster.list(
            resources.NODECLAIM, labels={constants.LABEL_KARPENTER_NODEPOOL: pool_name}
        )
        return pool is None and not claims


class BYOProvisioner:
    """Bring-your-own nodes: counts ready nodes carrying the user's labels; creates nothing."""

    name = constants.NODE_PROVISIONER_BYO

    def ownership_labels(self, ws: AnyWorkspace) -> dict[str, str]:
        """None: BYO nodes carry only the user's labels."""
        return {}

    async def ensure(
        self, ctx: ControllerContext, ws: AnyWorkspace, plan: WorkloadPlan
    ) -> NodeReadiness:
        """Nothing to create: enough ready nodes matching the label selector (§2.3)?"""
        labels = naming.selector_labels(ws.resource.label_selector)
        ready = await list_ready_nodes(ctx, labels)
        names = [n["metadata"]["name"] for n in ready]
        ok = len(ready) >= plan.node_count
        message = (
            "all nodes are ready"
            if ok
            else f"{len(ready)}/{plan.node_count} ready nodes match the label selector {labels}"
        )
        reason = reasons.REASON_NODES_READY if ok else reasons.REASON_NODE_NOT_READY
        return NodeReadiness(
            ok,
            [
                true_condition(reasons.CONDITION_NODES_READY, ok, reason, message),
                resource_condition(ok, reasons.REASON_NODE_NOT_READY, message),
            ],
            names,
        )

    async def delete_nodes(self, ctx: ControllerContext, ws: AnyWorkspace) -> bool:
        """The user's nodes are never deleted."""
        return True


def get_provisioner(name: str) -> NodeProvisioner:
    """The provisioner for ``--node-provisioner`` (``azure-gpu-provisioner`` is gpu-provisioner)."""
    if name in (
        constants.NODE_PROVISIONER_GPU_PROVISIONER,
        constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER,
    ):
        return GPUProvisioner()
    if name == constants.NODE_PROVISIONER_KARPENTER:
        return KarpenterProvisioner()
    if name == constants.NODE_PROVISIONER_BYO:
        return BYOProvisioner()
    raise ValueError(
        f"unknown node provisioner {name!r}; choose one of {', '.join(constants.NODE_PROVISIONERS)}"
    )
