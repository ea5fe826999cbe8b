"""Hosts the InferenceSet controller inside the operator: queue, child cache, handlers, webhook.

Kept apart from the Workspace machinery so the two controllers share only the process, the
client and the leader Lease: InferenceSet events (Kopf) and changes of child Workspaces (a watch
cache of Workspaces labelled ``inferenceset.kaito.sh/created-by``) enqueue the set's key in its
own work queue; a pass is :func:`kaito.controller.inferenceset.reconcile_inferenceset`. With the
``enableInferenceSetController`` gate off nothing is watched or reconciled (the webhook still
validates, as upstream's does).

The webhook builds the same child Workspace the controller would create and reviews it with the
Workspace rules and cluster lookups (:func:`kaito.operator.webhook.build_lookup`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import kopf

from kaito import validation as api_validation
from kaito.api import constants
from kaito.api.inferenceset import parse_inferenceset, to_storage
from kaito.api.inferenceset_children import build_child_workspace
from kaito.api.workspace import WorkspaceParseError
from kaito.controller import inferenceset as controller
from kaito.controller.errors import PermanentReconcileError
from kaito.k8s import errors as k8s_errors
from kaito.k8s import resources
from kaito.k8s.client import Cluster, Obj
from kaito.k8s.informer import CachedCluster, Informer
from kaito.k8s.resources import Kind
from kaito.manifests import scaledobject
from kaito.operator import errors, webhook
from kaito.operator.queue import Key, WorkQueue
from kaito.operator.settings import OperatorSettings
from kaito.validation.inferenceset import check_inferenceset

if TYPE_CHECKING:
    from kaito.operator.runner import Operator

log = logging.getLogger(__name__)

# Children's changes arrive in bursts (status, conditions); one pass per burst.
CHILD_EVENT_DELAY_S = 0.15


class InferenceSetController:
    """The InferenceSet work queue and the cache of child Workspaces.

    Args:
        op: The operator hosting it (leader election, API client, settings).
    """

    def __init__(self, op: Operator) -> None:
        self.op = op
        settings = op.settings
        self.enabled = settings.gates().get(constants.FEATURE_ENABLE_INFERENCE_SET_CONTROLLER, True)
        namespaces: list[str | None] = list(settings.namespaces) or [None]
        self.informers = [
            Informer(
                op.cluster,
                resources.WORKSPACE,
                constants.LABEL_INFERENCESET_CREATED_BY,
                namespace=ns,
                on_event=self.child_changed,
            )
            for ns in namespaces
        ]
        self.context = controller.InferenceSetContext(
            cluster=CachedCluster(op.cluster, self.informers),
            api=op.cluster,
            byo=settings.node_provisioner == constants.NODE_PROVISIONER_BYO,
            scaler=scaledobject.ScalerAddress(
                namespace=settings.keda_scaler_namespace,
                service=settings.keda_scaler_service,
                port=settings.keda_scaler_port,
            ),
            requeue_s=settings.requeue_seconds,
        )
        self.queue = WorkQueue(self.reconcile_key, settings.max_concurrent_reconciles)

    def child_changed(self, kind: Kind, event_type: str, old: Obj | None, new: Obj | None) -> None:
        """A child Workspace changed: its set gets a pass soon."""
        obj = new if new is not None else old
        if obj is None:
            return
        meta = obj.get("metadata") or {}
        name = (meta.get("labels") or {}).get(constants.LABEL_INFERENCESET_CREATED_BY)
        if name and meta.get("namespace"):
            self.queue.add_after((meta["namespace"], name), CHILD_EVENT_DELAY_S)

    async def reconcile_key(self, key: Key) -> float | None:
        """One pass for ``key`` (only while this replica leads)."""
        if not self.op.is_leader():
            return None
        namespace, name = key
        body = await self.op.cluster.get_or_none(resources.INFERENCESET, name, namespace)
        if body is None:
            return None
        try:
            return await controller.reconcile_inferenceset(self.context, body)
        except PermanentReconcileError as exc:
            log.warning("InferenceSet %s/%s cannot be reconciled: %s", namespace, name, exc)
            return None

    async def resync(self) -> None:
        """Enqueue every InferenceSet (after winning an election)."""
        if not self.enabled:
            return
        namespaces: list[str | None] = list(self.op.settings.namespaces) or [None]
        for ns in namespaces:
            for item in await self.op.cluster.list(resources.INFERENCESET, ns):
                self.queue.add((item["metadata"]["namespace"], item["metadata"]["name"]))

    def start(self) -> list[Informer]:
        """Start the workers; returns the informers for the operator to run (none when off)."""
        if not self.enabled:
            return []
        self.queue.start()
        return self.informers

    async def stop(self) -> None:
        """Stop the workers."""
        await self.queue.stop()


async def review(
    cluster: Cluster, settings: OperatorSettings, body: Obj, old: Obj | None
) -> tuple[list[str], list[str]]:
    """Messages rejecting an InferenceSet (empty when admitted), and warnings."""
    try:
        iset = parse_inferenceset(body)
        old_iset = parse_inferenceset(old) if old else None
    except WorkspaceParseError as exc:
        return [str(exc)], []
    byo = settings.node_provisioner == constants.NODE_PROVISIONER_BYO
    child = build_child_workspace(to_storage(iset), byo=byo)
    ctx = api_validation.ValidationContext(
        lookup=await webhook.build_lookup(cluster, child, settings),
        feature_gates=settings.gates(),
        node_provisioner=settings.node_provisioner,
        cloud_provider=settings.cloud_provider,
        release_namespace=settings.release_namespace,
        default_namespace=iset.metadata.namespace or "default",
    )
    report = check_inferenceset(iset, ctx, old_iset)
    warnings = [str(w) for w in report.warnings if "not checked:" not in w.message]
    return [str(e) for e in report.errors], warnings


def register(registry: kopf.OperatorRegistry, op: Operator) -> None:
    """The InferenceSet event handler and (with the webhook on) its admission handler."""
    settings = op.settings
    hosted = op.inferencesets

    if hosted.enabled:

        @kopf.on.event(
            group=constants.GROUP,
            version=constants.VERSION_V1BETA1,
            plural=constants.INFERENCESET_PLURAL,
            registry=registry,
        )
        async def inferenceset_event(**kwargs: Any) -> None:
            hosted.queue.add((kwargs["namespace"], kwargs["name"]))

    if settings.webhook:

        @kopf.on.validate(
            group=constants.GROUP,
            plural=constants.INFERENCESET_PLURAL,
            id=constants.INFERENCESET_WEBHOOK_PATH.rsplit("/", 1)[-1],
            operations=["CREATE", "UPDATE"],
            registry=registry,
        )
        async def validate_inferenceset(**kwargs: Any) -> None:
            body: Mapping[str, Any] = kwargs["body"]
            old: Mapping[str, Any] | None = kwargs.get("old")
            try:
                problems, warnings = await review(
                    op.cluster, settings, dict(body), dict(old) if old else None
                )
            except k8s_errors.KubernetesError as exc:
                raise errors.admission_error(f"cannot validate the InferenceSet: {exc}") from exc
            kwargs["warnings"].extend(warnings)
            if problems:
                raise errors.admission_error("; ".join(problems))
