"""InferenceSet support for ``kaito validate`` and ``kaito render``.

``kaito validate`` judges an InferenceSet exactly as the webhook does
(:func:`kaito.validation.inferenceset.check_inferenceset`: the set's rules plus the Workspace
rules on the Workspace each replica would be) and estimates the nodes of one replica and of all.
``kaito render`` prints what the operator creates for a set: its N child Workspaces (named by the
API server from ``generateName``, so each child's own objects are shown by rendering a child) and,
for ``scaledobject.kaito.sh/auto-provision`` with ``max-replicas``, the KEDA ScaledObject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kaito.api import constants, v1beta1
from kaito.api import inferenceset as api_inferenceset
from kaito.api.inferenceset_children import build_child_workspace
from kaito.api.workspace import WorkspaceParseError
from kaito.manifests import scaledobject
from kaito.validation import ValidationContext
from kaito.validation.inferenceset import check_inferenceset

Obj = dict[str, Any]
Estimator = Callable[[v1beta1.Workspace], dict[str, Any] | None]


def validate_document(
    doc: Mapping[str, Any], ctx: ValidationContext, estimate: Estimator
) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, Any] | None]:
    """Errors, warnings and (when valid) the node estimate of one InferenceSet document."""
    try:
        iset = api_inferenceset.parse_inferenceset(doc)
    except WorkspaceParseError as exc:
        return [{"field": i.field, "message": i.message} for i in exc.issues], [], None
    report = check_inferenceset(iset, ctx)
    errors = [e.to_dict() for e in report.errors]
    warnings = [w.to_dict() for w in report.warnings]
    if not report.valid:
        return errors, warnings, None
    stored = api_inferenceset.to_storage(iset)
    child = build_child_workspace(stored, byo=ctx.nap_disabled is True)
    per_replica = estimate(child)
    if per_replica is None:
        return errors, warnings, None
    replicas = stored.spec.replicas
    nodes = per_replica.get("nodes")
    combined = {**per_replica, "replicas": replicas, "nodesPerReplica": nodes}
    combined["nodes"] = nodes * replicas if isinstance(nodes, int) else None
    return errors, warnings, combined


def render_objects(
    doc: Mapping[str, Any], *, provisioner: str | None, namespace: str | None
) -> tuple[list[Obj], list[str]]:
    """The child Workspaces of an InferenceSet document, its ScaledObject when asked for, notes.

    Args:
        doc: The InferenceSet document.
        provisioner: The cluster's node provisioner; None: bring-your-own when the template
            names no instance type.
        namespace: For a set that names none.

    Raises:
        WorkspaceParseError: the document is not a well-formed InferenceSet.
    """
    iset = api_inferenceset.to_storage(api_inferenceset.parse_inferenceset(doc))
    if provisioner is None:
        byo = not iset.spec.template.resource.instance_type
    else:
        byo = provisioner == constants.NODE_PROVISIONER_BYO
    if namespace and not iset.metadata.namespace:
        iset.metadata.namespace = namespace
    child = build_child_workspace(iset, byo=byo).to_wire()
    objects = [child for _ in range(max(0, iset.spec.replicas))]
    notes = []
    plan = scaledobject.plan_autoscaling(iset, None)
    if plan.wait_for_sizing:
        notes.append(
            f"InferenceSet {iset.metadata.name}: the KEDA ScaledObject is not shown: its "
            "maxReplicaCount is nodeCountLimit // the nodes of one replica, known once a replica "
            "is sized in the cluster"
        )
    elif plan.enabled:
        objects.append(scaledobject.build_scaled_object(iset, plan, scaledobject.ScalerAddress()))
    elif plan.problem:
        notes.append(f"InferenceSet {iset.metadata.name}: no ScaledObject: {plan.problem}")
    return objects, notes
