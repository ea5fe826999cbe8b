"""Sizing a preset on described GPUs, an instance type or a MIG slice (kaito estimate)."""

from __future__ import annotations

import pytest

from kaito.presets import sizing, skus
from kaito.presets.errors import PresetError, UnknownInstanceTypeError


def test_described_gpus_are_a_node_of_that_many_gpus() -> None:
    gpu = sizing.described_gpus(2, 24.0)
    assert (gpu.gpu_count, gpu.total_memory_gib, gpu.sku) == (2, 48.0, "2x24GiB")


def test_an_azure_type_admission_accepts_but_kaito_cannot_size_says_so() -> None:
    with pytest.raises(PresetError, match="describe them with --gpus"):
        sizing.instance_gpus("Standard_NC999_zz", "azure")
    with pytest.raises(UnknownInstanceTypeError):
        sizing.instance_gpus("no-such-type", "aws")


def test_size_preset_matches_the_estimator_and_names_its_cloud() -> None:
    gpu = skus.require_sku("Standard_NC24ads_A100_v4", "azure")
    sized = sizing.size_preset("phi-4-mini-instruct", gpu, cloud="azure")
    data = sized.to_dict()
    assert data["cloud"] == "azure"
    assert data["nodes"] == sized.estimate.nodes == 1
    assert any(arg.startswith("--tensor-parallel-size=") for arg in data["vllmArgs"])


def test_an_unknown_mig_profile_lists_the_known_ones() -> None:
    gpu = skus.require_sku("Standard_NC24ads_A100_v4", "azure")
    with pytest.raises(PresetError, match="known profiles"):
        sizing.size_preset("phi-4-mini-instruct", gpu, cloud="azure", mig_profile="9g.9gb")
