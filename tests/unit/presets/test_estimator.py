"""The node estimator: upstream's worked examples, the memory arithmetic and its refusals."""

from __future__ import annotations

import pytest

from kaito.presets import catalog, estimator, mig, skus
from kaito.presets.errors import EstimateError

# Reference §3.3, "Illustrative results".
WORKED_EXAMPLES = [
    ("phi-4-mini-instruct", "Standard_NV36ads_A10_v5", 1),
    ("phi-4", "Standard_NV36ads_A10_v5", 2),
    ("llama-3.3-70b-instruct", "Standard_NC24ads_A100_v4", 3),
    ("llama-3.3-70b-instruct", "Standard_NC96ads_A100_v4", 1),
    ("gpt-oss-120b", "Standard_NC24ads_A100_v4", 3),
    ("qwen2.5-coder-32b-instruct", "Standard_NC24ads_A100_v4", 2),
]

DOCUMENTED_REFUSALS = ("is too small", "does not support multi-node inference")


def _gpu(sku: str, cloud: str = "azure") -> skus.GPUConfig:
    config = skus.get_sku(sku, cloud)
    assert config is not None
    return config


@pytest.mark.parametrize(("preset", "sku", "nodes"), WORKED_EXAMPLES)
def test_worked_examples_give_upstreams_node_counts(preset, sku, nodes):
    result = estimator.estimate_nodes(catalog.get_model(preset), _gpu(sku))
    assert result.nodes == nodes
    assert result.size_known


def test_phi_4_on_one_a10_breakdown():
    result = estimator.estimate_nodes(catalog.get_model("phi-4"), _gpu("Standard_NV36ads_A10_v5"))
    assert result.per_gpu_memory_gib == 24
    assert result.usable_per_gpu_gib == pytest.approx(24 * 0.84)
    # 2048 tokens x 204800 bytes = 0.390625 GiB of KV cache on the only GPU.
    assert result.kv_cache_per_gpu_gib == pytest.approx(0.390625)
    assert result.fixed_overhead_gib == pytest.approx(2.3 + 0.390625)
    budget = (24 * 0.84 - 2.3 - 0.390625) / 1.05
    assert result.weights_budget_per_gpu_gib == pytest.approx(budget)
    # floor(27.31 x 1.02 / 16.64) + 1 = 2 GPUs, one per node.
    assert result.min_gpus == 2
    assert (result.nodes, result.gpus_per_node) == (2, 1)
    assert result.weights_per_gpu_gib == pytest.approx(27.31 * 1.02 / 2)


def test_kv_cache_is_shared_across_the_gpus_of_a_node():
    model = catalog.get_model("llama-3.3-70b-instruct")
    one = estimator.estimate_nodes(model, _gpu("Standard_NC24ads_A100_v4"))
    four = estimator.estimate_nodes(model, _gpu("Standard_NC96ads_A100_v4"))
    assert one.kv_cache_per_gpu_gib == pytest.approx(0.625)
    assert four.kv_cache_per_gpu_gib == pytest.approx(0.625 / 4)
    assert (four.min_gpus, four.nodes) == (3, 1)


def test_longer_context_reserves_more_kv_cache_and_can_add_nodes():
    model = catalog.get_model("phi-4-mini-instruct")
    a10 = _gpu("Standard_NV36ads_A10_v5")
    short = estimator.estimate_nodes(model, a10)
    long = estimator.estimate_nodes(model, a10, max_model_len=65536)
    assert long.kv_cache_per_gpu_gib == pytest.approx(65536 * 131072 / 1024**3)
    assert long.fixed_overhead_gib > short.fixed_overhead_gib
    assert long.max_model_len == 65536
    assert long.nodes >= short.nodes


def test_gpu_too_small_for_the_overhead_is_refused_with_the_documented_message():
    model = catalog.get_model("llama-3.3-70b-instruct")
    with pytest.raises(EstimateError) as caught:
        estimator.estimate_nodes(model, _gpu("Standard_NC6s_v3"), max_model_len=131072)
    message = str(caught.value)
    assert "GPU memory of Standard_NC6s_v3 is too small" in message
    assert "needs at least 42.30GiB overhead" in message
    assert "13.44GiB usable" in message


def test_overhead_equal_to_usable_memory_is_still_too_small():
    gpu = skus.GPUConfig(sku="tiny", gpu_count=1, total_memory_gib=2.3 / 0.84, gpu_model="X")
    model = catalog.get_model("phi-4").model_copy(update={"bytes_per_token": 0})
    with pytest.raises(EstimateError, match="is too small"):
        estimator.estimate_nodes(model, gpu)


