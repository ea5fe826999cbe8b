"""``InferenceSet`` (kaito.sh v1alpha1 and v1beta1): N inference Workspaces behind one selector.

An InferenceSet holds a Workspace template (``spec.template.resource`` and ``inference``), a
replica count with a ``scale`` subresource (so ``kubectl scale``, an HPA or KEDA can drive it) and
the label selector every child Workspace copies into ``resource.labelSelector``. Both versions
share the shape; ``v1alpha1`` lacks ``template.resource.partition`` and upstream keeps its
``inference`` the v1beta1 InferenceSpec, so both versions here use :class:`v1beta1.InferenceSpec`
and the shared :class:`v1beta1.Performance` status. ``v1beta1`` is stored; the API server converts
by rewriting ``apiVersion`` (no conversion webhook), as for Workspaces.

``updateStrategy`` is schemaless upstream (a StatefulSet update strategy); it stays a plain mapping
here and :func:`kaito.api.inferenceset_children.max_unavailable` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import pydantic
from pydantic import ConfigDict, Field

from kaito.api import constants, v1beta1
from kaito.api.data_sources import PRESERVE_UNKNOWN
from kaito.api.meta import Condition, LabelSelector, ObjectMeta
from kaito.api.wire import OptStr, OptTimestamp, WireModel
from kaito.api.workspace import ParseIssue, WorkspaceParseError, issues_from


class InferenceSetParseError(WorkspaceParseError):
    """The data is not a well-formed InferenceSet; ``issues`` lists every problem with its path."""

    def __init__(self, issues: Sequence[ParseIssue]) -> None:
        super().__init__(issues)
        lines = [f"{i.field}: {i.message}" if i.field else i.message for i in self.issues]
        self.args = ("invalid InferenceSet:\n  " + "\n  ".join(lines),)


DEFAULT_UPDATE_STRATEGY: dict[str, Any] = {
    "type": constants.UPDATE_STRATEGY_ROLLING,
    "rollingUpdate": {"maxUnavailable": 1},
}


class InferenceSetResourceSpec(WireModel):
    """The GPU nodes of each replica (``v1alpha1``: no partition)."""

    instance_type: OptStr = Field(
        default=None,
        description=(
            "GPU node SKU of each replica. Required when node auto-provisioning is enabled; must "
            "be empty for bring-your-own nodes."
        ),
    )


class InferenceSetResourceSpecV1Beta1(InferenceSetResourceSpec):
    """The GPU nodes of each replica, with optional GPU partitioning."""

    partition: v1beta1.PartitionSpec | None = Field(
        default=None,
        description=(
            "GPU partitioning applied to each replica (a MIG slice instead of a full GPU); needs "
            "the enableMIG feature gate and bring-your-own nodes. Immutable once set."
        ),
    )


class MaintenanceWindow(WireModel):
    """When automatic base-image upgrades may start."""

    schedule: str = Field(
        description='Five-field cron expression in UTC, e.g. "0 2 * * 6" (Saturdays 02:00).'
    )
    duration: OptStr = Field(
        default=constants.DEFAULT_MAINTENANCE_WINDOW_DURATION,
        description="How long the window stays open after each cron tick (default 4h).",
    )


class AutoUpgradePolicy(WireModel):
    """Automatic base-image upgrades of the replicas (recorded; not acted on by kaito-py)."""

    enabled: bool = Field(default=False, description="Upgrade replicas on a newer base image.")
    strategy: Literal["InPlace", "Surge"] = Field(
        default="InPlace",
        description="InPlace rolls each replica's StatefulSet; Surge adds a replica first.",
    )
    maintenance_window: MaintenanceWindow | None = Field(
        default=None, description="Restricts when upgrades may start; any time when unset."
    )


class InferenceSetTemplate(WireModel):
    """The Workspace every replica is made from (``v1alpha1``)."""

    metadata: ObjectMeta | None = Field(
        default=None,
        description="Labels and annotations copied onto every child Workspace.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    resource: InferenceSetResourceSpec = Field(
        default_factory=InferenceSetResourceSpec, description="The GPU nodes of each replica."
    )
    inference: v1beta1.InferenceSpec = Field(
        description="Serve a model; the same fields as a Workspace's inference."
    )


class InferenceSetTemplateV1Beta1(InferenceSetTemplate):
    """The Workspace every replica is made from."""

    resource: InferenceSetResourceSpecV1Beta1 = Field(
        default_factory=InferenceSetResourceSpecV1Beta1,
        description="The GPU nodes of each replica.",
    )


class InferenceSetSpec(WireModel):
    """Desired state of an InferenceSet (``v1alpha1``)."""

    template: InferenceSetTemplate = Field(description="The Workspace each replica is made from.")
    replicas: int = Field(
        default=1,
        description="Desired number of Workspaces (default 1, minimum 0).",
        json_schema_extra={"minimum": 0, "format": "int32"},
    )
    node_count_limit: int | None = Field(
        default=None,
        description=(
            "Most GPU nodes all replicas together may use; replicas beyond it are not created. "
            "Unlimited when unset."
        ),
    )
    label_selector: LabelSelector = Field(
        description="Copied into each child Workspace's resource.labelSelector."
    )
    update_strategy: dict[str, Any] = Field(
        default_factory=lambda: dict(DEFAULT_UPDATE_STRATEGY),
        description=(
            "How replicas are replaced when the template changes: RollingUpdate (default, "
            "rollingUpdate.maxUnavailable replicas at a time, default 1) or OnDelete."
        ),
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    auto_upgrade: AutoUpgradePolicy | None = Field(
        default=None, description="Automatic base-image upgrade behaviour."
    )


class InferenceSetSpecV1Beta1(InferenceSetSpec):
    """Desired state of an InferenceSet."""

    template: InferenceSetTemplateV1Beta1 = Field(
        description="The Workspace each replica is made from."
    )


class AutoUpgradeStatus(WireModel):
    """Observed state of automatic upgrades."""

    model_config = ConfigDict(extra="ignore")

    num_drifted_workspaces: int | None = Field(
        default=None, description="Replicas whose base image differs from the controller's."
    )
    last_successful_upgrade_time: OptTimestamp = Field(
        default=None,
        description="When a replica last finished an upgrade.",
        json_schema_extra={"format": "date-time"},
    )


class InferenceSetStatus(WireModel):
    """Observed state, recomputed from the child Workspaces on every pass."""

    # Written by controllers (possibly newer ones); unknown fields are not a user error.
    model_config = ConfigDict(extra="ignore")

    replicas: int | None = Field(default=None, description="Number of Workspaces desired.")
    ready_replicas: int | None = Field(
        default=None, description="Number of child Workspaces that are ready."
    )
    selector: OptStr = Field(
        default=None,
        description="Label selector of the replicas, for the scale subresource (HPA, KEDA).",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Conditions of the InferenceSet."
    )
    performance: v1beta1.Performance | None = Field(
        default=None, description="Performance aggregated over the ready replicas."
    )
    auto_upgrade: AutoUpgradeStatus | None = Field(
        default=None, description="Observed state of automatic base-image upgrades."
    )


class InferenceSetV1Alpha1(WireModel):
    """An InferenceSet of ``kaito.sh/v1alpha1``."""

    api_version: Literal["kaito.sh/v1alpha1"] = Field(
        default="kaito.sh/v1alpha1", description="API version of the object."
    )
    kind: Literal["InferenceSet"] = Field(default="InferenceSet", description="Kind of the object.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Object metadata.")
    spec: InferenceSetSpec = Field(description="Desired state of the InferenceSet.")
    status: InferenceSetStatus | None = Field(default=None, description="Observed state.")


class InferenceSet(WireModel):
    """An InferenceSet of ``kaito.sh/v1beta1`` (the storage version)."""

    api_version: Literal["kaito.sh/v1beta1"] = Field(
        default="kaito.sh/v1beta1", description="API version of the object."
    )
    kind: Literal["InferenceSet"] = Field(default="InferenceSet", description="Kind of the object.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Object metadata.")
    spec: InferenceSetSpecV1Beta1 = Field(description="Desired state of the InferenceSet.")
    status: InferenceSetStatus | None = Field(default=None, description="Observed state.")


AnyInferenceSet: TypeAlias = InferenceSetV1Alpha1 | InferenceSet
"""An InferenceSet of any served version."""

MODELS: dict[str, type[AnyInferenceSet]] = {
    constants.VERSION_V1ALPHA1: InferenceSetV1Alpha1,
    constants.VERSION_V1BETA1: InferenceSet,
}
_BY_API_VERSION = {f"{constants.GROUP}/{v}": m for v, m in MODELS.items()}


def is_inferenceset_document(obj: object) -> bool:
    """Whether ``obj`` claims to be an InferenceSet of the kaito.sh group (any version)."""
    if not isinstance(obj, Mapping):
        return False
    api_version = obj.get("apiVersion")
    return (
        obj.get("kind") == constants.KIND_INFERENCESET
        and isinstance(api_version, str)
        and api_version.startswith(f"{constants.GROUP}/")
    )


def parse_inferenceset(obj: Mapping[str, Any]) -> AnyInferenceSet:
    """The typed InferenceSet for ``obj``'s ``apiVersion``.

    Raises:
        InferenceSetParseError: not an InferenceSet of a served version, or any field malformed or
            unknown; every problem is listed with its camelCase path (``spec.template...``).
    """
    if not isinstance(obj, Mapping):
        raise InferenceSetParseError([ParseIssue("", "an InferenceSet must be a mapping")])
    issues: list[ParseIssue] = []
    if obj.get("kind") != constants.KIND_INFERENCESET:
        issues.append(
            ParseIssue("kind", f"expected {constants.KIND_INFERENCESET!r}, got {obj.get('kind')!r}")
        )
    api_version = obj.get("apiVersion")
    model = _BY_API_VERSION.get(api_version) if isinstance(api_version, str) else None
    if model is None:
        served = ", ".join(sorted(_BY_API_VERSION))
        issues.append(
            ParseIssue("apiVersion", f"unsupported apiVersion {api_version!r}; served: {served}")
        )
    if issues:
        raise InferenceSetParseError(issues)
    assert model is not None
    try:
        return model.model_validate(dict(obj))
    except pydantic.ValidationError as exc:
        raise InferenceSetParseError(issues_from(exc)) from exc


def to_storage(iset: AnyInferenceSet) -> InferenceSet:
    """``iset`` as ``v1beta1``: the same fields under the new apiVersion, as the API server does."""
    if isinstance(iset, InferenceSet):
        return iset
    data = iset.to_wire()
    data["apiVersion"] = constants.API_VERSION_V1BETA1
    return InferenceSet.model_validate(data)


__all__ = [
    "DEFAULT_UPDATE_STRATEGY",
    "MODELS",
    "AnyInferenceSet",
    "AutoUpgradePolicy",
    "AutoUpgradeStatus",
    "InferenceSet",
    "InferenceSetParseError",
    "InferenceSetResourceSpec",
    "InferenceSetResourceSpecV1Beta1",
    "InferenceSetSpec",
    "InferenceSetSpecV1Beta1",
    "InferenceSetStatus",
    "InferenceSetTemplate",
    "InferenceSetTemplateV1Beta1",
    "InferenceSetV1Alpha1",
    "MaintenanceWindow",
    "is_inferenceset_document",
    "parse_inferenceset",
    "to_storage",
]
