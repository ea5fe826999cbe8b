"""Command-line flags for the inference engines, computed from a preset and its GPUs.

The operator's manifests put these flags in the inference pod's command, and ``kaito run`` and
``kaito-serve`` pass the same list when they start vLLM locally, so a model is launched identically
in a cluster and on one machine. The flags are those upstream Kaito injects (reference §3.3): the
model and where to download it, the served name, the preset's vLLM parameters, ``--max-model-len``
(``auto`` unless given), ``--gpu-memory-utilization``, the parallel sizes, LoRA, and a few
``--kaito-*`` flags that ``kaito-serve`` consumes itself before handing the rest to vLLM.

The order is fixed (never dict order) so manifests and golden files are stable. Every flag is
written ``--name=value`` (or bare ``--name`` for switches) so the list can be joined into a shell
command or passed as argv unchanged.
"""

from __future__ import annotations

import re
from typing import Literal

from kaito.api import constants
from kaito.presets.catalog import ModelSpec
from kaito.presets.parallelism import Parallelism, plan_parallelism
from kaito.presets.skus import GPUConfig

__all__ = [
    "A10_GPU_MEMORY_UTILIZATION",
    "DEFAULT_DOWNLOAD_DIR",
    "GPU_MEMORY_UTILIZATION",
    "KV_EVENTS_CONFIG",
    "PERFORMANCE_MODES",
    "PerformanceMode",
    "build_transformers_args",
    "build_vllm_args",
    "gpu_memory_utilization",
    "resolve_dtype",
]

# Where weights downloaded at start-up are cached in the inference pod.
DEFAULT_DOWNLOAD_DIR = "/workspace/weights"
GPU_MEMORY_UTILIZATION = 0.84
# A10s leave less headroom at 0.84 in practice; upstream lowers it for them.
A10_GPU_MEMORY_UTILIZATION = 0.82
KV_EVENTS_CONFIG = '{"enable_kv_cache_events":true}'
# Upstream disables this fusion pass: it fails on several GPU/driver combinations.
_COMPILATION_FLAG = "--compilation-config.pass_config.fuse_allreduce_rms=False"
PerformanceMode = Literal["balanced", "interactivity", "throughput"]
PERFORMANCE_MODES: tuple[PerformanceMode, ...] = ("balanced", "interactivity", "throughput")
# "A10" as a whole token: matches "A10", "NVIDIA-A10", not "A100" or "A10G".
_A10_RE = re.compile(r"(?<![0-9A-Z])A10(?![0-9A-Z])")


def gpu_memory_utilization(gpu: GPUConfig) -> float:
    """The ``--gpu-memory-utilization`` for a GPU model: 0.84, or 0.82 on A10."""
    if _A10_RE.search(gpu.gpu_model.upper()):
        return A10_GPU_MEMORY_UTILIZATION
    return GPU_MEMORY_UTILIZATION


def resolve_dtype(model: ModelSpec, gpu: GPUConfig | None) -> str:
    """The preset's vLLM dtype, with bfloat16 replaced by float16 on GPUs without bfloat16."""
    dtype = model.vllm.dtype
    if dtype == "bfloat16" and gpu is not None and not gpu.supports_bf16:
        return "float16"
    return dtype


def _template(directory: str | None, name: str | None) -> str | None:
    if directory is None or name is None:
        return None
    return f"{directory.rstrip('/')}/{name}"


