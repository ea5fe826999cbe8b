"""GPU SKU tables per cloud and GPU facts from GPU Feature Discovery labels."""

from __future__ import annotations

import pytest

from kaito.presets import skus
from kaito.presets.errors import UnknownInstanceTypeError


@pytest.mark.parametrize(
    ("cloud", "sku", "gpus", "memory", "model", "nvme", "cc"),
    [
        ("azure", "Standard_NV36ads_A10_v5", 1, 24, "A10", False, (8, 6)),
        ("azure", "Standard_NC24ads_A100_v4", 1, 80, "A100", True, (8, 0)),
        ("azure", "Standard_NC96ads_A100_v4", 4, 320, "A100", True, (8, 0)),
        ("azure", "Standard_ND96asr_A100_v4", 8, 320, "A100", False, (8, 0)),
        ("azure", "Standard_NC40ads_H100_v5", 1, 94, "H100", True, (9, 0)),
        ("azure", "Standard_ND96isr_H200_v5", 8, 1128, "H200", True, (9, 0)),
        ("azure", "Standard_NC6s_v3", 1, 16, "V100", False, (7, 0)),
        ("azure", "Standard_NC24rs_v3", 4, 64, "V100", False, (7, 0)),
        ("azure", "Standard_NC64as_T4_v3", 4, 64, "T4", False, (7, 5)),
        ("azure", "Standard_NV12s_v3", 1, 8, "M60", False, (5, 2)),
        ("aws", "p4d.24xlarge", 8, 320, "A100", True, (8, 0)),
        ("aws", "p5en.48xlarge", 8, 1128, "H200", True, (9, 0)),
        ("aws", "g6.12xlarge", 4, 96, "L4", True, (8, 9)),
        ("aws", "g5.48xlarge", 8, 192, "A10G", True, (8, 6)),
        ("arc", "Standard_NC16_A2", 2, 32, "A2", False, (8, 6)),
        ("arc", "Standard_NC8_A16", 1, 16, "A16", False, (8, 6)),
    ],
)
def test_known_skus_carry_gpu_count_memory_and_capability(
    cloud, sku, gpus, memory, model, nvme, cc
):
    config = skus.get_sku(sku, cloud)
    assert config is not None
    assert (config.sku, config.gpu_count, config.total_memory_gib) == (sku, gpus, memory)
    assert (config.gpu_model, config.nvme, config.compute_capability) == (model, nvme, cc)
    assert config.per_gpu_memory_gib == memory / gpus


def test_founding_example_instance_type_is_a_16_gib_v100_without_bfloat16():
    config = skus.get_sku("Standard_NC6s_v3")
    assert config is not None
    assert (config.gpu_count, config.total_memory_gib, config.gpu_model) == (1, 16, "V100")
    assert config.legacy
    assert not config.supports_bf16


@pytest.mark.parametrize(
    ("cloud", "sku", "bf16"),
    [
        ("azure", "Standard_NV36ads_A10_v5", True),
        ("azure", "Standard_NC24ads_A100_v4", True),
        ("azure", "Standard_NC4as_T4_v3", False),
        ("azure", "Standard_NV6", False),
        ("azure", "Standard_NG32ads_V620_v1", False),
        ("azure", "Standard_NV32as_v4", False),
        ("aws", "trn1.32xlarge", True),
        ("aws", "g4ad.xlarge", False),
    ],
)
def test_bfloat16_support_follows_compute_capability_and_vendor(cloud, sku, bf16):
    config = skus.get_sku(sku, cloud)
    assert config is not None
    assert config.supports_bf16 is bf16


def test_lookup_is_case_insensitive_and_per_cloud():
    assert skus.get_sku("standard_nc24ads_a100_v4") == skus.get_sku("Standard_NC24ads_A100_v4")
    assert skus.get_sku("P4D.24XLARGE", "aws") is not None
    assert skus.get_sku("p4d.24xlarge", "azure") is None
    assert skus.get_sku("Standard_NC4_A2", "azure") is None
    assert skus.get_sku("Standard_NC4_A2", "arc") is not None


def test_unknown_cloud_is_rejected_with_the_supported_list():
    with pytest.raises(ValueError, match="azure, aws, arc"):
        skus.get_sku("p4d.24xlarge", "gcp")


