"""What the host CPU offers, detected once, and the defaults the runtimes derive from it.

Measured side by side (docs/benchmarks.md), the right serving dtype depends on the CPU: where
bfloat16 is computed natively (AVX512-BF16 or AMX), a bf16 decoding step is about 1.3x faster
than fp32 and it is what vLLM-CPU serves in; where it is not (AVX2-only hosts), bf16 is emulated
and several times *slower* than fp32, for every engine. Likewise the thread count must be the CPUs
the process may really use (affinity mask, cgroup quota), not the node's core count. So the
runtimes ask this module once, log what it found, and choose:

- the serving dtype on CPU (:func:`serving_dtype`): bfloat16 with native bf16, else float32;
- the torch thread count (:func:`available_cpus`);
- the tuning profile's settings (``kaito.runtime.tuning.profiles`` reads :attr:`CpuInfo.tier`).

Explicit flags always win over these defaults.

Test and benchmark seam: ``KAITO_CPU_FLAGS`` (comma or space separated ``/proc/cpuinfo`` flag
names, e.g. ``avx2,fma``) replaces the flags read from ``/proc/cpuinfo``. Together with
``ATEN_CPU_CAPABILITY=avx2`` and ``ONEDNN_MAX_CPU_ISA=AVX2`` (which make torch's own kernels and
oneDNN stop at AVX2) it *emulates* an AVX2-only host on a bigger CPU; the figures so obtained are
emulation, not a real AVX2 host. ``ONEDNN_MAX_CPU_ISA`` alone also caps what we report, because
oneDNN, which computes our linear layers, then has no bf16 instructions either.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

CPU_FLAGS_ENV = "KAITO_CPU_FLAGS"
ONEDNN_ISA_ENV = "ONEDNN_MAX_CPU_ISA"
CPUINFO = Path("/proc/cpuinfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")

Tier = Literal["amx", "avx512_bf16", "avx512", "avx2", "baseline"]
#: Most capable first; a host's tier is the first whose flags it has.
TIERS: tuple[tuple[Tier, frozenset[str]], ...] = (
    ("amx", frozenset({"amx_tile", "amx_bf16"})),
    ("avx512_bf16", frozenset({"avx512f", "avx512_bf16"})),
    ("avx512", frozenset({"avx512f"})),
    ("avx2", frozenset({"avx2"})),
    ("baseline", frozenset()),
)
#: Flags oneDNN may not use under each ``ONEDNN_MAX_CPU_ISA`` value (upper-cased; prefix match,
#: e.g. ``AVX512_CORE_VNNI`` is below ``AVX512_CORE_BF16``).
_ONEDNN_CAPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AVX10", ()),
    ("AVX512_CORE_AMX", ()),
    ("AVX512_CORE_FP16", ("amx",)),
    ("AVX512_CORE_BF16", ("amx",)),
    ("AVX512_CORE", ("amx", "avx512_bf16")),
    ("AVX2", ("amx", "avx512")),
    ("AVX", ("amx", "avx512", "avx2")),
    ("SSE", ("amx", "avx512", "avx2")),
)
_SPLIT = re.compile(r"[\s,]+")


@dataclasses.dataclass(frozen=True)
class CpuInfo:
    """The CPU as the runtimes see it."""

    flags: frozenset[str]
    """``/proc/cpuinfo`` flag names (after the ``KAITO_CPU_FLAGS`` and oneDNN caps)."""
    model: str
    """The CPU's model name, for logs and benchmark records."""
    source: str
    """Where the flags came from: ``/proc/cpuinfo``, ``$KAITO_CPU_FLAGS`` or ``unknown``."""
    capped_by: str | None = None
    """The ``ONEDNN_MAX_CPU_ISA`` value that removed flags, if any."""

    @property
    def tier(self) -> Tier:
        """The most capable vector tier the flags give (see :data:`TIERS`)."""
        for tier, needed in TIERS:
            if needed <= self.flags:
                return tier
        return "baseline"  # pragma: no cover - the last tier needs nothing

    @property
    def native_bf16(self) -> bool:
        """Whether bfloat16 matrix products run natively (AVX512-BF16 or AMX)."""
        return self.tier in ("amx", "avx512_bf16")

    def describe(self) -> str:
        """One log line: tier, the flags that decide it, and where they came from."""
        shown = sorted(
            flag for flag in self.flags if flag.startswith(("avx512_bf16", "amx", "avx2"))
        )
        if "avx512f" in self.flags:
            shown.insert(0, "avx512f")
        cap = f", capped by {ONEDNN_ISA_ENV}={self.capped_by}" if self.capped_by else ""
        return (
            f"CPU {self.model or 'unknown'}: tier {self.tier} "
            f"({' '.join(shown) or 'no AVX2'}; from {self.source}{cap})"
        )


def parse_flags(cpuinfo_text: str) -> tuple[frozenset[str], str]:
    """The flags and model name of the first processor in ``/proc/cpuinfo`` text."""
    flags: frozenset[str] = frozenset()
    model = ""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = frozenset(value.split())
        elif key == "model name" and not model:
            model = value.strip()
    return flags, model


def detect_cpu(env: Mapping[str, str] | None = None, cpuinfo: Path = CPUINFO) -> CpuInfo:
    """Read the CPU's flags (or ``$KAITO_CPU_FLAGS``), capped by ``$ONEDNN_MAX_CPU_ISA``."""
    env = os.environ if env is None else env
    try:
        flags, model = parse_flags(cpuinfo.read_text(encoding="utf-8", errors="replace"))
        source = str(cpuinfo)
    except OSError:
        flags, model, source = frozenset(), "", "unknown"
    override = env.get(CPU_FLAGS_ENV, "").strip()
    if override:
        flags = frozenset(flag.lower() for flag in _SPLIT.split(override) if flag)
        source = f"${CPU_FLAGS_ENV}"
    capped_by = None
    isa = env.get(ONEDNN_ISA_ENV, "").strip().upper()
    if isa and isa != "ALL":
        for prefix, dropped in _ONEDNN_CAPS:
            if isa.startswith(prefix):
                kept = frozenset(f for f in flags if not f.startswith(dropped))
                if kept != flags:
                    flags, capped_by = kept, isa
                break
    return CpuInfo(flags=flags, model=model, source=source, capped_by=capped_by)


@functools.cache
def host_cpu() -> CpuInfo:
    """This process's CPU, detected once and logged once (INFO)."""
    info = detect_cpu()
    logger.info("%s", info.describe())
    return info


ServingDtype = Literal["bfloat16", "float32"]


def serving_dtype(cpu: CpuInfo) -> ServingDtype:
    """The weights dtype ``--dtype auto`` means on this CPU (see ``kaito-serve --help``).

    bfloat16 where it is native: faster, but a batch rounds differently from a lone row, so a
    greedy answer may change where two tokens score within bf16's precision (as in vLLM).
    float32 elsewhere: batched greedy answers then equal unbatched ones exactly.
    """
    return "bfloat16" if cpu.native_bf16 else "float32"


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota if any.

    ``os.cpu_count()`` is the node's core count, not the pod's: a pod limited to 4 CPUs on a
    64-core node would start 64 OpenMP threads on 4 CPUs' worth of time, and every parallel region
    would wait for threads the kernel has descheduled.
    """
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
