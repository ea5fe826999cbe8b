"""``kaito.sh/v1beta1`` Workspace: the storage version and the one the controller works with.

The Workspace is flat: ``resource``, ``inference`` or ``tuning``, and ``status`` sit at the top
level next to ``metadata`` (no ``spec``), exactly like upstream Kaito, so existing manifests and
tools keep working. Field descriptions here are the single source of the CRD schema documentation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from kaito.api import constants
from kaito.api.data_sources import PRESERVE_UNKNOWN, AdapterSpec, DataDestination, DataSource
from kaito.api.meta import INT32, Condition, LabelSelector, ObjectMeta
from kaito.api.wire import OptStr, WireModel

AccessMode = Literal["public", "private"]
PartitionMode = Literal["mig", "accelerator"]


class PartitionSpec(WireModel):
    """How a bring-your-own GPU is shared: a MIG slice or a number of whole accelerators."""

    mode: PartitionMode = Field(description="Partitioning mode: mig or accelerator.")
    profile: OptStr = Field(
        default=None,
        description="MIG profile such as 1g.10gb (mig mode only).",
    )
    count: int | None = Field(
        default=None,
        ge=1,
        description="Number of accelerators to allocate (accelerator mode only).",
    )


class ResourceSpec(WireModel):
    """The GPU nodes a Workspace runs on."""

    count: int = Field(
        default=constants.DEFAULT_RESOURCE_COUNT,
        description=(
            "Deprecated: number of GPU nodes. Only the starting value for sizing; with vLLM the "
            "node estimator decides the node count. Immutable."
        ),
    )
    instance_type: OptStr = Field(
        default=None,
        description=(
            "GPU node SKU, e.g. Standard_NC24ads_A100_v4. Required when node auto-provisioning is "
            "enabled; must be empty with bring-your-own nodes. Immutable once set."
        ),
    )
    label_selector: LabelSelector = Field(
        description=(
            "Labels the GPU nodes must carry; set on provisioned nodes and used to place pods. "
            "Only matchLabels and single-value In expressions are honoured. Immutable."
        ),
    )
    preferred_nodes: list[str] = Field(
        default_factory=list,
        description="Deprecated and ignored: names of nodes to use first.",
    )
    partition: PartitionSpec | None = Field(
        default=None,
        description=(
            "GPU partitioning on bring-your-own nodes (MIG slice or whole accelerators). Needs the "
            "enableMIG or enableAccelerator feature gate; not allowed for tuning. Immutable."
        ),
    )


class PresetOptions(WireModel):
    """Options of a preset model."""

    image: OptStr = Field(
        default=None,
        description="Deprecated: private image holding the model, for private presets.",
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list,
        description="Deprecated: secrets used to pull the private model image.",
    )
    model_access_secret: OptStr = Field(
        default=None,
        description=(
            "Secret in the Workspace namespace whose HF_TOKEN key authenticates model downloads; "
            "required for gated models."
        ),
    )


class PresetSpec(WireModel):
    """A model from the KAITO catalog, a legacy short name or any Hugging Face org/repo id."""

    name: str = Field(
        description=(
            "Preset name (e.g. phi-4-mini-instruct) or Hugging Face model id (e.g. "
            "Qwen/Qwen3-0.6B); matched case-insensitively."
        ),
    )
    access_mode: AccessMode = Field(
        default="public",
        description="Deprecated: whether the model image is public or private (default public).",
    )
    preset_options: PresetOptions | None = Field(default=None, description="Options of the preset.")


class InferenceSpec(WireModel):
    """Serve a model: a preset or a custom pod template, with optional config and adapters."""

    preset: PresetSpec | None = Field(
        default=None,
        description="The model to serve with preset settings; excludes template.",
    )
    template: dict[str, Any] | None = Field(
        default=None,
        description=(
            "A custom PodTemplateSpec to run instead of a preset; KAITO wraps it in a StatefulSet. "
            "Can be changed but not added or removed after creation."
        ),
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    config: OptStr = Field(
        default=None,
        description=(
            "Name of a ConfigMap in the Workspace namespace with an inference_config.yaml key "
            "holding runtime arguments (vLLM only)."
        ),
    )
    adapters: list[AdapterSpec] = Field(
        default_factory=list,
        description="LoRA adapters to load with the base model (at most 10).",
    )


class TuningSpec(WireModel):
    """Fine-tune a preset model with LoRA or QLoRA and store the adapter."""

    preset: PresetSpec | None = Field(
        default=None, description="The model to fine-tune; must support tuning."
    )
    method: OptStr = Field(
        default=None,
        description="Parameter-efficient fine-tuning method: lora or qlora. Immutable.",
    )
    config: OptStr = Field(
        default=None,
        description=(
            "Name of a ConfigMap in the Workspace namespace with a training_config.yaml key; "
            "defaults to the lora-params-template or qlora-params-template of the release."
        ),
    )
    input: DataSource = Field(description="The training data: URLs, an image or a volume.")
    output: DataDestination = Field(description="Where the adapter goes: an image or a volume.")


class Metric(WireModel):
    """One benchmark measurement."""

    description: str = Field(description="Benchmark kind and load, e.g. stress/high-concurrency.")
    value: str = Field(description="Measured value, as a string.")
    unit: OptStr = Field(default=None, description="Unit of the value, e.g. tokens/min.")
    config: dict[str, str] = Field(
        default_factory=dict, description="Benchmark parameters that produced the value."
    )


class Performance(WireModel):
    """Metrics of the post-load inference benchmark."""

    metrics: dict[str, Metric] = Field(
        default_factory=dict, description="Metrics by name, e.g. peakTokensPerMinute."
    )


class WorkspaceStatus(WireModel):
    """Observed state of the Workspace, recomputed by the controller on every pass."""

    # Status is written by controllers (possibly newer ones); unknown fields are not a user error.
    model_config = ConfigDict(extra="ignore")

    worker_nodes: list[str] = Field(
        default_factory=list, description="Sorted names of the nodes running the workload."
    )
    state: OptStr = Field(
        default=None,
        description=(
            "High-level state: Pending; Ready or NotReady (inference); Running, Succeeded or "
            "Failed (tuning)."
        ),
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Detailed conditions of the Workspace."
    )
    target_node_count: int | None = Field(
        default=None,
        json_schema_extra=INT32,
        description="Number of GPU nodes chosen by the node estimator; set once.",
    )
    performance: Performance | None = Field(
        default=None, description="Metrics of the post-load inference benchmark."
    )


class Workspace(WireModel):
    """A KAITO Workspace (kaito.sh/v1beta1): one model served or fine-tuned on GPU nodes."""

    api_version: Literal["kaito.sh/v1beta1"] = Field(
        default="kaito.sh/v1beta1", description="API version of the object."
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
    "AccessMode",
    "AdapterSpec",
    "DataDestination",
    "DataSource",
    "InferenceSpec",
    "Metric",
    "PartitionMode",
    "PartitionSpec",
    "Performance",
    "PresetOptions",
    "PresetSpec",
    "ResourceSpec",
    "TuningSpec",
    "Workspace",
    "WorkspaceStatus",
]