def build_vllm_args(
    model: ModelSpec,
    gpu: GPUConfig | None,
    nodes: int = 1,
    *,
    served_model_name: str,
    max_model_len: int | None = None,
    adapters: bool = False,
    performance_mode: str | None = None,
    config_file: str | None = None,
    model_path: str | None = None,
    download_dir: str | None = DEFAULT_DOWNLOAD_DIR,
    chat_template_dir: str | None = constants.PATH_CHAT_TEMPLATES,
    cluster_flags: bool = True,
    parallelism: Parallelism | None = None,
) -> list[str]:
    """The vLLM server flags for ``model`` on ``nodes`` nodes of ``gpu``.

    Args:
        model: The preset.
        gpu: GPUs of one node; ``None`` for CPU serving (no memory or parallel flags).
        nodes: Node count from the estimator.
        served_model_name: Name clients put in ``"model"`` (the preset name for Workspaces).
        max_model_len: Context length; ``None`` lets vLLM fit it (``--max-model-len=auto``).
        adapters: LoRA adapters will be loaded (``--enable-lora``).
        performance_mode: ``balanced``, ``interactivity`` or ``throughput`` (Workspace annotation).
        config_file: Path of the user's ``inference_config.yaml`` (``--kaito-config-file``).
        model_path: Local weights (file or directory) to load instead of downloading ``hf_repo``.
        download_dir: Where hub downloads are cached; ``None`` leaves vLLM's default.
        chat_template_dir: Directory holding the tool-calling chat templates (upstream's
            ``/workspace/chat_templates`` of the runtime image); ``None`` passes no
            ``--chat-template`` and the model's own template is used.
        cluster_flags: Add the KV-events and compilation flags upstream sets in clusters; local CPU
            runs turn them off.
        parallelism: Parallel sizes to use; planned from ``model``, ``gpu`` and ``nodes`` when
            omitted.

    Returns:
        Flags in a fixed order.

    Raises:
        ValueError: ``performance_mode`` is not one of ``PERFORMANCE_MODES``, or ``max_model_len`` /
            ``nodes`` is not positive.
    """
    if performance_mode is not None and performance_mode not in PERFORMANCE_MODES:
        raise ValueError(
            f"performance mode must be one of {', '.join(PERFORMANCE_MODES)}, "
            f"got {performance_mode!r}"
        )
    if max_model_len is not None and max_model_len < 1:
        raise ValueError(f"max-model-len must be a positive integer, got {max_model_len}")
    if nodes < 1:
        raise ValueError(f"node count must be at least 1, got {nodes}")

    args = [f"--model={model_path or model.hf_repo}"]
    if model_path is None:
        if model.pinned_revision is not None:
            args.append(f"--code-revision={model.pinned_revision}")
        if download_dir is not None:
            args.append(f"--download-dir={download_dir}")
    args.append(f"--served-model-name={served_model_name}")

    params = model.vllm
    args.append(f"--dtype={resolve_dtype(model, gpu)}")
    if params.trust_remote_code:
        args.append("--trust-remote-code")
    args += [
        f"--load-format={params.load_format}",
        f"--config-format={params.config_format}",
        f"--tokenizer-mode={params.tokenizer_mode}",
    ]
    if params.tool_call_parser is not None:
        args += [f"--tool-call-parser={params.tool_call_parser}", "--enable-auto-tool-choice"]
    template = _template(chat_template_dir, params.chat_template)
    if template is not None:
        args.append(f"--chat-template={template}")
    if params.reasoning_parser is not None:
        args.append(f"--reasoning-parser={params.reasoning_parser}")
    args += [f"--{name}={value}" if value else f"--{name}" for name, value in params.extra_args]

    args.append(f"--max-model-len={'auto' if max_model_len is None else max_model_len}")

    plan = Parallelism()
    if gpu is not None:
        plan = parallelism or plan_parallelism(model, gpu, nodes)
        args.append(f"--gpu-memory-utilization={gpu_memory_utilization(gpu)}")
        args.append(f"--tensor-parallel-size={plan.tensor}")
        if plan.pipeline > 1:
            args.append(f"--pipeline-parallel-size={plan.pipeline}")
        if plan.data > 1:
            args.append(f"--data-parallel-size={plan.data}")
        if plan.distributed_backend is not None:
            args.append(f"--distributed-executor-backend={plan.distributed_backend}")

    if adapters:
        args.append("--enable-lora")
    if cluster_flags:
        args += [f"--kv-events-config={KV_EVENTS_CONFIG}", _COMPILATION_FLAG]
    if performance_mode is not None:
        args.append(f"--performance-mode={performance_mode}")

    if config_file is not None:
        args.append(f"--kaito-config-file={config_file}")
    mig = gpu is not None and (gpu.mig_enabled or gpu.mig_profile is not None)
    if not model.kv_cache_offload or mig or not plan.allows_kv_offload:
        args.append("--kaito-kv-cache-cpu-memory-utilization=0")
    return args


def build_transformers_args(
    model: ModelSpec,
    *,
    served_model_name: str,
    model_path: str | None = None,
    chat_template_dir: str | None = None,
) -> list[str]:
    """Flags for the transformers runtime (reference §3.1, transformers run parameters).

    Args:
        model: The preset; must support the transformers runtime.
        served_model_name: Name clients put in ``"model"``.
        model_path: Local weights to load; when ``None`` the hub repo is used (and, for presets that
            pin one, its revision).
        chat_template_dir: Directory holding chat template files named by the preset.

    Raises:
        ValueError: The preset has no transformers-runtime parameters.
    """
    params = model.transformers
    if params is None:
        raise ValueError(
            f"model {model.name} does not support inference with Huggingface Transformers runtime"
        )
    args = [
        f"--pipeline={params.pipeline}",
        f"--torch_dtype={params.torch_dtype}",
        f"--pretrained_model_name_or_path={model_path or model.hf_repo}",
    ]
    if model_path is None:
        if model.revision is not None:
            args.append(f"--revision={model.revision}")
        args.append("--allow_remote_files")
    elif params.allow_remote_files:
        args.append("--allow_remote_files")
    if params.trust_remote_code:
        args.append("--trust_remote_code")
    template = _template(chat_template_dir, params.chat_template)
    if template is not None:
        args.append(f"--chat_template={template}")
    args.append(f"--served_model_name={served_model_name}")
    return args
