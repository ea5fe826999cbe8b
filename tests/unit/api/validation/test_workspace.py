"""Admission rules (§1.5), table-driven: rejections and acceptances, create and update.

Each rejection case names the document change, the context (operator settings, fake cluster) and
the exact field path plus the message it must produce.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kaito.api import constants
from kaito.api.workspace import parse_workspace
from kaito.validation import NodeInfo, ValidationContext, check_workspace, validate_workspace
from tests.unit.api.validation.conftest import (
    A10_LABELS,
    A100_LABELS,
    DELETE,
    LORA_CONFIG,
    inference_doc,
    make_context,
    patched,
    tuning_doc,
)

BYO = {"node_provisioner": constants.NODE_PROVISIONER_BYO}
A100_NODE = NodeInfo("gpu-1", {"apps": "phi", **A100_LABELS})
A10_NODE = NodeInfo("gpu-a10", {"apps": "phi", **A10_LABELS})
ANN = "metadata.annotations"


def _adapter(name: str, **extra: Any) -> dict[str, Any]:
    return {"source": {"name": name, "image": f"myacr.azurecr.io/{name}:1"}, **extra}


def _cm(key: str, text: str) -> dict[tuple[str | None, str], dict[str, str]]:
    return {("default", "cfg"): {key: text}}


def _training(text: str) -> dict[tuple[str | None, str], dict[str, str]]:
    return _cm(constants.CONFIGMAP_KEY_TRAINING, text)


@dataclass
class Case:
    """One rejection: document changes, context settings, expected (field, message fragment)."""

    id: str
    base: Callable[..., dict[str, Any]]
    changes: dict[str, Any]
    field: str
    message: str
    ctx: dict[str, Any] = dataclasses.field(default_factory=dict)
    version: str = "v1beta1"


CREATE_REJECTIONS = [
    # --- metadata and top level ------------------------------------------------------------------
    Case(
        "name-not-dns-label",
        inference_doc,
        {"metadata.name": "Bad_Name"},
        "metadata.name",
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters",
    ),
    Case(
        "name-too-long",
        inference_doc,
        {"metadata.name": "a" * 64},
        "metadata.name",
        "must be no more than 63 characters",
    ),
    Case(
        "name-missing",
        inference_doc,
        {"metadata.name": DELETE},
        "metadata.name",
        "name or generateName is required",
    ),
    Case(
        "neither-inference-nor-tuning",
        inference_doc,
        {"inference": DELETE},
        "inference, tuning",
        "Either Inference or Tuning must be specified, not neither",
    ),
    Case(
        "both-inference-and-tuning",
        inference_doc,
        {"tuning": tuning_doc()["tuning"]},
        "inference, tuning",
        "Either Inference or Tuning must be specified, but not both",
    ),
    Case(
        "nap-requires-instance-type",
        inference_doc,
        {"resource.instanceType": DELETE},
        "resource.instanceType",
        "instanceType is required when node auto-provisioning is enabled",
    ),
    Case(
        "byo-forbids-instance-type",
        inference_doc,
        {},
        "resource.instanceType",
        "instanceType must be empty when node auto-provisioning is disabled (BYO scenario)",
        ctx={**BYO, "nodes": [A100_NODE]},
    ),
    Case(
        "byo-gate-forbids-instance-type",
        inference_doc,
        {},
        "resource.instanceType",
        "instanceType must be empty when node auto-provisioning is disabled",
        ctx={"feature_gates": {"disableNodeAutoProvisioning": True}, "nodes": [A100_NODE]},
    ),
    # --- annotations (v1beta1) -------------------------------------------------------------------
    Case(
        "node-image-family",
        inference_doc,
        {ANN: {constants.ANNOTATION_NODE_IMAGE_FAMILY: "windows"}},
        f"{ANN}[kaito.sh/node-image-family]",
        'unsupported node image family "windows", supported values are azurelinux, ubuntu',
    ),
    Case(
        "performance-mode",
        inference_doc,
        {ANN: {constants.ANNOTATION_PERFORMANCE_MODE: "fast"}},
        f"{ANN}[kaito.sh/performance-mode]",
        '"fast" is not a valid performance mode; choose one of: balanced, interactivity, '
        "throughput",
    ),
    Case(
        "use-local-weights",
        inference_doc,
        {ANN: {constants.ANNOTATION_USE_LOCAL_WEIGHTS: "yes"}},
        f"{ANN}[kaito.sh/use-local-weights]",
        '"yes" must be "true" or "false"',
    ),
    Case(
        "runtime-annotation",
        inference_doc,
        {ANN: {constants.ANNOTATION_RUNTIME: "tgi"}},
        f"{ANN}[kaito.sh/runtime]",
        'unsupported runtime "tgi"',
    ),
    Case(
        "node-class-name",
        inference_doc,
        {ANN: {constants.ANNOTATION_NODE_CLASS_NAME: "gpu-x"}},
        f"{ANN}[kaito.sh/node-class-name]",
        '"gpu-x" is not a KAITO-managed NodeClass, supported values are [image-family-ubuntu]',
        ctx={"node_provisioner": "karpenter", "karpenter_node_classes": ("image-family-ubuntu",)},
    ),
    # --- inference: preset resolution and selector -----------------------------------------------
    Case(
        "deprecated-preset",
        inference_doc,
        {"inference.preset.name": "phi-2"},
        "inference.preset.name",
        "Model phi-2 is deprecated and no longer supported",
    ),
    Case(
        "unknown-preset",
        inference_doc,
        {"inference.preset.name": "phi-5"},
        "inference.preset.name",
        "Unsupported inference preset name phi-5; did you mean phi-4?",
    ),
    Case(
        "selector-notin",
        inference_doc,
        {
            "resource.labelSelector.matchExpressions": [
                {"key": "a", "operator": "NotIn", "values": ["b"]}
            ]
        },
        "resource.labelSelector",
        'operator "NotIn" cannot be converted into a map',
    ),
    Case(
        "selector-in-two-values",
        inference_doc,
        {
            "resource.labelSelector.matchExpressions": [
                {"key": "a", "operator": "In", "values": ["b", "c"]}
            ]
        },
        "resource.labelSelector",
        'operator "In" without a single value cannot be converted',
    ),
    Case(
        "selector-only-reserved",
        inference_doc,
        {"resource.labelSelector.matchLabels": {constants.LABEL_WORKSPACE: "other"}},
        "resource.labelSelector.matchLabels",
        "matchLabels must contain at least one non-reserved label",
    ),
    Case(
        "selector-bad-label-value",
        inference_doc,
        {"resource.labelSelector.matchLabels": {"apps": "has space"}},
        "resource.labelSelector.matchLabels[apps]",
        "invalid label value 'has space'",
    ),
    # --- inference: bring-your-own nodes ---------------------------------------------------------
    Case(
        "byo-no-nodes",
        inference_doc,
        {"resource.instanceType": DELETE},
        "resource.labelSelector",
        "No nodes found matching the specified label selector",
        ctx={**BYO, "nodes": [NodeInfo("other", {"apps": "x", **A100_LABELS})]},
    ),
    Case(
        "byo-missing-gfd-labels",
        inference_doc,
        {"resource.instanceType": DELETE},
        "resource.labelSelector",
        "Failed to get GPU config from nvidia labels on node bare: missing nvidia.com/gpu.product",
        ctx={**BYO, "nodes": [NodeInfo("bare", {"apps": "phi"})]},
    ),
    Case(
        "byo-non-uniform-product",
        inference_doc,
        {"resource.instanceType": DELETE},
        "resource.labelSelector",
        "Non-uniform GPU product: node gpu-a10 has NVIDIA-A10 GPUs",
        ctx={**BYO, "nodes": [A100_NODE, A10_NODE]},
    ),
    Case(
        "byo-non-uniform-count",
        inference_doc,
        {"resource.instanceType": DELETE},
        "resource.labelSelector",
        "Non-uniform GPU count: node gpu-2 has 2 GPUs, but previous node has 1 GPUs",
        ctx={
            **BYO,
            "nodes": [
                A100_NODE,
                NodeInfo("gpu-2", {"apps": "phi", **A100_LABELS, constants.LABEL_GPU_COUNT: "2"}),
            ],
        },
    ),
    Case(
        "byo-insufficient-memory",
        inference_doc,
        {"resource.instanceType": DELETE, "inference.preset.name": "phi-4"},
        "resource.instanceType",
        "Insufficient total GPU memory: Instance type NVIDIA-A10 has a total of 24Gi, but preset "
        "phi-4 requires at least 27.31Gi",
        ctx={**BYO, "nodes": [A10_NODE]},
    ),
    # --- inference: partitions -------------------------------------------------------------------
    Case(
        "partition-needs-byo",
        inference_doc,
        {"resource.partition": {"mode": "mig", "profile": "1g.10gb"}},
        "resource.partition",
        "GPU partitioning is only supported with BYO nodes (disableNodeAutoProvisioning=true)",
    ),
    Case(
        "mig-gate-off",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "mig", "profile": "1g.10gb"},
        },
        "resource.partition",
        "MIG support is not enabled, set feature gate enableMIG=true",
        ctx=BYO,
    ),
    Case(
        "mig-count-forbidden",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "mig", "profile": "1g.10gb", "count": 1},
        },
        "resource.partition.count",
        "count is only valid for accelerator mode",
        ctx={**BYO, "feature_gates": {"enableMIG": True}},
    ),
    Case(
        "mig-unknown-profile",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "mig", "profile": "9g.99gb"},
        },
        "resource.partition.profile",
        'unsupported MIG profile "9g.99gb"',
        ctx={**BYO, "feature_gates": {"enableMIG": True}},
    ),
    Case(
        "mig-model-does-not-fit",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "inference.preset.name": "phi-4",
            "resource.partition": {"mode": "mig", "profile": "1g.10gb"},
        },
        "resource.partition",
        "Model phi-4 requires at least 27.31Gi for weights, which exceeds the 1g.10gb MIG slice "
        "capacity of 10Gi",
        ctx={**BYO, "feature_gates": {"enableMIG": True}},
    ),
    Case(
        "accelerator-gate-off",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "accelerator", "count": 1},
        },
        "resource.partition",
        "accelerator partition support is not enabled, set feature gate enableAccelerator=true",
        ctx=BYO,
    ),
    Case(
        "accelerator-profile-forbidden",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "accelerator", "profile": "1g.10gb", "count": 1},
        },
        "resource.partition.profile",
        "profile is not valid for accelerator mode",
        ctx={**BYO, "feature_gates": {"enableAccelerator": True}},
    ),
    Case(
        "accelerator-count-required",
        inference_doc,
        {"resource.instanceType": DELETE, "resource.partition": {"mode": "accelerator"}},
        "resource.partition.count",
        "missing field(s): partition.count",
        ctx={**BYO, "feature_gates": {"enableAccelerator": True}},
    ),
    # --- inference: SKUs and memory --------------------------------------------------------------
    Case(
        "sku-unknown-on-aws",
        inference_doc,
        {},
        "resource.instanceType",
        "Unsupported instance type Standard_NC24ads_A100_v4. Supported SKUs: p4d.24xlarge,",
        ctx={"cloud_provider": "aws"},
    ),
    Case(
        "sku-unknown-azure-prefix",
        inference_doc,
        {"resource.instanceType": "Standard_E4s_v3"},
        "resource.instanceType",
        "Unsupported instance type Standard_E4s_v3. Supported SKUs:",
    ),
    Case(
        "transformers-insufficient-memory",
        inference_doc,
        {
            ANN: {constants.ANNOTATION_RUNTIME: "transformers"},
            "inference.preset.name": "phi-4",
            "resource.instanceType": "Standard_NV36ads_A10_v5",
        },
        "resource.instanceType",
        "Insufficient total GPU memory: Instance type Standard_NV36ads_A10_v5 has a total of "
        "24Gi, but preset phi-4 requires at least 27.31Gi",
    ),
    Case(
        "transformers-multi-node",
        inference_doc,
        {
            ANN: {constants.ANNOTATION_RUNTIME: "transformers"},
            "inference.preset.name": "phi-4",
            "resource.instanceType": "Standard_NV36ads_A10_v5",
            "resource.count": 2,
        },
        "resource",
        "Multi-node distributed inference is not supported with Huggingface Transformers runtime",
    ),
    Case(
        "vllm-gate-off-means-transformers",
        inference_doc,
        {"inference.preset.name": "phi-4", "resource.instanceType": "Standard_NV36ads_A10_v5"},
        "resource.instanceType",
        "Insufficient total GPU memory",
        ctx={"feature_gates": {"vLLM": False}},
    ),
    # --- inference: runtime fit, secrets, template -----------------------------------------------
    Case(
        "transformers-unsupported-model",
        inference_doc,
        {ANN: {constants.ANNOTATION_RUNTIME: "transformers"}},
        "inference.preset.name",
        "Runtime validation: model phi-4-mini-instruct does not support inference with "
        "Huggingface Transformers runtime",
    ),
    Case(
        "vllm-adapter-strength",
        inference_doc,
        {"inference.adapters": [_adapter("a", strength="0.5")]},
        "inference.adapters[0].strength",
        "Runtime validation: vLLM does not support adapter strength",
    ),
    Case(
        "private-access-needs-image",
        inference_doc,
        {"inference.preset.accessMode": "private"},
        "inference.preset.presetOptions.image",
        "When AccessMode is private, an image must be provided in PresetOptions",
    ),
    Case(
        "preset-and-template",
        inference_doc,
        {"inference.template": {"spec": {}}},
        "inference.preset, inference.template",
        "Preset and Template cannot be set at the same time",
    ),
    Case(
        "neither-preset-nor-template",
        inference_doc,
        {"inference.preset": DELETE},
        "inference",
        "Preset or Template must be specified",
    ),
    # --- inference: adapters ---------------------------------------------------------------------
    Case(
        "too-many-adapters",
        inference_doc,
        {"inference.adapters": [_adapter(f"a{i}") for i in range(11)]},
        "inference.adapters",
        "Number of Adapters exceeds the maximum limit, maximum of 10 allowed",
    ),
    Case(
        "duplicate-adapter",
        inference_doc,
        {"inference.adapters": [_adapter("a"), _adapter("a")]},
        "inference.adapters[1].source.name",
        "Duplicate adapter source name found: a",
    ),
    Case(
        "adapter-urls",
        inference_doc,
        {"inference.adapters": [{"source": {"name": "a", "urls": ["https://x.io/a"]}}]},
        "inference.adapters[0].source.urls",
        "URLs are not supported as adapter source",
    ),
    Case(
        "adapter-no-source-kind",
        inference_doc,
        {"inference.adapters": [{"source": {"name": "a"}}]},
        "inference.adapters[0].source",
        "Either Image or Volume must be specified for adapter source",
    ),
    Case(
        "adapter-missing-source",
        inference_doc,
        {"inference.adapters": [{"strength": "1"}]},
        "inference.adapters[0].source",
        "missing field(s): source",
    ),
    Case(
        "adapter-bad-name",
        inference_doc,
        {"inference.adapters": [{"source": {"name": "Bad_Name", "image": "myacr.io/a:1"}}]},
        "inference.adapters[0].source.name",
        "a lowercase RFC 1123 subdomain must consist of",
    ),
    Case(
        "adapter-missing-name",
        inference_doc,
        {"inference.adapters": [{"source": {"image": "myacr.io/a:1"}}]},
        "inference.adapters[0].source.name",
        "Name of Adapter field must be specified",
    ),
    Case(
        "adapter-strength-not-number",
        inference_doc,
        {
            ANN: {constants.ANNOTATION_RUNTIME: "transformers"},
            "inference.preset.name": "phi-4",
            "inference.adapters": [_adapter("a", strength="strong")],
        },
        "inference.adapters[0].strength",
        "Invalid strength value for Adapter 'a': 'strong'",
    ),
    Case(
        "adapter-strength-range",
        inference_doc,
        {
            ANN: {constants.ANNOTATION_RUNTIME: "transformers"},
            "inference.preset.name": "phi-4",
            "inference.adapters": [_adapter("a", strength="1.5")],
        },
        "inference.adapters[0].strength",
        "Strength value for Adapter 'a' must be between 0 and 1",
    ),
    Case(
        "adapter-bad-image",
        inference_doc,
        {"inference.adapters": [{"source": {"name": "a", "image": "myacr.io/Adapter:1"}}]},
        "inference.adapters[0].source.image",
        "Unable to parse input image reference: invalid reference format: repository name "
        "(Adapter) must be lowercase",
    ),
    # --- inference: config ConfigMap -------------------------------------------------------------
    Case(
        "inference-config-missing",
        inference_doc,
        {"inference.config": "missing"},
        "inference.config",
        "ConfigMap 'missing' specified in 'config' not found in namespace 'default'",
    ),
    Case(
        "inference-config-no-key",
        inference_doc,
        {"inference.config": "cfg"},
        "inference.config",
        "missing field(s): inference_config.yaml in ConfigMap 'cfg'",
        ctx={"configmaps": _cm("other.yaml", "x: 1")},
    ),
    Case(
        "inference-config-bad-yaml",
        inference_doc,
        {"inference.config": "cfg"},
        "inference.config",
        "Failed to parse inference_config.yaml",
        ctx={"configmaps": _cm(constants.CONFIGMAP_KEY_INFERENCE, "vllm: [unclosed")},
    ),
    Case(
        "inference-config-vllm-not-map",
        inference_doc,
        {"inference.config": "cfg"},
        "inference.config",
        "'vllm' must be a map",
        ctx={"configmaps": _cm(constants.CONFIGMAP_KEY_INFERENCE, "vllm: 3")},
    ),
    Case(
        "max-model-len-too-large",
        inference_doc,
        {"inference.config": "cfg", "inference.preset.name": "phi-4"},
        "inference.config",
        "max-model-len 32768 exceeds model's maximum supported context window 16384 "
        "(ModelTokenLimit)",
        ctx={"configmaps": _cm(constants.CONFIGMAP_KEY_INFERENCE, "vllm:\n  max-model-len: 32768")},
    ),
    Case(
        "max-model-len-not-integer",
        inference_doc,
        {"inference.config": "cfg"},
        "inference.config",
        "max-model-len must be an integer: got 'lots'",
        ctx={"configmaps": _cm(constants.CONFIGMAP_KEY_INFERENCE, "vllm:\n  max-model-len: lots")},
    ),
    # --- model streaming -------------------------------------------------------------------------
    Case(
        "streaming-csi-driver-missing",
        inference_doc,
        {},
        ANN,
        "CSI driver blob.csi.azure.com not found; required for model streaming",
        ctx={"feature_gates": {"ModelStreaming": True, "ModelMirror": True}, "csi_drivers": []},
    ),
    Case(
        "streaming-unsupported-cloud",
        inference_doc,
        {"resource.instanceType": "g5.xlarge"},
        ANN,
        'unsupported cloud provider "aws" for model streaming',
        ctx={"feature_gates": {"ModelStreaming": True}, "cloud_provider": "aws"},
    ),
    # --- tuning ----------------------------------------------------------------------------------
    Case(
        "tuning-multinode",
        tuning_doc,
        {"resource.count": 2},
        "resource.count",
        "Tuning does not currently support multinode configurations. Please set the node count "
        "to 1. Future support with DeepSpeed will allow this.",
    ),
    Case(
        "tuning-partition",
        tuning_doc,
        {"resource.partition": {"mode": "accelerator", "count": 1}},
        "resource.partition",
        "GPU partitioning is not supported for tuning workloads",
    ),
    Case(
        "tuning-method",
        tuning_doc,
        {"tuning.method": "dora"},
        "tuning.method",
        "invalid value: 'dora'; supported methods are lora, qlora",
    ),
    Case(
        "tuning-config-missing",
        tuning_doc,
        {"tuning.config": "mine"},
        "tuning.config",
        "ConfigMap 'mine' specified in 'config' not found in namespace 'default'",
    ),
    Case(
        "tuning-default-template-missing",
        tuning_doc,
        {},
        "tuning.config",
        "ConfigMap 'lora-params-template' specified in 'config' not found in namespace "
        "'kaito-system'",
        ctx={"include_default_templates": False},
    ),
    Case(
        "tuning-config-no-key",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "ConfigMap 'cfg' does not contain 'training_config.yaml'",
        ctx={"configmaps": _cm("x.yaml", "")},
    ),
    Case(
        "tuning-config-not-map",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "Expected 'training_config' key to contain a map",
        ctx={"configmaps": _training("training_config: [1, 2]")},
    ),
    Case(
        "tuning-config-unknown-section",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "Unrecognized section: Optimizer",
        ctx={"configmaps": _training(LORA_CONFIG + "  Optimizer: {lr: 1}\n")},
    ),
    Case(
        "lora-with-4bit",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap 'cfg' must not be true",
        ctx={
            "configmaps": _training(
                LORA_CONFIG.replace("load_in_4bit: false", "load_in_4bit: true")
            )
        },
    ),
    Case(
        "qlora-without-quantization",
        tuning_doc,
        {"tuning.method": "qlora", "tuning.config": "cfg"},
        "tuning.config",
        "For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be true in ConfigMap "
        "'cfg'",
        ctx={"configmaps": _training("training_config:\n  LoraConfig: {r: 8}\n")},
    ),
    Case(
        "quantization-both-bits",
        tuning_doc,
        {"tuning.method": "qlora", "tuning.config": "cfg"},
        "tuning.config",
        "Cannot set both 'load_in_4bit' and 'load_in_8bit' to true in ConfigMap",
        ctx={
            "configmaps": _training(
                "training_config:\n  QuantizationConfig: {load_in_4bit: true, load_in_8bit: true}\n"
            )
        },
    ),
    Case(
        "quantization-not-bool",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "load_in_4bit: value must be either nil or a boolean, got type str",
        ctx={
            "configmaps": _training(
                LORA_CONFIG.replace("load_in_4bit: false", "load_in_4bit: 'yes'")
            )
        },
    ),
    Case(
        "output-dir-outside-mnt",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "Invalid output_dir specified: '/tmp/out', must be a sub-directory of /mnt",
        ctx={"configmaps": _training(LORA_CONFIG.replace("/mnt/results", "/tmp/out"))},
    ),
    Case(
        "output-dir-escapes",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "Invalid output_dir specified: '../etc'",
        ctx={"configmaps": _training(LORA_CONFIG.replace("/mnt/results", "../etc"))},
    ),
    Case(
        "output-dir-is-mnt",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "Invalid output_dir specified: '/mnt/'",
        ctx={"configmaps": _training(LORA_CONFIG.replace("/mnt/results", "/mnt/"))},
    ),
    Case(
        "output-dir-not-string",
        tuning_doc,
        {"tuning.config": "cfg"},
        "tuning.config",
        "output_dir is not a string",
        ctx={"configmaps": _training(LORA_CONFIG.replace("/mnt/results", "5"))},
    ),
    Case(
        "input-two-kinds",
        tuning_doc,
        {"tuning.input.image": "myacr.io/data:1"},
        "tuning.input",
        "Exactly one of URLs, Volume, or Image must be specified",
    ),
    Case(
        "input-no-kind",
        tuning_doc,
        {"tuning.input.urls": DELETE},
        "tuning.input",
        "Exactly one of URLs, Volume, or Image must be specified",
    ),
    Case(
        "input-url-localhost",
        tuning_doc,
        {"tuning.input.urls": ["http://localhost:8080/d.csv"]},
        "tuning.input.urls[0]",
        "data source URL must not target a local or metadata endpoint",
    ),
    Case(
        "input-url-metadata",
        tuning_doc,
        {"tuning.input.urls": ["https://example.com/ok", "http://169.254.169.254/latest/"]},
        "tuning.input.urls[1]",
        "data source URL must not target a local or metadata endpoint (169.254.169.254 is a "
        "cloud metadata address)",
    ),
    Case(
        "input-url-private-decimal",
        tuning_doc,
        {"tuning.input.urls": ["http://167772161/x"]},
        "tuning.input.urls[0]",
        "data source URL must not target a loopback, private, or link-local address (10.0.0.1 "
        "is a private address)",
    ),
    Case(
        "input-url-scheme",
        tuning_doc,
        {"tuning.input.urls": ["s3://bucket/data.csv"]},
        "tuning.input.urls[0]",
        "data source URL must use HTTP or HTTPS",
    ),
    Case(
        "input-url-resolves-private",
        tuning_doc,
        {"tuning.input.urls": ["https://data.example.org/d.json"]},
        "tuning.input.urls[0]",
        "(host data.example.org resolves to 192.168.10.4, a private address)",
        ctx={"resolver": lambda host: ["192.168.10.4"]},
    ),
    Case(
        "input-image-unparsable",
        tuning_doc,
        {"tuning.input.urls": DELETE, "tuning.input.image": "myacr.io/data:bad tag"},
        "tuning.input.image",
        "Unable to parse input image reference: invalid reference format",
    ),
    Case(
        "output-image-needs-secret",
        tuning_doc,
        {"tuning.output.imagePushSecret": DELETE},
        "tuning.output.imagePushSecret",
        "Must specify imagePushSecret with destination image",
    ),
    Case(
        "output-two-kinds",
        tuning_doc,
        {"tuning.output.volumeSource": {"persistentVolumeClaim": {"claimName": "out"}}},
        "tuning.output",
        "Exactly one of Volume or Image must be specified",
    ),
    Case(
        "output-none",
        tuning_doc,
        {"tuning.output.image": DELETE, "tuning.output.imagePushSecret": DELETE},
        "tuning.output",
        "Exactly one of Volume or Image must be specified",
    ),
    Case(
        "output-image-placeholder-v1beta1",
        tuning_doc,
        {"tuning.output.image": "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1"},
        "tuning.output.image",
        "Unable to parse output image reference: invalid reference format: repository name "
        "(IMAGE_NAME_HERE) must be lowercase",
    ),
    Case(
        "tuning-preset-missing",
        tuning_doc,
        {"tuning.preset": DELETE},
        "tuning.preset",
        "missing field(s): preset",
    ),
    Case(
        "tuning-preset-unknown",
        tuning_doc,
        {"tuning.preset.name": "phi-9000"},
        "tuning.preset.name",
        "Unsupported tuning preset name phi-9000",
    ),
    Case(
        "tuning-preset-not-capable",
        tuning_doc,
        {"tuning.preset.name": "llama-3.1-8b-instruct"},
        "tuning.preset.name",
        "Preset llama-3.1-8b-instruct does not support tuning; presets",
    ),
    Case(
        "tuning-preset-deprecated",
        tuning_doc,
        {"tuning.preset.name": "phi-2"},
        "tuning.preset.name",
        "Model phi-2 is deprecated and no longer supported",
    ),
    # --- v1alpha1 --------------------------------------------------------------------------------
    Case(
        "v1alpha1-name",
        inference_doc,
        {"metadata.name": "UPPER"},
        "metadata.name",
        "a lowercase RFC 1123 label",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-neither",
        inference_doc,
        {"inference": DELETE},
        "inference, tuning",
        "Either Inference or Tuning must be specified, not neither",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-unsupported-sku",
        inference_doc,
        {"resource.instanceType": "Standard_E4s_v3"},
        "resource.instanceType",
        "Unsupported instance type Standard_E4s_v3",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-memory-checked-with-vllm",
        inference_doc,
        {"inference.preset.name": "phi-4", "resource.instanceType": "Standard_NV36ads_A10_v5"},
        "resource.instanceType",
        "Insufficient total GPU memory: Instance type Standard_NV36ads_A10_v5 has a total of "
        "24Gi, but preset phi-4 requires at least 27.31Gi",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-unknown-preset",
        inference_doc,
        {"inference.preset.name": "gpt-5"},
        "inference.preset.name",
        "Unsupported inference preset name gpt-5",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-selector",
        inference_doc,
        {"resource.labelSelector.matchExpressions": [{"key": "a", "operator": "Exists"}]},
        "resource.labelSelector",
        'operator "Exists" cannot be converted into a map',
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-output-image-format",
        tuning_doc,
        {"tuning.output.image": "myacr.io/adapter"},
        "tuning.output.image",
        "Invalid image format, require full output image URL",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-input-url-private",
        tuning_doc,
        {"tuning.input.urls": ["http://[::1]/d.csv"]},
        "tuning.input.urls[0]",
        "(::1 is a loopback address)",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-tuning-multinode",
        tuning_doc,
        {"resource.count": 3},
        "resource.count",
        "Tuning does not currently support multinode configurations",
        version="v1alpha1",
    ),
    Case(
        "v1alpha1-output-secret",
        tuning_doc,
        {"tuning.output.imagePushSecret": DELETE},
        "tuning.output.imagePushSecret",
        "Must specify imagePushSecret with destination image",
        version="v1alpha1",
    ),
]


def _build(case: Case) -> tuple[Any, ValidationContext]:
    doc = patched(case.base(case.version), case.changes)
    return parse_workspace(doc), make_context(**case.ctx)


@pytest.mark.parametrize("case", CREATE_REJECTIONS, ids=lambda c: c.id)
def test_create_rejection_reports_field_and_message(case: Case) -> None:
    ws, ctx = _build(case)
    errors = validate_workspace(ws, ctx)
    matching = [e for e in errors if e.field == case.field and case.message in e.message]
    assert matching, f"expected {case.field}: {case.message!r}; got {errors}"


def test_at_least_forty_rejection_cases_cover_both_versions_create_and_update() -> None:
    versions = {c.version for c in CREATE_REJECTIONS} | {c.version for c in UPDATE_REJECTIONS}
    assert versions == {"v1alpha1", "v1beta1"}
    assert len(CREATE_REJECTIONS) + len(UPDATE_REJECTIONS) >= 40
    assert len(UPDATE_REJECTIONS) >= 15


# --- update ------------------------------------------------------------------------------------


@dataclass
class UpdateCase:
    """An update from ``old`` (base doc + old_changes) to ``new`` (base doc + new_changes)."""

    id: str
    base: Callable[..., dict[str, Any]]
    old_changes: dict[str, Any]
    new_changes: dict[str, Any]
    field: str
    message: str
    ctx: dict[str, Any] = dataclasses.field(default_factory=dict)
    version: str = "v1beta1"


UPDATE_REJECTIONS = [
    UpdateCase(
        "toggle-inference-off",
        inference_doc,
        {},
        {"inference": DELETE, "tuning": tuning_doc()["tuning"]},
        "inference",
        "Inference field cannot be toggled once set",
    ),
    UpdateCase(
        "toggle-tuning-on",
        inference_doc,
        {},
        {"inference": DELETE, "tuning": tuning_doc()["tuning"]},
        "tuning",
        "Tuning field cannot be toggled once set",
    ),
    UpdateCase(
        "count-immutable",
        inference_doc,
        {},
        {"resource.count": 2},
        "resource.count",
        "field is immutable",
    ),
    UpdateCase(
        "partition-immutable",
        inference_doc,
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "accelerator", "count": 1},
        },
        {
            "resource.instanceType": DELETE,
            "resource.partition": {"mode": "accelerator", "count": 2},
        },
        "resource.partition",
        "field is immutable",
        ctx=BYO,
    ),
    UpdateCase(
        "nap-instance-type-changed",
        inference_doc,
        {},
        {"resource.instanceType": "Standard_NC48ads_A100_v4"},
        "resource.instanceType",
        "instanceType cannot be changed once set when node auto-provisioning is enabled",
    ),
    UpdateCase(
        "nap-instance-type-removed",
        inference_doc,
        {},
        {"resource.instanceType": DELETE},
        "resource.instanceType",
        "instanceType is required when node auto-provisioning is enabled",
    ),
    UpdateCase(
        "byo-instance-type-added",
        inference_doc,
        {"resource.instanceType": DELETE},
        {"resource.instanceType": "Standard_NC24ads_A100_v4"},
        "resource.instanceType",
        "instanceType must be empty when node auto-provisioning is disabled (BYO scenario)",
        ctx=BYO,
    ),
    UpdateCase(
        "byo-instance-type-changed",
        inference_doc,
        {},
        {"resource.instanceType": "Standard_NC48ads_A100_v4"},
        "resource.instanceType",
        "instanceType cannot be changed once set",
        ctx=BYO,
    ),
    UpdateCase(
        "selector-immutable",
        inference_doc,
        {},
        {"resource.labelSelector.matchLabels": {"apps": "other"}},
        "resource.labelSelector",
        "field is immutable",
    ),
    UpdateCase(
        "selector-set-based",
        inference_doc,
        {},
        {
            "resource.labelSelector.matchExpressions": [
                {"key": "a", "operator": "NotIn", "values": ["b"]}
            ]
        },
        "resource.labelSelector",
        "Only allow matchLabels or 'IN' matchExpression",
    ),
    UpdateCase(
        "preset-immutable",
        inference_doc,
        {},
        {"inference.preset.name": "phi-4"},
        "inference.preset",
        "field is immutable",
    ),
    UpdateCase(
        "template-cannot-be-added",
        inference_doc,
        {},
        {"inference.preset": DELETE, "inference.template": {"spec": {}}},
        "inference.template",
        "field cannot be unset/set if it was set/unset",
    ),
    UpdateCase(
        "adapters-revalidated",
        inference_doc,
        {},
        {"inference.adapters": [_adapter("a"), _adapter("a")]},
        "inference.adapters[1].source.name",
        "Duplicate adapter source name found: a",
    ),
    UpdateCase(
        "adapter-urls-on-update",
        inference_doc,
        {},
        {"inference.adapters": [{"source": {"name": "a", "urls": ["https://x.io/a"]}}]},
        "inference.adapters[0].source.urls",
        "URLs are not supported as adapter source",
    ),
    UpdateCase(
        "tuning-preset-immutable",
        tuning_doc,
        {},
        {"tuning.preset.name": "phi-4"},
        "tuning.preset",
        "Preset cannot be changed",
    ),
    UpdateCase(
        "tuning-method-immutable",
        tuning_doc,
        {},
        {"tuning.method": "qlora"},
        "tuning.method",
        "Method cannot be changed",
    ),
    UpdateCase(
        "tuning-input-name-immutable",
        tuning_doc,
        {},
        {"tuning.input.name": "other"},
        "tuning.input.name",
        "During tuning Name field cannot be changed once set",
    ),
    UpdateCase(
        "tuning-input-url-rechecked",
        tuning_doc,
        {},
        {"tuning.input.urls": ["http://127.0.0.1:9000/d.csv"]},
        "tuning.input.urls[0]",
        "(127.0.0.1 is a loopback address)",
    ),
    UpdateCase(
        "tuning-output-image-rechecked",
        tuning_doc,
        {},
        {"tuning.output.image": "myacr.io/Out:1"},
        "tuning.output.image",
        "Unable to parse output image reference",
    ),
    UpdateCase(
        "streaming-annotation-immutable",
        inference_doc,
        {},
        {ANN: {constants.ANNOTATION_MODEL_STREAMING: "disabled"}},
        f"{ANN}[kaito.sh/model-streaming]",
        "annotation kaito.sh/model-streaming is immutable after creation",
        ctx={"feature_gates": {"ModelStreaming": True}},
    ),
    UpdateCase(
        "node-class-revalidated",
        inference_doc,
        {},
        {ANN: {constants.ANNOTATION_NODE_CLASS_NAME: "nope"}},
        f"{ANN}[kaito.sh/node-class-name]",
        '"nope" is not a KAITO-managed NodeClass',
        ctx={"node_provisioner": "karpenter", "karpenter_node_classes": ("default",)},
    ),
    UpdateCase(
        "v1alpha1-instance-type-immutable",
        inference_doc,
        {},
        {"resource.instanceType": "Standard_NC48ads_A100_v4"},
        "resource.instanceType",
        "field is immutable",
        version="v1alpha1",
    ),
    UpdateCase(
        "v1alpha1-count-immutable",
        tuning_doc,
        {},
        {"resource.count": 2},
        "resource.count",
        "field is immutable",
        version="v1alpha1",
    ),
    UpdateCase(
        "v1alpha1-method-immutable",
        tuning_doc,
        {},
        {"tuning.method": "qlora"},
        "tuning.method",
        "Method cannot be changed",
        version="v1alpha1",
    ),
]


def _build_update(case: UpdateCase) -> tuple[Any, Any, ValidationContext]:
    base = case.base(case.version)
    old = parse_workspace(patched(base, case.old_changes))
    new = parse_workspace(patched(base, {**case.old_changes, **case.new_changes}))
    return new, old, make_context(**case.ctx)


@pytest.mark.parametrize("case", UPDATE_REJECTIONS, ids=lambda c: c.id)
def test_update_rejection_reports_field_and_message(case: UpdateCase) -> None:
    new, old, ctx = _build_update(case)
    errors = validate_workspace(new, ctx, old)
    matching = [e for e in errors if e.field == case.field and case.message in e.message]
    assert matching, f"expected {case.field}: {case.message!r}; got {errors}"


# --- acceptance --------------------------------------------------------------------------------


def _raise_oserror(host: str) -> list[str]:
    raise OSError(f"cannot resolve {host}")


ACCEPTED_CREATES = [
    ("base-inference", inference_doc(), {}),
    ("base-tuning", tuning_doc(), {}),
    (
        "v1alpha1-inference-default-instance-type",
        patched(inference_doc("v1alpha1"), {"resource.instanceType": DELETE}),
        {},
    ),
    ("v1alpha1-tuning", tuning_doc("v1alpha1"), {}),
    (
        "nap-vllm-lets-estimator-size-phi-4-on-a10",
        patched(
            inference_doc(),
            {"inference.preset.name": "phi-4", "resource.instanceType": "Standard_NV36ads_A10_v5"},
        ),
        {},
    ),
    (
        "byo-uniform-nodes",
        patched(inference_doc(), {"resource.instanceType": DELETE}),
        {**BYO, "nodes": [A100_NODE, NodeInfo("gpu-2", {"apps": "phi", **A100_LABELS})]},
    ),
    (
        "byo-template-needs-no-nodes",
        patched(
            inference_doc(),
            {
                "resource.instanceType": DELETE,
                "inference.preset": DELETE,
                "inference.template": {"spec": {"containers": []}},
            },
        ),
        {**BYO, "nodes": []},
    ),
    (
        "mig-fits",
        patched(
            inference_doc(),
            {
                "resource.instanceType": DELETE,
                "resource.partition": {"mode": "mig", "profile": "1g.10gb"},
            },
        ),
        {**BYO, "feature_gates": {"enableMIG": True}},
    ),
    (
        "azure-unlisted-n-series",
        patched(inference_doc(), {"resource.instanceType": "Standard_NC8as_H100_v9"}),
        {},
    ),
    (
        "gated-with-secret",
        patched(
            inference_doc(),
            {
                "inference.preset": {
                    "name": "llama-3.1-8b-instruct",
                    "presetOptions": {"modelAccessSecret": "hf"},
                }
            },
        ),
        {},
    ),
    ("hf-repo-id", patched(inference_doc(), {"inference.preset.name": "Qwen/Qwen3-0.6B"}), {}),
    (
        "transformers-adapter-strength",
        patched(
            inference_doc(),
            {
                ANN: {constants.ANNOTATION_RUNTIME: "transformers"},
                "inference.preset.name": "phi-4",
                "inference.adapters": [_adapter("a", strength="0.25")],
            },
        ),
        {},
    ),
    (
        "inference-config-ok",
        patched(inference_doc(), {"inference.config": "cfg"}),
        {"configmaps": _cm(constants.CONFIGMAP_KEY_INFERENCE, "vllm:\n  max-model-len: 8192\n")},
    ),
    ("qlora-default-template", patched(tuning_doc(), {"tuning.method": "QLoRA"}), {}),
    (
        "tuning-volume-to-volume",
        patched(
            tuning_doc(),
            {
                "tuning.input": {"volumeSource": {"persistentVolumeClaim": {"claimName": "in"}}},
                "tuning.output": {"volumeSource": {"emptyDir": {}}},
            },
        ),
        {},
    ),
    ("url-resolving-public", tuning_doc(), {"resolver": lambda host: ["93.184.216.34"]}),
    ("url-unresolvable-offline", tuning_doc(), {"resolver": _raise_oserror}),
    (
        "streaming-with-driver",
        inference_doc(),
        {"feature_gates": {"ModelStreaming": True}, "csi_drivers": ["blob.csi.azure.com"]},
    ),
]


@pytest.mark.parametrize(
    ("doc", "ctx"), [c[1:] for c in ACCEPTED_CREATES], ids=[c[0] for c in ACCEPTED_CREATES]
)
def test_valid_workspace_is_accepted(doc: dict[str, Any], ctx: dict[str, Any]) -> None:
    assert validate_workspace(parse_workspace(doc), make_context(**ctx)) == []


def test_bypass_annotation_turns_memory_error_into_warning() -> None:
    doc = patched(
        inference_doc(),
        {
            ANN: {
                constants.ANNOTATION_RUNTIME: "transformers",
                constants.ANNOTATION_BYPASS_RESOURCE_CHECKS: "",
            },
            "inference.preset.name": "phi-4",
            "resource.instanceType": "Standard_NV36ads_A10_v5",
        },
    )
    report = check_workspace(parse_workspace(doc), make_context())
    assert not any("Insufficient total GPU memory" in e.message for e in report.errors)
    assert [
        w.field for w in report.warnings if "Bypassing resource check: Insufficient" in w.message
    ] == ["resource.instanceType"]


def test_reserved_selector_key_is_a_warning_when_other_labels_remain() -> None:
    doc = patched(
        inference_doc(),
        {"resource.labelSelector.matchLabels": {"apps": "phi", constants.LABEL_WORKSPACE: "x"}},
    )
    report = check_workspace(parse_workspace(doc), make_context())
    assert report.valid
    assert [w.field for w in report.warnings] == [
        "resource.labelSelector.matchLabels[kaito.sh/workspace]"
    ]


def test_unknown_provisioner_infers_byo_from_missing_instance_type_with_warning() -> None:
    doc = patched(inference_doc(), {"resource.instanceType": DELETE})
    ctx = make_context(node_provisioner=None, nodes=[A100_NODE])
    report = check_workspace(parse_workspace(doc), ctx)
    assert report.valid
    assert any(
        w.field == "resource.instanceType" and "treated as bring-your-own" in w.message
        for w in report.warnings
    )


def test_offline_lookups_are_reported_as_not_checked_not_errors() -> None:
    from kaito.validation import StaticClusterLookup

    ctx = ValidationContext(
        lookup=StaticClusterLookup(),
        node_provisioner=constants.NODE_PROVISIONER_BYO,
    )
    doc = patched(inference_doc(), {"resource.instanceType": DELETE, "inference.config": "cfg"})
    report = check_workspace(parse_workspace(doc), ctx)
    assert report.valid
    fields = {w.field for w in report.warnings if w.message.startswith("not checked:")}
    assert fields == {"resource.labelSelector", "inference.config"}


def test_gated_model_without_secret_is_admitted_with_a_token_warning_as_upstream() -> None:
    doc = patched(inference_doc(), {"inference.preset.name": "llama-3.1-8b-instruct"})
    report = check_workspace(parse_workspace(doc), make_context())
    assert report.valid
    (warning,) = [w for w in report.warnings if "HF_TOKEN" in w.message]
    assert warning.field == "inference.preset.presetOptions.modelAccessSecret"
    assert "without a Hugging Face token" in warning.message


@pytest.mark.parametrize("count", [0, 1])
@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_resource_count_zero_is_admitted_as_upstream_has_no_minimum(
    version: str, count: int
) -> None:
    doc = patched(inference_doc(version), {"resource.count": count})
    ws = parse_workspace(doc)
    assert ws.resource.count == count
    assert check_workspace(ws, make_context()).valid


def test_v1alpha1_gated_model_is_a_warning_because_the_secret_field_does_not_exist() -> None:
    doc = patched(inference_doc("v1alpha1"), {"inference.preset.name": "llama-3.1-8b-instruct"})
    report = check_workspace(parse_workspace(doc), make_context())
    assert report.valid
    assert any(
        "modelAccessSecret exists only in kaito.sh/v1beta1" in w.message for w in report.warnings
    )


def test_v1alpha1_placeholder_output_image_is_a_warning_and_v1beta1_an_error() -> None:
    image = {"tuning.output.image": "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1"}
    alpha = check_workspace(parse_workspace(patched(tuning_doc("v1alpha1"), image)), make_context())
    beta = check_workspace(parse_workspace(patched(tuning_doc(), image)), make_context())
    assert alpha.valid
    assert [w.field for w in alpha.warnings] == ["tuning.output.image"]
    assert [e.field for e in beta.errors] == ["tuning.output.image"]


def test_all_errors_are_reported_at_once() -> None:
    doc = patched(
        tuning_doc(),
        {
            "metadata.name": "X",
            "resource.count": 2,
            "tuning.method": "dora",
            "tuning.output.imagePushSecret": DELETE,
        },
    )
    fields = {e.field for e in validate_workspace(parse_workspace(doc), make_context())}
    assert {
        "metadata.name",
        "resource.count",
        "tuning.method",
        "tuning.output.imagePushSecret",
    } <= fields


ACCEPTED_UPDATES = [
    (
        "adapters-and-config-mutable",
        inference_doc(),
        {"inference.adapters": [_adapter("a")], "inference.config": "other"},
        {},
    ),
    ("byo-instance-type-may-be-cleared", inference_doc(), {"resource.instanceType": DELETE}, BYO),
    ("method-case-insensitive", tuning_doc(), {"tuning.method": "LoRA"}, {}),
    (
        "input-may-change-to-image",
        tuning_doc(),
        {"tuning.input.urls": DELETE, "tuning.input.image": "myacr.io/data:2"},
        {},
    ),
    (
        "template-may-change",
        patched(inference_doc(), {"inference.preset": DELETE, "inference.template": {"spec": {}}}),
        {"inference.template": {"spec": {"containers": []}}},
        {},
    ),
    ("status-only", inference_doc(), {"status": {"state": "Ready"}}, {}),
]


@pytest.mark.parametrize(
    ("base", "changes", "ctx"),
    [c[1:] for c in ACCEPTED_UPDATES],
    ids=[c[0] for c in ACCEPTED_UPDATES],
)
def test_allowed_update_is_accepted(
    base: dict[str, Any], changes: dict[str, Any], ctx: dict[str, Any]
) -> None:
    old = parse_workspace(base)
    new = parse_workspace(patched(base, changes))
    assert validate_workspace(new, make_context(**ctx), old) == []


def test_update_across_versions_compares_in_storage_version() -> None:
    old = parse_workspace(inference_doc("v1alpha1"))
    new = parse_workspace(patched(inference_doc("v1beta1"), {"resource.count": 3}))
    errors = validate_workspace(new, make_context(), old)
    assert [e.field for e in errors] == ["resource.count"]


def test_unneeded_model_access_secret_is_only_a_warning() -> None:
    doc = patched(
        inference_doc(),
        {"inference.preset": {"name": "phi-4", "presetOptions": {"modelAccessSecret": "hf"}}},
    )
    report = check_workspace(parse_workspace(doc), make_context())
    assert report.valid
    assert [w.field for w in report.warnings] == [
        "inference.preset.presetOptions.modelAccessSecret"
    ]
    assert "does not require a modelAccessSecret" in report.warnings[0].message


def test_inference_config_is_ignored_with_transformers_runtime() -> None:
    doc = patched(
        inference_doc(),
        {
            ANN: {constants.ANNOTATION_RUNTIME: "transformers"},
            "inference.preset.name": "phi-4",
            "inference.config": "absent",
        },
    )
    report = check_workspace(parse_workspace(doc), make_context())
    assert report.valid
    assert [(w.field, w.message) for w in report.warnings] == [
        ("inference.config", "ignored: only the vLLM runtime reads it")
    ]


def test_reference_v1beta1_example_is_accepted() -> None:
    doc = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "workspace-phi-4-mini", "annotations": {"kaito.sh/enablelb": "False"}},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": "phi-4-mini"}},
        },
        "inference": {
            "preset": {
                "name": "phi-4-mini-instruct",
                "presetOptions": {"modelAccessSecret": "hf-token"},
            },
            "config": "my-inference-params",
            "adapters": [
                {
                    "source": {
                        "name": "my-adapter",
                        "image": "myacr.azurecr.io/adapter:0.0.1",
                        "imagePullSecrets": ["acr"],
                    }
                }
            ],
        },
    }
    configmaps: dict[tuple[str | None, str], dict[str, str]] = {
        (None, "my-inference-params"): {
            constants.CONFIGMAP_KEY_INFERENCE: "vllm:\n  max-model-len: 4096\n"
        }
    }
    assert validate_workspace(parse_workspace(doc), make_context(configmaps=configmaps)) == []


def test_report_summary_joins_errors_for_a_webhook_denial() -> None:
    doc = patched(tuning_doc(), {"metadata.name": "X", "tuning.method": "dora"})
    report = check_workspace(parse_workspace(doc), make_context())
    summary = report.summary()
    assert summary.startswith("metadata.name: a lowercase RFC 1123 label")
    assert "; tuning.method: invalid value: 'dora'" in summary