def test_require_sku_names_the_input_and_suggests_neighbours():
    with pytest.raises(UnknownInstanceTypeError) as caught:
        skus.require_sku("Standard_NC24ads_A100", "azure")
    error = caught.value
    assert error.instance_type == "Standard_NC24ads_A100"
    assert error.suggestions[0] == "Standard_NC24ads_A100_v4"
    assert '"Standard_NC24ads_A100"' in str(error)
    assert error.known_on == ()


def test_require_sku_names_the_cloud_that_knows_the_instance_type():
    with pytest.raises(UnknownInstanceTypeError) as caught:
        skus.require_sku("p5.48xlarge", "azure")
    assert caught.value.known_on == ("aws",)
    assert "it is listed for cloud aws" in str(caught.value)


def test_tables_list_every_family_and_can_hide_legacy_azure_ones():
    azure = skus.list_skus("azure")
    assert len(azure) == 29
    modern = skus.list_skus("azure", include_legacy=False)
    assert len(modern) == 14
    assert all(config.compute_capability is None or config.supports_bf16 for config in modern)
    assert len(skus.list_skus("aws")) == 35
    assert len(skus.list_skus("arc")) == 8
    assert skus.SUPPORTED_CLOUDS == ("azure", "aws", "arc")


def test_aws_inferentia_has_no_nvme_and_everything_else_on_aws_does():
    for config in skus.list_skus("aws"):
        assert config.nvme == (not config.sku.startswith("inf2.")), config.sku


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("Standard_NC80adis_H200_v6", True),
        ("standard_nd40rs_v2", True),
        ("Standard_D4s_v5", True),
        ("Standard_E8s_v5", False),
        ("p4d.24xlarge", False),
        ("NC6", False),
    ],
)
def test_azure_admits_unknown_standard_n_and_d_names(name, accepted):
    assert skus.is_accepted_unknown_azure_sku(name) is accepted


def test_with_gpu_count_scales_memory_with_the_share_of_gpus():
    node = skus.get_sku("Standard_NC96ads_A100_v4")
    assert node is not None
    half = skus.with_gpu_count(node, 2)
    assert (half.gpu_count, half.total_memory_gib, half.sku) == (2, 160, node.sku)
    with pytest.raises(ValueError):
        skus.with_gpu_count(node, 0)


A100_NODE_LABELS = {
    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    "nvidia.com/gpu.count": "4",
    "nvidia.com/gpu.memory": "81920",
    "nvidia.com/cuda.compute.major": "8",
    "nvidia.com/cuda.compute.minor": "0",
    "node.kubernetes.io/instance-type": "my-a100-box",
}


def test_node_labels_give_count_total_memory_and_capability():
    config = skus.gpu_config_from_node_labels(A100_NODE_LABELS)
    assert config is not None
    assert config.sku == "my-a100-box"
    assert config.gpu_model == "NVIDIA-A100-SXM4-80GB"
    assert (config.gpu_count, config.total_memory_gib) == (4, 320)
    assert config.compute_capability == (8, 0)
    assert config.supports_bf16
    assert not config.mig_enabled


@pytest.mark.parametrize(
    ("mib", "count", "total"),
    [
        (23028, 1, 22),  # A10: 22.49 GiB rounds down
        (15360, 2, 30),
        (16896, 1, 17),  # exactly 16.5 GiB rounds half away from zero, like Go's math.Round
        (143771, 8, 1120),  # H200 140.4 GiB per GPU
    ],
)
def test_node_label_memory_is_rounded_per_gpu_then_multiplied(mib, count, total):
    labels = {
        "nvidia.com/gpu.product": "NVIDIA-X",
        "nvidia.com/gpu.count": str(count),
        "nvidia.com/gpu.memory": str(mib),
    }
    config = skus.gpu_config_from_node_labels(labels)
    assert config is not None
    assert config.total_memory_gib == total
    # Without an instance-type label the product names the config.
    assert config.sku == "NVIDIA-X"


