"""GPU facts for a node: from the cloud SKU tables or from GPU Feature Discovery labels.

Sizing needs to know how many GPUs a node has and how much memory they carry. With node
auto-provisioning the answer comes from ``Workspace.resource.instanceType`` looked up in the table
of the cloud the operator runs on (``data/skus.yaml``, reference §3.5; the operator reads the cloud
from its settings). With bring-your-own nodes it comes from the labels NVIDIA GPU Feature Discovery
puts on each node (reference §2.3). Both paths produce the same ``GPUConfig``.

The Azure table deliberately keeps the V100, T4, M60 and MI25 families upstream dropped: manifests
written for them (the founding example uses ``Standard_NC6s_v3``) keep validating, and
``GPUConfig.supports_bf16`` tells the runtime to fall back to float16 on them.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import yaml

from kaito.presets.errors import UnknownInstanceTypeError

# libyaml's C loader when available (about 10x faster); same safe subset of YAML.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "DEFAULT_CLOUD",
    "GFD_COUNT_LABEL",
    "GFD_MEMORY_LABEL",
    "GFD_PRODUCT_LABEL",
    "GFD_REQUIRED_LABELS",
    "SUPPORTED_CLOUDS",
    "Cloud",
    "GPUConfig",
    "get_sku",
    "gpu_config_from_node_labels",
    "is_accepted_unknown_azure_sku",
    "list_skus",
    "parse_sku_tables",
    "require_sku",
    "with_gpu_count",
]

Cloud = Literal["azure", "aws", "arc"]
SUPPORTED_CLOUDS: tuple[Cloud, ...] = ("azure", "aws", "arc")
DEFAULT_CLOUD: Cloud = "azure"

# GPU Feature Discovery labels (reference §2.3, BYO nodes).
GFD_PRODUCT_LABEL = "nvidia.com/gpu.product"
GFD_COUNT_LABEL = "nvidia.com/gpu.count"
GFD_MEMORY_LABEL = "nvidia.com/gpu.memory"  # MiB per GPU
GFD_CC_MAJOR_LABEL = "nvidia.com/cuda.compute.major"
GFD_CC_MINOR_LABEL = "nvidia.com/cuda.compute.minor"
GFD_MIG_CONFIG_LABEL = "nvidia.com/mig.config"
GFD_MIG_STATE_LABEL = "nvidia.com/mig.config.state"
GFD_REQUIRED_LABELS: tuple[str, ...] = (GFD_PRODUCT_LABEL, GFD_COUNT_LABEL, GFD_MEMORY_LABEL)
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"

_MIG_DISABLED = "all-disabled"
_MIG_STATE_SUCCESS = "success"
# bfloat16 needs CUDA compute capability 8.0 (Ampere) or newer.
_BF16_MIN_CC = (8, 0)
# Azure admits any instance type with these prefixes even when the table does not know it (§1.5).
_AZURE_OPEN_PREFIXES = ("standard_n", "standard_d")
_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class GPUConfig:
    """The accelerators of one node, as sizing sees them.

    Attributes:
        sku: Instance type (or, for a BYO node without an instance-type label, the GPU product).
        gpu_count: Accelerators per node.
        total_memory_gib: Accelerator memory of the whole node, GiB.
        gpu_model: Accelerator model (``A100``, ``V100`` or a GFD product such as
            ``NVIDIA-A100-SXM4-80GB``).
        nvme: The node has local NVMe disks usable as a weights cache.
        compute_capability: CUDA compute capability ``(major, minor)``; ``None`` for non-NVIDIA
            accelerators or when unknown.
        vendor: ``nvidia``, ``amd`` or ``aws`` (Trainium/Inferentia).
        legacy: An Azure family upstream no longer lists (kept for compatibility).
        mig_enabled: The GPUs are split into MIG instances (BYO nodes only).
        mig_profile: The MIG profile this config describes (memory is one slice), if any.
    """

    sku: str
    gpu_count: int
    total_memory_gib: float
    gpu_model: str
    nvme: bool = False
    compute_capability: tuple[int, int] | None = None
    vendor: str = "nvidia"
    legacy: bool = False
    mig_enabled: bool = False
    mig_profile: str | None = None

    @property
    def per_gpu_memory_gib(self) -> float:
        """Memory of one accelerator, GiB."""
        return self.total_memory_gib / self.gpu_count

    @property
    def supports_bf16(self) -> bool:
        """Whether the accelerator computes in bfloat16 (NVIDIA CC >= 8.0, Trainium/Inferentia).

        An NVIDIA GPU of unknown compute capability is assumed modern (GFD normally reports it).
        """
        if self.vendor == "amd":
            return False
        if self.vendor != "nvidia" or self.compute_capability is None:
            return True
        return self.compute_capability >= _BF16_MIN_CC

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready description with camelCase keys."""
        cc = self.compute_capability
        return {
            "sku": self.sku,
            "gpuCount": self.gpu_count,
            "totalMemoryGiB": self.total_memory_gib,
            "perGpuMemoryGiB": self.per_gpu_memory_gib,
            "gpuModel": self.gpu_model,
            "vendor": self.vendor,
            "computeCapability": None if cc is None else f"{cc[0]}.{cc[1]}",
            "bf16": self.supports_bf16,
            "nvme": self.nvme,
            "legacy": self.legacy,
            "migProfile": self.mig_profile,
        }


