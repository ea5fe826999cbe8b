"""Kubernetes metadata shapes the Workspace embeds: ObjectMeta, LabelSelector and Condition.

These mirror ``metav1`` closely enough to round-trip objects read from a real API server (all server
fields of ObjectMeta are known, so strict field checking stays on), while staying small: the
Workspace needs names, labels, annotations, finalizers, owner references and the bookkeeping fields
the controller compares (generation, resourceVersion, timestamps).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import ConfigDict, Field

from kaito.api.wire import OptStr, OptTimestamp, Timestamp, WireModel

# Schema markers the Go types carry (`+listType=atomic`, `+mapType=atomic`, integer formats); they
# tell server-side apply to replace these values whole, and clients their integer width.
LIST_ATOMIC: Final[dict[str, Any]] = {"x-kubernetes-list-type": "atomic"}
MAP_ATOMIC: Final[dict[str, Any]] = {"x-kubernetes-map-type": "atomic"}
INT64: Final[dict[str, Any]] = {"format": "int64"}
INT32: Final[dict[str, Any]] = {"format": "int32"}


class OwnerReference(WireModel):
    """A pointer from a dependent object to its owner (garbage collection, adoption)."""

    api_version: str = Field(description="API version of the owner.")
    kind: str = Field(description="Kind of the owner.")
    name: str = Field(description="Name of the owner.")
    uid: str = Field(description="UID of the owner.")
    controller: bool | None = Field(default=None, description="True when the owner manages it.")
    block_owner_deletion: bool | None = Field(
        default=None, description="True to keep the owner until this dependent is deleted."
    )


class ObjectMeta(WireModel):
    """Standard object metadata; every field the API server sets is accepted and kept."""

    name: OptStr = Field(default=None, description="Object name, unique in its namespace.")
    generate_name: OptStr = Field(default=None, description="Prefix for a server-made name.")
    namespace: OptStr = Field(default=None, description="Namespace of the object.")
    self_link: OptStr = Field(default=None, description="Deprecated server-set link.")
    uid: OptStr = Field(default=None, description="Server-set unique identifier.")
    resource_version: OptStr = Field(default=None, description="Server-set version for updates.")
    generation: int | None = Field(default=None, description="Server-set spec generation.")
    creation_timestamp: OptTimestamp = Field(default=None, description="Server-set creation time.")
    deletion_timestamp: OptTimestamp = Field(default=None, description="Set once deletion began.")
    deletion_grace_period_seconds: int | None = Field(
        default=None, description="Seconds allowed for graceful deletion."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the object.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the object."
    )
    owner_references: list[OwnerReference] = Field(
        default_factory=list, description="Objects this one depends on."
    )
    finalizers: list[str] = Field(
        default_factory=list, description="Keys that must be removed before deletion completes."
    )
    managed_fields: list[dict[str, Any]] = Field(
        default_factory=list, description="Server-side apply bookkeeping."
    )


class LabelSelectorRequirement(WireModel):
    """One ``matchExpressions`` entry: a key, an operator and values."""

    key: str = Field(description="The label key the requirement applies to.")
    operator: str = Field(
        description="How the key relates to the values: In, NotIn, Exists or DoesNotExist."
    )
    values: list[str] = Field(
        default_factory=list,
        description="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
        json_schema_extra=LIST_ATOMIC,
    )


class LabelSelector(WireModel):
    """A Kubernetes label selector; KAITO honours matchLabels and single-value In expressions."""

    # As metav1.LabelSelector: server-side apply replaces a selector as a whole, never merges
    # two owners' keys into one selector.
    model_config = ConfigDict(json_schema_extra=MAP_ATOMIC)

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Label key/value pairs a node must carry.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        description=(
            "Label requirements; only the In operator with exactly one value can be turned into "
            "node labels."
        ),
        json_schema_extra=LIST_ATOMIC,
    )


ConditionStatus = Literal["True", "False", "Unknown"]


def _require_message(schema: dict[str, Any]) -> None:
    schema["required"] = sorted({*schema.get("required", ()), "message"})


class Condition(WireModel):
    """A ``metav1.Condition``: one aspect of the Workspace's observed state."""

    # Conditions written by other tools may carry fields we do not know; never reject status.
    # The schema requires ``message`` as metav1.Condition's does (we always write one); Python
    # readers still accept a condition without it.
    model_config = ConfigDict(extra="ignore", json_schema_extra=_require_message)

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Condition type in CamelCase, e.g. ResourceReady.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The metadata.generation the condition was computed for.",
        json_schema_extra=INT64,
    )
    last_transition_time: Timestamp = Field(
        description="When the status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Programmatic identifier of the last transition, in CamelCase.",
    )
    message: str = Field(
        default="", max_length=32768, description="Human-readable detail of the last transition."
    )


__all__ = [
    "INT32",
    "INT64",
    "LIST_ATOMIC",
    "MAP_ATOMIC",
    "Condition",
    "ConditionStatus",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "OwnerReference",
]
