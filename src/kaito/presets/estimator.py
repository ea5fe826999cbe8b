"""The node estimator: how many nodes of a GPU type a preset needs (reference §3.3).

When a Workspace names a preset, the operator decides ``status.targetNodeCount`` once, from the
model's weights and KV-cache cost and the node's GPUs. The rule is upstream's, so a Workspace sized
here gets the same node count it would get from Kaito:

- each GPU offers 84% of its memory (``USABLE_MEMORY_FRACTION``);
- every GPU pays a fixed overhead: 2.3 GiB of runtime (activations plus non-torch memory) plus its
  share of the KV cache for ``max_model_len`` tokens;
- what remains, divided by a 5% safety factor, holds weights; the weights plus 2% must fit:
  ``min_gpus = floor(weights x 1.02 / per_gpu_budget) + 1`` and ``nodes = ceil(min_gpus /
  gpus_per_node)``.

The function is pure; ``kaito estimate`` prints its result and the planner stores ``nodes``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kaito.presets.catalog import ModelSpec
from kaito.presets.errors import EstimateError
from kaito.presets.skus import GPUConfig

__all__ = [
    "BUDGET_SAFETY_FACTOR",
    "DEFAULT_MAX_MODEL_LEN",
    "RUNTIME_OVERHEAD_GIB",
    "USABLE_MEMORY_FRACTION",
    "WEIGHTS_HEADROOM",
    "EstimateError",
    "NodeEstimate",
    "estimate_nodes",
]

GIB = 1024**3
# Context length assumed when the user's inference config does not set max-model-len.
DEFAULT_MAX_MODEL_LEN = 2048
# Share of each GPU's memory the estimator lets the model use.
USABLE_MEMORY_FRACTION = 0.84
# Per-GPU memory outside weights and KV cache: ~1.7 GiB activations + ~0.6 GiB non-torch
# allocations.
RUNTIME_OVERHEAD_GIB = 2.3
# Weights occupy slightly more than their files (buffers, alignment).
WEIGHTS_HEADROOM = 1.02
# The per-GPU weight budget is discounted by this factor for fragmentation.
BUDGET_SAFETY_FACTOR = 1.05


@dataclass(frozen=True, slots=True)
class NodeEstimate:
    """The estimator's answer and the memory arithmetic behind it (all memory in GiB).

    Attributes:
        model: Preset name.
        sku: Instance type (or GPU product for BYO nodes).
        nodes: Nodes to provision (``status.targetNodeCount``).
        gpus_per_node: Accelerators on each node.
        min_gpus: Fewest GPUs whose memory holds the weights after overheads.
        max_model_len: Context length the KV cache was sized for.
        per_gpu_memory_gib: Memory of one GPU.
        usable_per_gpu_gib: ``per_gpu_memory_gib x USABLE_MEMORY_FRACTION``.
        runtime_overhead_gib: Fixed runtime overhead per GPU.
        kv_cache_per_gpu_gib: Each GPU's share of the KV cache for ``max_model_len`` tokens.
        fixed_overhead_gib: ``runtime_overhead_gib + kv_cache_per_gpu_gib``.
        weights_budget_per_gpu_gib: Memory per GPU left for weights after overheads and safety
            factor.
        weights_gib: Size of the weight files; ``None`` when unknown.
        weights_per_gpu_gib: Weights (with headroom) each GPU holds when spread over all GPUs of all
            nodes; ``None`` when the size is unknown.
        size_known: Whether the node count was computed (false: best-effort model, default used).
        notes: Human-readable caveats (unknown size or KV cost).
    """

    model: str
    sku: str
    nodes: int
    gpus_per_node: int
    min_gpus: int
    max_model_len: int
    per_gpu_memory_gib: float
    usable_per_gpu_gib: float
    runtime_overhead_gib: float
    kv_cache_per_gpu_gib: float
    fixed_overhead_gib: float
    weights_budget_per_gpu_gib: float
    weights_gib: float | None
    weights_per_gpu_gib: float | None
    size_known: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready breakdown with camelCase keys (memory rounded to 0.01 GiB)."""

        def gib(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "model": self.model,
            "instanceType": self.sku,
            "nodes": self.nodes,
            "gpusPerNode": self.gpus_per_node,
            "minGpus": self.min_gpus,
            "maxModelLen": self.max_model_len,
            "sizeKnown": self.size_known,
            "memory": {
                "perGpuGiB": gib(self.per_gpu_memory_gib),
                "usablePerGpuGiB": gib(self.usable_per_gpu_gib),
                "runtimeOverheadGiB": gib(self.runtime_overhead_gib),
                "kvCachePerGpuGiB": gib(self.kv_cache_per_gpu_gib),
                "fixedOverheadGiB": gib(self.fixed_overhead_gib),
                "weightsBudgetPerGpuGiB": gib(self.weights_budget_per_gpu_gib),
                "weightsGiB": gib(self.weights_gib),
                "weightsPerGpuGiB": gib(self.weights_per_gpu_gib),
            },
            "notes": list(self.notes),
        }


