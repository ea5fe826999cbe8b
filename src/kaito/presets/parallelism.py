"""How vLLM spreads a model over the GPUs and nodes the estimator chose (reference §3.3).

- One node and a model smaller than half of one GPU: run one full replica per GPU (data parallel).
- Otherwise shard each layer over the node's GPUs (tensor parallel).
- Several nodes: additionally split the layers into one pipeline stage per node, coordinated by Ray.

Callers: ``engine_args.build_vllm_args`` (the flags), the manifests (multi-node StatefulSet with
Ray) and ``kaito estimate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kaito.presets.catalog import ModelSpec
from kaito.presets.skus import GPUConfig

__all__ = ["RAY_BACKEND", "Parallelism", "plan_parallelism"]

RAY_BACKEND = "ray"


@dataclass(frozen=True, slots=True)
class Parallelism:
    """vLLM parallel sizes.

    Attributes:
        tensor: ``--tensor-parallel-size`` (GPUs sharing each layer).
        pipeline: ``--pipeline-parallel-size`` (nodes, one stage each).
        data: ``--data-parallel-size`` (independent replicas on one node).
        distributed_backend: ``ray`` when the model spans nodes, else ``None``.
    """

    tensor: int = 1
    pipeline: int = 1
    data: int = 1
    distributed_backend: str | None = None

    @property
    def world_size(self) -> int:
        """GPUs used in total."""
        return self.tensor * self.pipeline * self.data

    @property
    def multi_node(self) -> bool:
        """Whether the model spans more than one node."""
        return self.pipeline > 1

    @property
    def allows_kv_offload(self) -> bool:
        """CPU KV-cache offload works only without data or pipeline parallelism."""
        return self.data == 1 and self.pipeline == 1

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready sizes with the ``kaito estimate -o json`` key names."""
        return {
            "tensorParallel": self.tensor,
            "pipelineParallel": self.pipeline,
            "dataParallel": self.data,
            "distributedBackend": self.distributed_backend,
        }


def plan_parallelism(model: ModelSpec, gpu: GPUConfig, nodes: int) -> Parallelism:
    """Choose tensor, pipeline and data parallel sizes for ``nodes`` nodes of ``gpu``.

    Args:
        model: The preset (its weight size decides whether replicas fit on single GPUs).
        gpu: GPUs of one node.
        nodes: Node count from the estimator.

    Raises:
        ValueError: ``nodes`` is below 1.
    """
    if nodes < 1:
        raise ValueError(f"node count must be at least 1, got {nodes}")
    gpus = gpu.gpu_count
    if nodes == 1:
        small = (
            model.weights_gib is not None and model.weights_gib * gpus * 2 < gpu.total_memory_gib
        )
        if small:
            return Parallelism(tensor=1, data=gpus)
        return Parallelism(tensor=gpus)
    return Parallelism(tensor=gpus, pipeline=nodes, distributed_backend=RAY_BACKEND)
