"""Builders for validation tests: base Workspace documents, contexts and a small fake cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from kaito.api import constants
from kaito.validation import NodeInfo, StaticClusterLookup, ValidationContext

DELETE = object()

A10_LABELS = {
    constants.LABEL_GPU_PRODUCT: "NVIDIA-A10",
    constants.LABEL_GPU_COUNT: "1",
    constants.LABEL_GPU_MEMORY: "24576",
}
A100_LABELS = {
    constants.LABEL_GPU_PRODUCT: "NVIDIA-A100-SXM4-80GB",
    constants.LABEL_GPU_COUNT: "1",
    constants.LABEL_GPU_MEMORY: "81920",
}

LORA_CONFIG = """\
training_config:
  ModelConfig: {torch_dtype: bfloat16}
  QuantizationConfig: {load_in_4bit: false}
  LoraConfig: {r: 8}
  TrainingArguments: {output_dir: /mnt/results}
"""


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) a dotted path, creating maps on the way."""
    parts = path.split(".")
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def patched(doc: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``doc`` with dotted-path changes applied."""
    out = copy.deepcopy(dict(doc))
    for path, value in changes.items():
        set_path(out, path, value)
    return out


def inference_doc(version: str = "v1beta1", **_: Any) -> dict[str, Any]:
    """A valid inference Workspace: phi-4-mini-instruct on one A100 node."""
    return {
        "apiVersion": f"kaito.sh/{version}",
        "kind": "Workspace",
        "metadata": {"name": "ws-inference", "namespace": "default"},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": "phi"}},
        },
        "inference": {"preset": {"name": "phi-4-mini-instruct"}},
    }


def tuning_doc(version: str = "v1beta1") -> dict[str, Any]:
    """A valid tuning Workspace: lora on phi-3-mini-4k-instruct, URL in, image out."""
    return {
        "apiVersion": f"kaito.sh/{version}",
        "kind": "Workspace",
        "metadata": {"name": "ws-tuning", "namespace": "default"},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"apps": "tune"}},
        },
        "tuning": {
            "preset": {"name": "phi-3-mini-4k-instruct"},
            "method": "lora",
            "input": {"name": "data", "urls": ["https://example.com/data.parquet"]},
            "output": {"image": "myregistry.azurecr.io/adapter:0.0.1", "imagePushSecret": "push"},
        },
    }


def make_context(
    *,
    configmaps: Mapping[tuple[str | None, str], Mapping[str, str]] | None = None,
    nodes: Sequence[NodeInfo] | None = None,
    csi_drivers: Sequence[str] | None = None,
    include_default_templates: bool = True,
    **settings: Any,
) -> ValidationContext:
    """A context over the real catalog and an authoritative in-memory cluster."""
    lookup = StaticClusterLookup(
        configmaps or {},
        nodes=nodes,
        csi_drivers=csi_drivers,
        include_default_templates=include_default_templates,
        authoritative=True,
    )
    return ValidationContext(lookup=lookup, **settings)


@pytest.fixture
def ctx_factory() -> Callable[..., ValidationContext]:
    return make_context
