"""Provisioner selection by ``--node-provisioner`` and the labels each puts on nodes."""

from __future__ import annotations

import pytest

from kaito.api.workspace import parse_workspace
from kaito.controller.provisioners import (
    BYOProvisioner,
    GPUProvisioner,
    KarpenterProvisioner,
    get_provisioner,
)
from tests.fixtures.samples import inference_workspace


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("azure-gpu-provisioner", GPUProvisioner),
        ("gpu-provisioner", GPUProvisioner),
        ("karpenter", KarpenterProvisioner),
        ("byo", BYOProvisioner),
    ],
)
def test_provisioner_is_chosen_by_name_including_upstreams_spelling(name: str, cls: type) -> None:
    assert isinstance(get_provisioner(name), cls)


def test_unknown_provisioner_names_the_choices() -> None:
    with pytest.raises(ValueError, match="azure-gpu-provisioner, gpu-provisioner, karpenter, byo"):
        get_provisioner("cluster-autoscaler")


def test_ownership_labels_pin_pods_to_the_workspaces_own_nodes() -> None:
    ws = parse_workspace(inference_workspace("w"))
    assert GPUProvisioner().ownership_labels(ws) == {
        "kaito.sh/workspace": "w",
        "kaito.sh/workspacenamespace": "default",
    }
    assert KarpenterProvisioner().ownership_labels(ws) == {
        "karpenter.kaito.sh/workspace-name": "w",
        "karpenter.kaito.sh/workspace-namespace": "default",
    }
    assert BYOProvisioner().ownership_labels(ws) == {}