def test_multi_node_need_is_refused_for_models_without_distributed_inference():
    model = catalog.get_model("falcon-40b")
    with pytest.raises(EstimateError) as caught:
        estimator.estimate_nodes(model, _gpu("Standard_NC24ads_A100_v4"))
    assert "falcon-40b needs 2 nodes of Standard_NC24ads_A100_v4" in str(caught.value)
    assert "does not support multi-node inference" in str(caught.value)
    # One node with enough GPUs is fine.
    assert estimator.estimate_nodes(model, _gpu("Standard_NC48ads_A100_v4")).nodes == 1


def test_mig_slice_that_cannot_hold_the_model_is_refused():
    node = _gpu("Standard_NC24ads_A100_v4")
    profile = mig.get_mig_profile("1g.10gb")
    assert profile is not None
    slice_config = mig.mig_gpu_config(node, profile)
    with pytest.raises(EstimateError, match="MIG"):
        estimator.estimate_nodes(catalog.get_model("phi-4"), slice_config)
    small = estimator.estimate_nodes(catalog.get_model("smollm2-135m-instruct"), slice_config)
    assert small.nodes == 1


@pytest.mark.parametrize("length", [0, -5])
def test_non_positive_max_model_len_is_refused(length):
    with pytest.raises(EstimateError, match="positive integer"):
        estimator.estimate_nodes(
            catalog.get_model("phi-4"), _gpu("Standard_NC24ads_A100_v4"), length
        )


def test_max_model_len_beyond_the_context_window_is_refused_with_upstreams_wording():
    with pytest.raises(EstimateError) as caught:
        estimator.estimate_nodes(
            catalog.get_model("phi-4"), _gpu("Standard_NC24ads_A100_v4"), max_model_len=20000
        )
    assert str(caught.value) == (
        "max-model-len 20000 exceeds model's maximum supported context window 16384 "
        "(ModelTokenLimit)"
    )


def test_best_effort_model_uses_the_default_node_count_and_says_so():
    result = estimator.estimate_nodes(
        catalog.get_model("someorg/some-model"),
        _gpu("Standard_NC24ads_A100_v4"),
        max_model_len=1_000_000,
        default_nodes=2,
    )
    assert result.nodes == 2
    assert not result.size_known
    assert result.weights_gib is None
    assert result.kv_cache_per_gpu_gib == 0
    assert any("size unknown" in note for note in result.notes)
    assert any("KV-cache cost" in note for note in result.notes)


def test_byo_node_labels_size_like_the_equivalent_sku():
    labels = {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "nvidia.com/gpu.count": "4",
        "nvidia.com/gpu.memory": "81920",
    }
    node = skus.gpu_config_from_node_labels(labels)
    assert node is not None
    model = catalog.get_model("llama-3.3-70b-instruct")
    assert estimator.estimate_nodes(model, node).nodes == 1


def _all_skus() -> list[skus.GPUConfig]:
    return [config for cloud in skus.SUPPORTED_CLOUDS for config in skus.list_skus(cloud)]


@pytest.mark.parametrize("model", catalog.list_models(), ids=lambda spec: spec.name)
def test_every_catalog_entry_round_trips_through_the_estimator(model):
    fitted = 0
    for gpu in _all_skus():
        refusal: str | None
        try:
            result = estimator.estimate_nodes(model, gpu)
        except EstimateError as error:
            refusal = str(error)
        else:
            refusal = None
        if refusal is not None:
            assert any(reason in refusal for reason in DOCUMENTED_REFUSALS), refusal
            continue
        fitted += 1
        assert result.nodes >= 1
        assert result.nodes * result.gpus_per_node >= result.min_gpus
        assert result.weights_per_gpu_gib is not None
        assert result.weights_per_gpu_gib <= result.weights_budget_per_gpu_gib
        if result.nodes > 1:
            assert model.supports_distributed
    assert fitted >= 1, f"{model.name} fits no SKU at all"


def test_to_dict_carries_the_breakdown_in_camel_case():
    result = estimator.estimate_nodes(
        catalog.get_model("phi-4"), _gpu("Standard_NV36ads_A10_v5")
    ).to_dict()
    assert result["nodes"] == 2
    assert result["gpusPerNode"] == 1
    assert result["instanceType"] == "Standard_NV36ads_A10_v5"
    assert result["memory"]["kvCachePerGpuGiB"] == 0.39
    assert result["memory"]["usablePerGpuGiB"] == 20.16
