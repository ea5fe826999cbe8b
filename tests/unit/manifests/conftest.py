"""Workspace factories for the manifest builder tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.api.workspace import AnyWorkspace, parse_workspace

INFERENCE_WS: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "Workspace",
    "metadata": {"name": "workspace-phi-4-mini", "namespace": "team-a", "uid": "uid-1234"},
    "resource": {
        "instanceType": "Standard_NC24ads_A100_v4",
        "labelSelector": {"matchLabels": {"apps": "phi-4-mini"}},
    },
    "inference": {"preset": {"name": "phi-4-mini-instruct"}},
}

TUNING_WS: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "Workspace",
    "metadata": {"name": "tune-phi-3", "namespace": "team-b"},
    "resource": {
        "instanceType": "Standard_NC24ads_A100_v4",
        "labelSelector": {"matchLabels": {"app": "tuning-phi-3"}},
    },
    "tuning": {
        "preset": {"name": "phi-3-mini-128k-instruct"},
        "method": "lora",
        "input": {"urls": ["https://example.com/data/train.parquet?download=true"]},
        "output": {"image": "registry.example.com/adapters/phi-3:0.0.1", "imagePushSecret": "push"},
    },
}


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_ws(base: dict[str, Any], **patch: Any) -> AnyWorkspace:
    """Parse ``base`` deep-merged with ``patch`` (a ``None`` value deletes the key)."""
    return parse_workspace(_merge(base, patch))


@pytest.fixture
def inference_ws() -> AnyWorkspace:
    return make_ws(INFERENCE_WS)


@pytest.fixture
def tuning_ws() -> AnyWorkspace:
    return make_ws(TUNING_WS)