def test_v100_node_labels_report_no_bfloat16():
    labels = {
        "nvidia.com/gpu.product": "Tesla-V100-PCIE-16GB",
        "nvidia.com/gpu.count": "1",
        "nvidia.com/gpu.memory": "16384",
        "nvidia.com/cuda.compute.major": "7",
        "nvidia.com/cuda.compute.minor": "0",
    }
    config = skus.gpu_config_from_node_labels(labels)
    assert config is not None
    assert not config.supports_bf16


@pytest.mark.parametrize("missing", skus.GFD_REQUIRED_LABELS)
def test_node_without_a_required_gfd_label_has_no_gpu_config(missing):
    labels = {key: value for key, value in A100_NODE_LABELS.items() if key != missing}
    assert skus.gpu_config_from_node_labels(labels) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("nvidia.com/gpu.count", "four"),
        ("nvidia.com/gpu.count", "0"),
        ("nvidia.com/gpu.memory", ""),
    ],
)
def test_node_with_malformed_gfd_numbers_has_no_gpu_config(key, value):
    assert skus.gpu_config_from_node_labels({**A100_NODE_LABELS, key: value}) is None


@pytest.mark.parametrize(
    ("mig_config", "state", "enabled"),
    [
        ("all-1g.10gb", "success", True),
        ("all-1g.10gb", "pending", False),
        ("all-disabled", "success", False),
        (None, None, False),
    ],
)
def test_mig_mode_needs_a_mig_config_applied_successfully(mig_config, state, enabled):
    labels = dict(A100_NODE_LABELS)
    if mig_config is not None:
        labels["nvidia.com/mig.config"] = mig_config
    if state is not None:
        labels["nvidia.com/mig.config.state"] = state
    config = skus.gpu_config_from_node_labels(labels)
    assert config is not None
    assert config.mig_enabled is enabled


def test_gpu_config_to_dict_is_camel_case():
    config = skus.get_sku("Standard_NC6s_v3")
    assert config is not None
    data = config.to_dict()
    assert data["computeCapability"] == "7.0"
    assert data["bf16"] is False
    assert data["gpuCount"] == 1
    assert data["perGpuMemoryGiB"] == 16


def _tables_text(azure_rows: str) -> str:
    return f"azure:\n{azure_rows}aws: []\narc: []\n"


def test_parse_sku_tables_reads_rows_in_file_order():
    tables = skus.parse_sku_tables(
        _tables_text(
            "- {sku: B, gpus: 2, memoryGiB: 32, gpu: T4, cc: '7.5'}\n"
            "- {sku: A, gpus: 1, memoryGiB: 80, gpu: AMD X, vendor: amd}\n"
        )
    )
    assert list(tables["azure"]) == ["b", "a"]
    assert tables["azure"]["b"].compute_capability == (7, 5)
    assert tables["azure"]["a"].vendor == "amd"
    assert tables["aws"] == {}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("- {sku: A, gpus: 1, memoryGiB: 8, gpu: X, memory: 8}\n", "unknown keys"),
        (
            "- {sku: A, gpus: 1, memoryGiB: 8, gpu: X}\n"
            "- {sku: a, gpus: 1, memoryGiB: 8, gpu: X}\n",
            "duplicate instance type",
        ),
        ("- {sku: A, gpus: 0, memoryGiB: 8, gpu: X}\n", "must be > 0"),
        ("- {sku: A, gpus: 1, memoryGiB: 8, gpu: X, vendor: intel}\n", "unknown vendor"),
    ],
)
def test_parse_sku_tables_rejects_malformed_rows(rows, message):
    with pytest.raises(ValueError, match=message):
        skus.parse_sku_tables(_tables_text(rows))


def test_parse_sku_tables_needs_every_cloud():
    with pytest.raises(ValueError, match="no table for cloud arc"):
        skus.parse_sku_tables("azure: []\naws: []\n")


def test_cloud_for_an_instance_type_is_the_one_table_listing_it() -> None:
    assert skus.clouds_listing("G5.XLARGE") == ("aws",)
    assert skus.cloud_for("g5.xlarge") == "aws"
    assert skus.cloud_for("Standard_NC6s_v3") == "azure"
    # A named cloud wins; a name no table lists falls back to the default cloud.
    assert skus.cloud_for("g5.xlarge", "azure") == "azure"
    assert skus.cloud_for("no-such-sku") == skus.DEFAULT_CLOUD
