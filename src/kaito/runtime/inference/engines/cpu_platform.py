"""What the CPU offers the transformers engine: how many cores it may use, and native bfloat16.

Both decide defaults that matter several-fold on CPU (docs/benchmarks.md, Inference server):

- Threads: ``os.cpu_count()`` is the node's core count, not the pod's. A pod limited to 4 CPUs
  on a 64-core node would start 64 OpenMP threads on 4 CPUs' worth of time, and every parallel
  region would wait for threads the kernel has descheduled. The affinity mask and the cgroup CPU
  quota (what a Kubernetes CPU limit becomes) give the real budget.
- bfloat16: on CPUs that compute it natively (AVX512-BF16, AMX) it is what vLLM-CPU serves in by
  default, and a decoding step is about 1.3x faster than in float32 for the same weights; the
  engine says so when it loads in float32 on such a CPU.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota if any."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """The CPU limit in CPUs (``quota / period``) from cgroup v2 or v1; None when unlimited.

    cgroup v2 writes ``"<quota> <period>"`` (or ``"max <period>"``) to ``cpu.max``; v1 has
    ``cpu.cfs_quota_us`` (``-1`` when unlimited) and ``cpu.cfs_period_us``.
    """
    try:
        quota, _, period = (cgroup_root / "cpu.max").read_text().strip().partition(" ")
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        v1 = cgroup_root / "cpu"
        quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
        period_us = int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX tiles)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)
