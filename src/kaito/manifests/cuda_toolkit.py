"""vLLM's kernel switches and the node CUDA toolkit for models that JIT-compile kernels.

The runtime image ships no CUDA compiler. Upstream therefore turns off vLLM's FlashInfer sampler
in every vLLM pod and its DeepGEMM FP8 kernels except for the architectures that cannot run
without them (DeepSeek-V3.2/V4, GLM-5.x DSA). Those, and models whose FlashInfer MoE kernels compile
at start-up, get the CUDA 12.9 toolkit from a node folder (``/opt/kaito/cuda/129``, a hostPath
kept across pods and installed once per node by an init container) as ``CUDA_HOME``. The
``kaito.presets.catalog`` properties decide which models need what; this module only builds.
"""

from __future__ import annotations

from typing import Any

from kaito.api import constants
from kaito.presets.catalog import ModelSpec

JSON = dict[str, Any]


def build_vllm_env(model: ModelSpec) -> list[JSON]:
    """The vLLM kernel switches for ``model`` (vLLM pods only)."""
    deep_gemm = "1" if model.requires_deep_gemm else "0"
    return [
        {"name": constants.ENV_VLLM_USE_FLASHINFER_SAMPLER, "value": "0"},
        {"name": constants.ENV_VLLM_USE_DEEP_GEMM, "value": deep_gemm},
    ]


def build_toolkit_env() -> list[JSON]:
    """``CUDA_HOME`` pointing at the mounted toolkit, where JIT compilers look for nvcc."""
    return [{"name": constants.ENV_CUDA_HOME, "value": constants.PATH_CUDA_TOOLKIT}]


def build_toolkit_volume() -> JSON:
    """The node folder holding the toolkit; created empty on a node that has none yet."""
    return {
        "name": constants.VOLUME_CUDA_TOOLKIT,
        "hostPath": {"path": constants.PATH_CUDA_TOOLKIT, "type": "DirectoryOrCreate"},
    }


def build_toolkit_mount() -> JSON:
    """The server's read-only view of the toolkit at ``CUDA_HOME``."""
    return {
        "name": constants.VOLUME_CUDA_TOOLKIT,
        "mountPath": constants.PATH_CUDA_TOOLKIT,
        "readOnly": True,
    }


def build_provisioner(image: str) -> JSON:
    """The init container that installs the toolkit into the node folder unless it is there.

    ``flock`` serialises pods starting on the same node; the folder is passed as ``$1`` so it is
    never interpolated into the shell text. Installing packages needs root, so this one container
    runs as root (the server container keeps the image's non-root user).
    """
    return {
        "name": constants.INIT_CONTAINER_CUDA_TOOLKIT,
        "image": image,
        "command": [
            "/bin/sh",
            "-c",
            f'flock "$1" {constants.PATH_CUDA_PROVISION_SCRIPT} "$1"',
            "sh",
            constants.PATH_CUDA_TOOLKIT,
        ],
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False},
        "volumeMounts": [
            {"name": constants.VOLUME_CUDA_TOOLKIT, "mountPath": constants.PATH_CUDA_TOOLKIT}
        ],
    }
