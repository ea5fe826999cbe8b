"""Kopf handlers: a few lines each, mapping events to Workspace keys and admission to validation.

Every watch event on a Workspace or on one of its children (StatefulSet, Job, pods, NodeClaims,
NodePools, nodes) only enqueues the owning Workspace; the reconcile itself runs from the work queue
(``kaito.operator.queue``). Children are mapped back through the ``kaito.sh/workspace`` labels (or
Karpenter's ``karpenter.kaito.sh/workspace-*`` labels), which every object we create carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kopf

from kaito.api import constants
from kaito.k8s import errors as k8s_errors
from kaito.operator import errors, webhook
from kaito.operator import login as kubeconfig_login

if TYPE_CHECKING:
    from kaito.operator.runner import Operator


def _key_from_labels(labels: Mapping[str, str], namespace: str | None) -> tuple[str, str] | None:
    if constants.LABEL_WORKSPACE in labels:
        ns = labels.get(constants.LABEL_WORKSPACE_NAMESPACE) or namespace
        return (ns, labels[constants.LABEL_WORKSPACE]) if ns else None
    if constants.LABEL_KARPENTER_WORKSPACE_NAME in labels:
        ns = labels.get(constants.LABEL_KARPENTER_WORKSPACE_NAMESPACE)
        return (ns, labels[constants.LABEL_KARPENTER_WORKSPACE_NAME]) if ns else None
    return None


def register(registry: kopf.OperatorRegistry, op: Operator) -> None:
    """Register the operator's handlers into ``registry``."""
    settings = op.settings

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if settings.server:
            return kopf.ConnectionInfo(server=settings.server, insecure=True)
        if settings.kubeconfig:
            return kubeconfig_login.connection_info(Path(settings.kubeconfig))
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event(
        group=constants.GROUP,
        version=constants.VERSION_V1BETA1,
        plural=constants.WORKSPACE_PLURAL,
        registry=registry,
    )
    def workspace_event(**kwargs: Any) -> None:
        key = (kwargs["namespace"], kwargs["name"])
        if op.workspace_changed(key, kwargs["body"], kwargs.get("type")):
            op.queue.add(key)

    def child_event(**kwargs: Any) -> None:
        key = _key_from_labels(kwargs["labels"], kwargs.get("namespace"))
        if key is not None:
            op.queue.add(key)

    workspace_label = {constants.LABEL_WORKSPACE: kopf.PRESENT}
    children = [("apps", "v1", "statefulsets"), ("batch", "v1", "jobs"), ("", "v1", "pods")]
    if settings.node_provisioner != constants.NODE_PROVISIONER_BYO:
        children += [("", "v1", "nodes")]
    for group, version, plural in children:
        kopf.on.event(
            group=group, version=version, plural=plural, labels=workspace_label, registry=registry
        )(child_event)
    if settings.node_provisioner in (
        constants.NODE_PROVISIONER_GPU_PROVISIONER,
        constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER,
    ):
        kopf.on.event(
            group="karpenter.sh",
            version="v1",
            plural="nodeclaims",
            labels=workspace_label,
            registry=registry,
        )(child_event)
    elif settings.node_provisioner == constants.NODE_PROVISIONER_KARPENTER:
        karpenter_label = {constants.LABEL_KARPENTER_WORKSPACE_NAME: kopf.PRESENT}
        for plural in ("nodeclaims", "nodepools"):
            kopf.on.event(
                group="karpenter.sh",
                version="v1",
                plural=plural,
                labels=karpenter_label,
                registry=registry,
            )(child_event)
        kopf.on.event(
            group="", version="v1", plural="nodes", labels=karpenter_label, registry=registry
        )(child_event)

    if settings.webhook:
        hub = webhook.hub_reader(settings)

        @kopf.on.validate(
            group=constants.GROUP,
            plural=constants.WORKSPACE_PLURAL,
            id=constants.WEBHOOK_PATH.rsplit("/", 1)[-1],
            operations=["CREATE", "UPDATE"],
            registry=registry,
        )
        async def validate_workspace(**kwargs: Any) -> None:
            body: Mapping[str, Any] = kwargs["body"]
            old: Mapping[str, Any] | None = kwargs.get("old")
            try:
                problems, warnings = await webhook.review(
                    op.cluster, settings, dict(body), dict(old) if old else None, hub
                )
            except k8s_errors.KubernetesError as exc:
                raise errors.admission_error(f"cannot validate the Workspace: {exc}") from exc
            kwargs["warnings"].extend(warnings)  # shown by kubectl on admission
            if problems:
                raise errors.admission_error("; ".join(problems))
