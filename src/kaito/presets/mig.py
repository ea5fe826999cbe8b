"""NVIDIA Multi-Instance GPU (MIG) profiles that a Workspace partition may ask for.

A BYO Workspace can run a small model on one MIG slice (``resource.partition`` with a MIG profile).
Admission checks that the profile exists and that the model fits the slice; the estimator then sizes
against the slice instead of the whole GPU, and the pod requests ``nvidia.com/mig-<profile>``. The
profile table is upstream's accepted list (reference §3.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kaito.presets.skus import GPUConfig

__all__ = [
    "MIG_RESOURCE_PREFIX",
    "MigProfile",
    "get_mig_profile",
    "is_known_mig_profile",
    "list_mig_profiles",
    "mig_gpu_config",
]

MIG_RESOURCE_PREFIX = "nvidia.com/mig-"

# GPU family -> profiles it can be split into ("<compute slices>g.<memory>gb").
_PROFILES_BY_FAMILY: dict[str, tuple[str, ...]] = {
    "A30": ("1g.6gb", "2g.12gb", "4g.24gb"),
    "A100-40GB": ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
    "A100-80GB": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100-80GB": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
    "H100-94GB": ("1g.12gb", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"),
    "H100-96GB": ("3g.48gb", "4g.48gb", "7g.96gb"),
    "H200": ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"),
    "B200": ("1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"),
}
_PROFILE_RE = re.compile(r"^(\d+)g\.(\d+)gb$")


@dataclass(frozen=True, slots=True)
class MigProfile:
    """One MIG profile.

    Attributes:
        name: Profile name, e.g. ``1g.10gb``.
        compute_slices: Compute slices (the number before ``g``).
        memory_gib: Memory of one instance as the profile names it (GB taken as GiB, as upstream).
        gpu_families: GPU families that offer this profile.
    """

    name: str
    compute_slices: int
    memory_gib: int
    gpu_families: tuple[str, ...]

    @property
    def resource_name(self) -> str:
        """The extended resource a pod requests for one instance: ``nvidia.com/mig-<name>``."""
        return MIG_RESOURCE_PREFIX + self.name


def _build() -> dict[str, MigProfile]:
    families: dict[str, list[str]] = {}
    for family, names in _PROFILES_BY_FAMILY.items():
        for name in names:
            families.setdefault(name, []).append(family)
    profiles = {}
    for name, owners in families.items():
        match = _PROFILE_RE.match(name)
        if match is None:  # pragma: no cover - the table above is static
            raise ValueError(f"malformed MIG profile {name!r}")
        profiles[name] = MigProfile(
            name=name,
            compute_slices=int(match.group(1)),
            memory_gib=int(match.group(2)),
            gpu_families=tuple(owners),
        )
    return profiles


_PROFILES = _build()


def get_mig_profile(name: str) -> MigProfile | None:
    """The profile called ``name`` (case-insensitive); ``None`` if NVIDIA defines none."""
    return _PROFILES.get(name.strip().lower())


def is_known_mig_profile(name: str) -> bool:
    """Whether ``name`` is a MIG profile some supported GPU offers."""
    return get_mig_profile(name) is not None


def list_mig_profiles(gpu_family: str | None = None) -> list[MigProfile]:
    """All profiles sorted by memory then name, or those of one family such as ``H100-80GB``."""
    profiles = list(_PROFILES.values())
    if gpu_family is not None:
        profiles = [profile for profile in profiles if gpu_family in profile.gpu_families]
    return sorted(profiles, key=lambda profile: (profile.memory_gib, profile.name))


def mig_gpu_config(base: GPUConfig, profile: MigProfile) -> GPUConfig:
    """The GPU config a workload on one MIG instance sees: one device with the slice's memory."""
    return replace(
        base,
        gpu_count=1,
        total_memory_gib=float(profile.memory_gib),
        mig_enabled=True,
        mig_profile=profile.name,
    )
