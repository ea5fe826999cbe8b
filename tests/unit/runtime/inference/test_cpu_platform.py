"""The CPU budget a pod really has: affinity mask capped by the cgroup quota (v2 and v1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kaito.runtime.inference.engines import cpu_platform


def affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_a_cgroup_v2_limit_caps_the_cpus_rounding_a_fraction_up(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # a 1500m CPU limit
    assert cpu_platform.cgroup_cpu_quota(tmp_path) == 1.5
    assert cpu_platform.available_cpus(tmp_path) == min(affinity(), 2)


def test_an_unlimited_cgroup_v2_leaves_the_affinity_mask(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_platform.cgroup_cpu_quota(tmp_path) is None
    assert cpu_platform.available_cpus(tmp_path) == affinity()


def test_a_tiny_limit_still_gives_one_thread(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("10000 100000\n")  # 100m
    assert cpu_platform.available_cpus(tmp_path) == 1


@pytest.mark.parametrize(("quota", "expected"), [("200000", 2.0), ("-1", None), ("garbage", None)])
def test_cgroup_v1_quota_and_period(tmp_path: Path, quota: str, expected: float | None) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_platform.cgroup_cpu_quota(tmp_path) == expected


def test_no_cgroup_files_means_no_limit(tmp_path: Path) -> None:
    assert cpu_platform.cgroup_cpu_quota(tmp_path) is None
    assert cpu_platform.available_cpus(tmp_path) == affinity()


def test_a_malformed_v2_file_falls_back_to_v1(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("lots\n")
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_platform.cgroup_cpu_quota(tmp_path) == 3.0


def test_native_bfloat16_agrees_with_the_cpu_flags() -> None:
    pytest.importorskip("torch")
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    expected = "avx512_bf16" in flags or "amx_tile" in flags
    assert cpu_platform.native_bfloat16() is expected