def _parse_cc(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    major, minor = str(value).split(".")
    return int(major), int(minor)


_ROW_KEYS = frozenset({"sku", "gpus", "memoryGiB", "gpu", "nvme", "cc", "vendor", "legacy"})
_VENDORS = frozenset({"nvidia", "amd", "aws"})


def parse_sku_tables(text: str) -> dict[str, dict[str, GPUConfig]]:
    """Build the SKU tables from the text of a ``skus.yaml`` document.

    Returns:
        cloud -> lower-cased instance type -> config, in file order.

    Raises:
        ValueError: A cloud is missing, or a row has unknown keys, a duplicate instance type, an
            unknown vendor or a non-positive GPU count or memory.
    """
    document: Mapping[str, list[Mapping[str, Any]]] = yaml.load(text, Loader=_YAML_LOADER)
    tables: dict[str, dict[str, GPUConfig]] = {}
    for cloud in SUPPORTED_CLOUDS:
        if cloud not in document:
            raise ValueError(f"skus.yaml: no table for cloud {cloud}")
        table: dict[str, GPUConfig] = {}
        for row in document[cloud]:
            unknown = set(row) - _ROW_KEYS
            if unknown:
                raise ValueError(
                    f"skus.yaml {cloud}/{row.get('sku')}: unknown keys {sorted(unknown)}"
                )
            config = GPUConfig(
                sku=row["sku"],
                gpu_count=int(row["gpus"]),
                total_memory_gib=float(row["memoryGiB"]),
                gpu_model=row["gpu"],
                nvme=bool(row.get("nvme", False)),
                compute_capability=_parse_cc(row.get("cc")),
                vendor=row.get("vendor", "nvidia"),
                legacy=bool(row.get("legacy", False)),
            )
            key = config.sku.lower()
            if key in table:
                raise ValueError(f"skus.yaml {cloud}: duplicate instance type {config.sku}")
            if config.vendor not in _VENDORS:
                raise ValueError(f"skus.yaml {cloud}/{config.sku}: unknown vendor {config.vendor}")
            if config.gpu_count < 1 or config.total_memory_gib <= 0:
                raise ValueError(
                    f"skus.yaml {cloud}/{config.sku}: GPU count and memory must be > 0"
                )
            table[key] = config
        tables[cloud] = table
    return tables


@functools.cache
def _tables() -> dict[str, dict[str, GPUConfig]]:
    """The packaged SKU tables (``data/skus.yaml``), parsed once per process."""
    text = importlib.resources.files("kaito.presets").joinpath("data/skus.yaml").read_text()
    return parse_sku_tables(text)


def _table(cloud: str) -> dict[str, GPUConfig]:
    tables = _tables()
    if cloud not in tables:
        raise ValueError(f"unknown cloud {cloud!r}; supported: {', '.join(SUPPORTED_CLOUDS)}")
    return tables[cloud]


def get_sku(instance_type: str, cloud: str = DEFAULT_CLOUD) -> GPUConfig | None:
    """The GPU config of a known instance type (case-insensitive), else ``None``.

    Raises:
        ValueError: ``cloud`` is not one of ``SUPPORTED_CLOUDS``.
    """
    return _table(cloud).get(instance_type.strip().lower())


def clouds_listing(instance_type: str) -> tuple[str, ...]:
    """The clouds whose SKU table lists ``instance_type`` (case-insensitive), in table order."""
    key = instance_type.strip().lower()
    return tuple(cloud for cloud in SUPPORTED_CLOUDS if key in _tables()[cloud])


def cloud_for(instance_type: str, cloud: str | None = None) -> str:
    """The SKU table to read ``instance_type`` from when the user may not have named a cloud.

    A named ``cloud`` wins; otherwise the one cloud whose table lists the instance type (an AWS
    ``g5.xlarge`` needs no ``--cloud aws``); otherwise -- listed nowhere or on several clouds --
    the default cloud, whose lookup then reports the instance type as unknown with suggestions.
    """
    if cloud is not None:
        return cloud
    listing = clouds_listing(instance_type)
    return listing[0] if len(listing) == 1 else DEFAULT_CLOUD


def require_sku(instance_type: str, cloud: str = DEFAULT_CLOUD) -> GPUConfig:
    """Like ``get_sku`` but raises ``UnknownInstanceTypeError`` when unknown.

    The error suggests the closest instance types of ``cloud`` and names the other clouds whose
    table lists the name (a common slip: an AWS type with the Azure table).
    """
    config = get_sku(instance_type, cloud)
    if config is not None:
        return config
    key = instance_type.strip().lower()
    table = _table(cloud)
    close = difflib.get_close_matches(key, list(table), n=_SUGGESTIONS)
    known_on = clouds_listing(key)
    raise UnknownInstanceTypeError(
        instance_type, cloud, tuple(table[match].sku for match in close), known_on
    )


def list_skus(cloud: str = DEFAULT_CLOUD, *, include_legacy: bool = True) -> list[GPUConfig]:
    """The instance types of one cloud, in table order (smaller families first).

    Args:
        cloud: One of ``SUPPORTED_CLOUDS``.
        include_legacy: Include the older Azure families upstream dropped.
    """
    return [sku for sku in _table(cloud).values() if include_legacy or not sku.legacy]


def is_accepted_unknown_azure_sku(name: str) -> bool:
    """Whether Azure admission accepts ``name`` although the table does not list it.

    Upstream admits any ``Standard_N*`` or ``Standard_D*`` instance type on Azure
    (case-insensitive), so new GPU families work before the table learns them; sizing then needs
    the node's labels.
    """
    return name.strip().lower().startswith(_AZURE_OPEN_PREFIXES)


def with_gpu_count(config: GPUConfig, count: int) -> GPUConfig:
    """The config seen by a workload that may use only ``count`` of the node's GPUs.

    Used for accelerator partitions: memory scales with the share of GPUs.
    """
    if count < 1:
        raise ValueError(f"GPU count must be at least 1, got {count}")
    return replace(config, gpu_count=count, total_memory_gib=config.per_gpu_memory_gib * count)


def _int_label(labels: Mapping[str, str], key: str) -> int | None:
    value = labels.get(key)
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _round_half_up(value: float) -> int:
    """Round like Go's ``math.Round`` (halves away from zero), not Python's banker's rounding."""
    return math.floor(value + 0.5)


def gpu_config_from_node_labels(labels: Mapping[str, str]) -> GPUConfig | None:
    """The GPU config of a bring-your-own node from its GPU Feature Discovery labels.

    Reads ``nvidia.com/gpu.product``, ``nvidia.com/gpu.count`` and ``nvidia.com/gpu.memory``
    (MiB per GPU; total GiB = round(MiB / 1024) x count, as upstream), the CUDA compute capability
    labels, and detects MIG mode (``nvidia.com/mig.config`` set to anything but ``all-disabled``
    and ``nvidia.com/mig.config.state`` = ``success``).

    Returns:
        The config, or ``None`` when a required label (``GFD_REQUIRED_LABELS``) is missing or not a
        positive number; the caller names the node and the missing labels.
    """
    product = labels.get(GFD_PRODUCT_LABEL, "").strip()
    count = _int_label(labels, GFD_COUNT_LABEL)
    memory_mib = _int_label(labels, GFD_MEMORY_LABEL)
    if not product or count is None or memory_mib is None or count < 1 or memory_mib < 1:
        return None
    major = _int_label(labels, GFD_CC_MAJOR_LABEL)
    minor = _int_label(labels, GFD_CC_MINOR_LABEL)
    mig_config = labels.get(GFD_MIG_CONFIG_LABEL, _MIG_DISABLED)
    mig_enabled = (
        mig_config != _MIG_DISABLED and labels.get(GFD_MIG_STATE_LABEL) == _MIG_STATE_SUCCESS
    )
    return GPUConfig(
        sku=labels.get(INSTANCE_TYPE_LABEL) or product,
        gpu_count=count,
        total_memory_gib=float(_round_half_up(memory_mib / 1024) * count),
        gpu_model=product,
        compute_capability=None if major is None else (major, minor or 0),
        vendor="nvidia",
        mig_enabled=mig_enabled,
    )
