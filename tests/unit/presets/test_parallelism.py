"""Parallel sizes: data parallel for small models, tensor within a node, pipeline across nodes."""

from __future__ import annotations

import pytest

from kaito.presets import catalog, parallelism, skus


def _gpu(sku: str) -> skus.GPUConfig:
    config = skus.get_sku(sku)
    assert config is not None
    return config


@pytest.mark.parametrize(
    ("preset", "sku", "nodes", "tensor", "pipeline", "data", "backend"),
    [
        # One GPU: nothing to split.
        ("phi-4-mini-instruct", "Standard_NV36ads_A10_v5", 1, 1, 1, 1, None),
        # 7.15 GiB x 4 GPUs x 2 = 57.2 < 320: one replica per GPU.
        ("phi-4-mini-instruct", "Standard_NC96ads_A100_v4", 1, 1, 1, 4, None),
        # 131.42 GiB does not fit half a GPU: shard over the node's GPUs.
        ("llama-3.3-70b-instruct", "Standard_NC96ads_A100_v4", 1, 4, 1, 1, None),
        # Exactly half of the node is not "less than half".
        ("llama-3.3-70b-instruct", "Standard_NC48ads_A100_v4", 1, 2, 1, 1, None),
        # Several nodes: a pipeline stage per node over Ray.
        ("llama-3.3-70b-instruct", "Standard_NC24ads_A100_v4", 3, 1, 3, 1, "ray"),
        ("deepseek-r1-0528", "Standard_ND96isr_H100_v5", 2, 8, 2, 1, "ray"),
    ],
)
def test_parallel_sizes_follow_upstreams_rule(preset, sku, nodes, tensor, pipeline, data, backend):
    plan = parallelism.plan_parallelism(catalog.get_model(preset), _gpu(sku), nodes)
    assert (plan.tensor, plan.pipeline, plan.data, plan.distributed_backend) == (
        tensor,
        pipeline,
        data,
        backend,
    )
    assert plan.world_size == tensor * pipeline * data
    assert plan.multi_node == (nodes > 1)


def test_unknown_size_never_chooses_data_parallel():
    plan = parallelism.plan_parallelism(
        catalog.get_model("someorg/some-model"), _gpu("Standard_NC96ads_A100_v4"), 1
    )
    assert (plan.tensor, plan.data) == (4, 1)


def test_kv_offload_is_allowed_only_without_data_or_pipeline_parallelism():
    assert parallelism.Parallelism(tensor=4).allows_kv_offload
    assert not parallelism.Parallelism(data=2).allows_kv_offload
    assert not parallelism.Parallelism(pipeline=2, distributed_backend="ray").allows_kv_offload


def test_zero_nodes_is_rejected():
    with pytest.raises(ValueError, match="at least 1"):
        parallelism.plan_parallelism(catalog.get_model("phi-4"), _gpu("Standard_NC6s_v3"), 0)


def test_to_dict_uses_the_estimate_json_keys():
    assert parallelism.Parallelism(tensor=2, pipeline=3, distributed_backend="ray").to_dict() == {
        "tensorParallel": 2,
        "pipelineParallel": 3,
        "dataParallel": 1,
        "distributedBackend": "ray",
    }
