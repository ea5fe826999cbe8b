"""MIG profiles: the accepted list, slice memory and the sized GPU config."""

from __future__ import annotations

import pytest

from kaito.presets import mig, skus


@pytest.mark.parametrize(
    ("name", "slices", "memory", "families"),
    [
        ("1g.5gb", 1, 5, ("A100-40GB",)),
        ("1g.10gb", 1, 10, ("A100-80GB", "H100-80GB")),
        ("3g.47gb", 3, 47, ("H100-94GB",)),
        ("7g.141gb", 7, 141, ("H200",)),
        ("4g.24gb", 4, 24, ("A30",)),
        ("7g.180gb", 7, 180, ("B200",)),
    ],
)
def test_known_profiles_carry_slices_memory_and_gpu_families(name, slices, memory, families):
    profile = mig.get_mig_profile(name)
    assert profile is not None
    assert (profile.compute_slices, profile.memory_gib, profile.gpu_families) == (
        slices,
        memory,
        families,
    )
    assert profile.resource_name == f"nvidia.com/mig-{name}"


@pytest.mark.parametrize("name", ["1g.11gb", "8g.80gb", "mig-1g.10gb", "", "1g.10gb+me"])
def test_unknown_profiles_are_rejected(name):
    assert mig.get_mig_profile(name) is None
    assert not mig.is_known_mig_profile(name)


def test_profile_lookup_ignores_case():
    assert mig.get_mig_profile("1G.10GB") == mig.get_mig_profile("1g.10gb")


def test_profiles_of_a_family_are_sorted_by_memory():
    names = [profile.name for profile in mig.list_mig_profiles("H100-96GB")]
    assert names == ["3g.48gb", "4g.48gb", "7g.96gb"]
    every = mig.list_mig_profiles()
    assert len(every) == len({profile.name for profile in every}) == 35
    memories = [profile.memory_gib for profile in every]
    assert memories == sorted(memories)


def test_mig_gpu_config_is_one_device_with_the_slice_memory():
    node = skus.gpu_config_from_node_labels(
        {
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "nvidia.com/gpu.count": "8",
            "nvidia.com/gpu.memory": "81559",
            "nvidia.com/cuda.compute.major": "9",
            "nvidia.com/cuda.compute.minor": "0",
        }
    )
    assert node is not None
    profile = mig.get_mig_profile("2g.20gb")
    assert profile is not None
    slice_config = mig.mig_gpu_config(node, profile)
    assert (slice_config.gpu_count, slice_config.total_memory_gib) == (1, 20)
    assert slice_config.mig_profile == "2g.20gb"
    assert slice_config.mig_enabled
    assert slice_config.compute_capability == (9, 0)
