"""Kopf handlers: a few lines each, mapping Workspace events to keys and admission to validation.

Every watch event on a Workspace only enqueues it; the reconcile itself runs from the work queue
(``kaito.operator.queue``). Children (StatefulSet, Job, pods, Services, NodeClaims, NodePools,
nodes) are watched by the operator's own caches instead (``kaito.operator.children``), which the
reconcile reads from.
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
    async def workspace_event(**kwargs: Any) -> None:
        key = (kwargs["namespace"], kwargs["name"])
        if op.workspace_changed(key, kwargs["body"], kwargs.get("type")):
            op.queue.add(key)

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