def estimate_nodes(
    model: ModelSpec,
    gpu: GPUConfig,
    max_model_len: int = DEFAULT_MAX_MODEL_LEN,
    *,
    default_nodes: int = 1,
) -> NodeEstimate:
    """Estimate the nodes of type ``gpu`` that serve ``model`` with ``max_model_len`` tokens.

    Args:
        model: The preset.
        gpu: GPUs of one node (from the SKU table, node labels, or a MIG slice).
        max_model_len: Context length to reserve KV cache for (the user's ``max-model-len``).
        default_nodes: Node count used when the model's size is unknown (``resource.count``).

    Returns:
        The estimate with its memory breakdown.

    Raises:
        EstimateError: ``max_model_len`` is out of range; the GPUs are too small even for the fixed
            overhead; or the model would need several nodes but is not distributed-capable (or runs
            on a MIG slice, which is always a single node).
    """
    if max_model_len < 1:
        raise EstimateError(f"max-model-len must be a positive integer, got {max_model_len}")
    if model.token_limit is not None and max_model_len > model.token_limit:
        raise EstimateError(
            f"max-model-len {max_model_len} exceeds model's maximum supported context window "
            f"{model.token_limit} (ModelTokenLimit)"
        )
    gpus = gpu.gpu_count
    per_gpu = gpu.per_gpu_memory_gib
    usable = per_gpu * USABLE_MEMORY_FRACTION
    notes: list[str] = []
    if model.bytes_per_token is None:
        kv_per_gpu = 0.0
        notes.append("KV-cache cost per token unknown for this model; counted as zero")
    else:
        kv_per_gpu = max_model_len * model.bytes_per_token / GIB / gpus
    fixed = RUNTIME_OVERHEAD_GIB + kv_per_gpu
    if usable <= fixed:
        raise EstimateError(
            f"GPU memory of {gpu.sku} is too small for {model.name}: each GPU offers "
            f"{usable:.2f}GiB usable ({per_gpu:.2f}GiB x {USABLE_MEMORY_FRACTION}), but needs at "
            f"least {fixed:.2f}GiB overhead per GPU (runtime {RUNTIME_OVERHEAD_GIB}GiB + KV cache "
            f"{kv_per_gpu:.2f}GiB for max-model-len {max_model_len}); choose a larger GPU or a "
            f"smaller max-model-len"
        )
    budget = (usable - fixed) / BUDGET_SAFETY_FACTOR

    if model.weights_gib is None:
        notes.append(
            f"model size unknown (best-effort preset); assuming {default_nodes} node(s): set "
            "resource.count to change it"
        )
        nodes, min_gpus, weights_per_gpu = default_nodes, gpus * default_nodes, None
    else:
        needed = model.weights_gib * WEIGHTS_HEADROOM
        min_gpus = math.floor(needed / budget) + 1
        nodes = math.ceil(min_gpus / gpus)
        if nodes > 1 and (gpu.mig_profile is not None or gpu.mig_enabled):
            raise EstimateError(
                f"{model.name} needs {needed:.2f}GiB for weights but one MIG instance of "
                f"{gpu.sku} holds only {budget:.2f}GiB after overheads; MIG workloads run on a "
                "single node"
            )
        if nodes > 1 and not model.supports_distributed:
            raise EstimateError(
                f"{model.name} needs {nodes} nodes of {gpu.sku} ({min_gpus} GPUs) but does not "
                "support multi-node inference; choose an instance type with more GPU memory"
            )
        weights_per_gpu = needed / (nodes * gpus)
    return NodeEstimate(
        model=model.name,
        sku=gpu.sku,
        nodes=nodes,
        gpus_per_node=gpus,
        min_gpus=min_gpus,
        max_model_len=max_model_len,
        per_gpu_memory_gib=per_gpu,
        usable_per_gpu_gib=usable,
        runtime_overhead_gib=RUNTIME_OVERHEAD_GIB,
        kv_cache_per_gpu_gib=kv_per_gpu,
        fixed_overhead_gib=fixed,
        weights_budget_per_gpu_gib=budget,
        weights_gib=model.weights_gib,
        weights_per_gpu_gib=weights_per_gpu,
        size_known=model.weights_gib is not None,
        notes=tuple(notes),
    )
