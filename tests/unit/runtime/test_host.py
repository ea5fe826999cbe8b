"""What the host offers: CPU tier from the flags (and the test seam), and the CPU budget a pod
really has (affinity mask capped by the cgroup quota, v2 and v1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kaito.runtime import host


def affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_a_cgroup_v2_limit_caps_the_cpus_rounding_a_fraction_up(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # a 1500m CPU limit
    assert host.cgroup_cpu_quota(tmp_path) == 1.5
    assert host.available_cpus(tmp_path) == min(affinity(), 2)


def test_an_unlimited_cgroup_v2_leaves_the_affinity_mask(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert host.cgroup_cpu_quota(tmp_path) is None
    assert host.available_cpus(tmp_path) == affinity()


def test_a_tiny_limit_still_gives_one_thread(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("10000 100000\n")  # 100m
    assert host.available_cpus(tmp_path) == 1


@pytest.mark.parametrize(("quota", "expected"), [("200000", 2.0), ("-1", None), ("garbage", None)])
def test_cgroup_v1_quota_and_period(tmp_path: Path, quota: str, expected: float | None) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert host.cgroup_cpu_quota(tmp_path) == expected


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    assert host.cgroup_cpu_quota(tmp_path) is None
    assert host.available_cpus(tmp_path) == affinity()


def test_a_malformed_v2_file_falls_back_to_v1(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("lots\n")
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert host.cgroup_cpu_quota(tmp_path) == 3.0


CPUINFO = """processor	: 0
vendor_id	: GenuineIntel
model name	: Example CPU @ 2.0GHz
flags		: fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16 avx512_vnni amx_bf16 amx_tile
processor	: 1
model name	: ignored
flags		: fpu
"""


def cpuinfo(tmp_path: Path, text: str = CPUINFO) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_flags_and_model_come_from_the_first_processor(tmp_path: Path) -> None:
    info = host.detect_cpu({}, cpuinfo(tmp_path))
    assert info.model == "Example CPU @ 2.0GHz"
    assert {"avx2", "amx_tile", "avx512_bf16"} <= info.flags
    assert info.tier == "amx"
    assert info.native_bf16
    assert info.source == str(tmp_path / "cpuinfo")


@pytest.mark.parametrize(
    ("flags", "tier", "dtype"),
    [
        ("avx2 avx512f avx512_bf16 amx_tile amx_bf16", "amx", "bfloat16"),
        ("avx2,avx512f,avx512_bf16", "avx512_bf16", "bfloat16"),
        ("avx2 avx512f avx512_vnni", "avx512", "float32"),
        ("avx avx2 fma", "avx2", "float32"),
        ("sse4_2", "baseline", "float32"),
        # AMX tiles without AVX-512 (no such CPU yet) still count: the tiles do the bf16 work.
        ("amx_tile amx_bf16", "amx", "bfloat16"),
    ],
)
def test_the_flag_override_decides_tier_and_serving_dtype(
    tmp_path: Path, flags: str, tier: str, dtype: str
) -> None:
    info = host.detect_cpu({"KAITO_CPU_FLAGS": flags}, cpuinfo(tmp_path))
    assert info.tier == tier
    assert info.source == "$KAITO_CPU_FLAGS"
    assert host.serving_dtype(info) == dtype


@pytest.mark.parametrize(
    ("isa", "tier"),
    [
        ("AVX2", "avx2"),
        ("avx512_core", "avx512"),
        ("AVX512_CORE_VNNI", "avx512"),
        ("AVX512_CORE_BF16", "avx512_bf16"),
        ("AVX512_CORE_AMX", "amx"),
        ("ALL", "amx"),
    ],
)
def test_onednn_isa_cap_removes_what_onednn_may_not_use(
    tmp_path: Path, isa: str, tier: str
) -> None:
    info = host.detect_cpu({"ONEDNN_MAX_CPU_ISA": isa}, cpuinfo(tmp_path))
    assert info.tier == tier
    assert (info.capped_by is None) == (tier == "amx")
    if info.capped_by:
        assert "capped by ONEDNN_MAX_CPU_ISA" in info.describe()


def test_no_cpuinfo_means_baseline_and_says_so(tmp_path: Path) -> None:
    info = host.detect_cpu({}, tmp_path / "absent")
    assert info.tier == "baseline"
    assert not info.native_bf16
    assert "unknown" in info.describe()


def test_describe_names_the_deciding_flags(tmp_path: Path) -> None:
    line = host.detect_cpu({}, cpuinfo(tmp_path)).describe()
    assert line.startswith("CPU Example CPU @ 2.0GHz: tier amx (avx512f ")
    for flag in ("amx_bf16", "amx_tile", "avx512_bf16", "avx2"):
        assert flag in line


def test_host_cpu_is_detected_once_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    host.host_cpu.cache_clear()
    try:
        with caplog.at_level("INFO", logger="kaito.runtime.host"):
            first = host.host_cpu()
            second = host.host_cpu()
        assert first is second
        assert [r.getMessage() for r in caplog.records] == [first.describe()]
    finally:
        host.host_cpu.cache_clear()


def test_this_machines_flags_match_proc_cpuinfo() -> None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    info = host.detect_cpu({})
    expected = "avx512_bf16" in text or "amx_bf16" in text
    assert info.native_bf16 is expected
