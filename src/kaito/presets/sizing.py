"""Sizing one preset on one kind of node: what ``kaito estimate`` reports.

The node's GPUs come from an instance type (the cloud's SKU table), from a description of
bring-your-own GPUs, or from a MIG slice of either; the node count, the parallel sizes and the vLLM
flags then come from the same estimator and flag builder the operator uses, so the answer is the
one a Workspace would get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kaito.presets import catalog, engine_args, estimator, mig, parallelism, skus
from kaito.presets.errors import PresetError, UnknownInstanceTypeError


def described_gpus(gpus: int, gpu_memory_gib: float) -> skus.GPUConfig:
    """The GPUs of a node not in any SKU table, described by count and memory of one GPU."""
    return skus.GPUConfig(
        sku=f"{gpus}x{gpu_memory_gib:g}GiB",
        gpu_count=gpus,
        total_memory_gib=gpus * gpu_memory_gib,
        gpu_model="custom",
    )


def instance_gpus(instance_type: str, cloud: str) -> skus.GPUConfig:
    """The GPUs of ``instance_type`` in ``cloud``'s table.

    Raises:
        UnknownInstanceTypeError: not listed (with suggestions).
        PresetError: not listed, although Azure admission accepts it (its GPUs are unknown, so it
            cannot be sized; describing the GPUs is the way out).
    """
    try:
        return skus.require_sku(instance_type, cloud)
    except UnknownInstanceTypeError as error:
        if cloud == skus.DEFAULT_CLOUD and skus.is_accepted_unknown_azure_sku(instance_type):
            raise PresetError(
                f"{error}. Azure admits {instance_type} but its GPUs are unknown to kaito; "
                "describe them with --gpus and --gpu-memory-gib"
            ) from error
        raise


def mig_slice(gpu: skus.GPUConfig, name: str) -> skus.GPUConfig:
    """One MIG instance of profile ``name`` on ``gpu``.

    Raises:
        PresetError: the profile is unknown (the known ones are listed).
    """
    profile = mig.get_mig_profile(name)
    if profile is None:
        known = ", ".join(entry.name for entry in mig.list_mig_profiles())
        raise PresetError(f'unknown MIG profile "{name}"; known profiles: {known}')
    return mig.mig_gpu_config(gpu, profile)


@dataclass(frozen=True)
class Sizing:
    """A preset sized on a node: nodes, parallelism and the vLLM flags it would start with."""

    model: catalog.ModelSpec
    gpu: skus.GPUConfig
    cloud: str
    estimate: estimator.NodeEstimate
    plan: parallelism.Parallelism
    vllm_args: Sequence[str]

    def to_dict(self) -> dict[str, Any]:
        """The stable camelCase shape of ``kaito estimate -o json``."""
        return {
            **self.estimate.to_dict(),
            **self.plan.to_dict(),
            "cloud": self.cloud,
            "gpu": self.gpu.to_dict(),
            "vllmArgs": list(self.vllm_args),
        }


def size_preset(
    preset: str,
    gpu: skus.GPUConfig,
    *,
    cloud: str,
    max_model_len: int | None = None,
    mig_profile: str | None = None,
) -> Sizing:
    """Size ``preset`` on nodes of ``gpu`` (or one MIG slice of it) for ``max_model_len`` tokens.

    Raises:
        PresetError: unknown or deprecated preset, unknown MIG profile, or a model that does not
            fit (``EstimateError``).
    """
    model = catalog.get_model(preset)
    if mig_profile is not None:
        gpu = mig_slice(gpu, mig_profile)
    length = estimator.DEFAULT_MAX_MODEL_LEN if max_model_len is None else max_model_len
    estimate = estimator.estimate_nodes(model, gpu, length)
    plan = parallelism.plan_parallelism(model, gpu, estimate.nodes)
    flags = engine_args.build_vllm_args(
        model,
        gpu,
        estimate.nodes,
        served_model_name=model.name,
        max_model_len=max_model_len,
        parallelism=plan,
    )
    return Sizing(model, gpu, cloud, estimate, plan, tuple(flags))
