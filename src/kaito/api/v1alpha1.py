"""``kaito.sh/v1alpha1`` Workspace: the first served version, still accepted for old manifests.

Field-compatible with ``v1beta1`` (which only adds fields), so upstream wires no conversion webhook
and the API server just rewrites ``apiVersion``; :func:`kaito.api.workspace.to_v1beta1` does the
same in Python. Differences: ``instanceType`` defaults to ``Standard_NC24ads_A100_v4``, there is no
``partition``, no ``modelAccessSecret`` and the status has only worker nodes and conditions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from kaito.api import constants
from kaito.api.data_sources import PRESERVE_UNKNOWN, AdapterSpec, DataDestination, DataSource
from kaito.api.meta import Condition, LabelSelector, ObjectMeta
from kaito.api.wire import OptStr, WireModel

AccessMode = Literal["public", "private"]


class ResourceSpec(WireModel):
    """The GPU nodes a Workspace runs on."""

    count: int = Field(
        default=constants.DEFAULT_RESOURCE_COUNT,
        description="Number of GPU nodes. Immutable.",
    )
    instance_type: OptStr = Field(
        default=constants.V1ALPHA1_DEFAULT_INSTANCE_TYPE,
        description="GPU node SKU (default Standard_NC24ads_A100_v4). Immutable.",
    )
    label_selector: LabelSelector = Field(
        description=(
            "Labels the GPU nodes must carry; only matchLabels and single-value In expressions "
            "are honoured. Immutable."
        ),
    )
    preferred_nodes: list[str] = Field(
        default_factory=list,
        description="Names of existing nodes to use first (nodes lacking the labels are ignored).",
    )


class PresetOptions(WireModel):
    """Options of a preset model."""

    image: OptStr = Field(
        default=None, description="Private image holding the model, for private presets."
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list, description="Secrets used to pull the private model image."
    )


class PresetSpec(WireModel):
    """A model from the KAITO catalog."""

    name: str = Field(description="Preset name, matched case-insensitively.")
    access_mode: AccessMode = Field(
        default="public",
        description="Whether the model image is public or private (default public).",
    )
    preset_options: PresetOptions | None = Field(default=None, description="Options of the preset.")


class InferenceSpec(WireModel):
    """Serve a model: a preset or a custom pod template, with optional config and adapters."""

    preset: PresetSpec | None = Field(
        default=None, description="The model to serve with preset settings; excludes template."
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description="A custom PodTemplateSpec to run instead of a preset.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    config: OptStr = Field(
        default=None,
        description=(
            "Name of a ConfigMap in the Workspace namespace with an inference_config.yaml key."
        ),
    )
    adapters: list[AdapterSpec] = Field(
        default_factory=list, description="LoRA adapters to load with the base model (at most 10)."
    )


class TuningSpec(WireModel):
    """Fine-tune a preset model with LoRA or QLoRA and store the adapter."""

    preset: PresetSpec | None = Field(
        default=None, description="The model to fine-tune; must support tuning."
    )
    method: OptStr = Field(default=None, description="lora or qlora. Immutable.")
    config: OptStr = Field(
        default=None,
        description=(
            "Name of a ConfigMap in the Workspace namespace with a training_config.yaml key; "
            "defaults to the release's template for the method."
        ),
    )
    input: DataSource = Field(description="The training data: URLs, an image or a volume.")
    output: DataDestination = Field(description="Where the adapter goes: an image or a volume.")


class WorkspaceStatus(WireModel):
    """Observed state of the Workspace."""

    # Status is written by controllers (possibly newer ones); unknown fields are not a user error.
    model_config = ConfigDict(extra="ignore")

    worker_nodes: list[str] = Field(
        default_factory=list, description="Names of the nodes running the workload."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Detailed conditions of the Workspace."
    )


class Workspace(WireModel):
    """A KAITO Workspace (kaito.sh/v1alpha1)."""

    api_version: Literal["kaito.sh/v1alpha1"] = Field(
        default="kaito.sh/v1alpha1", description="API version of the object."
    )
    kind: Literal["Workspace"] = Field(default="Workspace", description="Kind of the object.")
    metadata: ObjectMeta = Field(default_factory=ObjectMeta, description="Object metadata.")
    # Optional in the schema as upstream's: the webhook reports what an absent resource lacks
    # (instanceType, or the nodes' labels) with upstream's messages.
    resource: ResourceSpec = Field(
        default_factory=lambda: ResourceSpec(label_selector=LabelSelector()),
        description="The GPU nodes the workload runs on.",
    )
    inference: InferenceSpec | None = Field(
        default=None, description="Serve a model; excludes tuning."
    )
    tuning: TuningSpec | None = Field(
        default=None, description="Fine-tune a model; excludes inference."
    )
    status: WorkspaceStatus | None = Field(default=None, description="Observed state.")


__all__ = [
    "AdapterSpec",
    "DataDestination",
    "DataSource",
    "InferenceSpec",
    "PresetOptions",
    "PresetSpec",
    "ResourceSpec",
    "TuningSpec",
    "Workspace",
    "WorkspaceStatus",
]
