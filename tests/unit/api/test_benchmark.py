"""The benchmark log lines and their parsing into status.performance, as upstream records it."""

from __future__ import annotations

import datetime as dt

import pytest

from kaito.api import benchmark

NOW = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.UTC)


def test_lines_round_trip_into_peak_tokens_per_minute() -> None:
    lines = [
        "INFO vllm: loading",
        benchmark.format_line(
            benchmark.CONFIG_TAG, {"duration_sec": 60, "max_concurrency": 8}, NOW
        ),
        "2026-12-05 20:00:01 INFO kaito: "
        + benchmark.format_line(benchmark.RESULT_TAG, {"vllm_total_tpm": 1234.5}, NOW),
    ]
    assert (
        lines[1]
        == 'KAITO_BENCHMARK_CONFIG 2026-12-05T20:00:00Z {"duration_sec":60,"max_concurrency":8}'
    )
    perf = benchmark.parse_benchmark_log(lines, {"engine": "vllm"})
    assert perf.to_wire() == {
        "metrics": {
            "peakTokensPerMinute": {
                "description": "stress/high-concurrency",
                "value": "1234.5",
                "unit": "tokens/min",
                "config": {"durationSec": "60", "maxConcurrency": "8", "engine": "vllm"},
            }
        }
    }


def test_the_last_result_wins() -> None:
    first = benchmark.format_line(benchmark.RESULT_TAG, {"vllm_total_tpm": 10}, NOW)
    last = benchmark.format_line(benchmark.RESULT_TAG, {"vllm_total_tpm": 20}, NOW)
    perf = benchmark.parse_benchmark_log([first, last])
    assert perf.metrics["peakTokensPerMinute"].value == "20"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["nothing here"], "no KAITO_BENCHMARK_RESULT line"),
        (["KAITO_BENCHMARK_RESULT 2026-12-05T20:00:00Z {broken"], "malformed"),
        (['KAITO_BENCHMARK_RESULT 2026-12-05T20:00:00Z {"vllm_total_tpm":-1}'], "failed run"),
    ],
)
def test_unusable_logs_are_errors_that_say_why(lines: list[str], message: str) -> None:
    with pytest.raises(benchmark.BenchmarkLogError, match=message):
        benchmark.parse_benchmark_log(lines)


@pytest.mark.parametrize(
    ("annotations", "runtime", "preset", "enabled"),
    [
        ({}, "vllm", True, True),
        ({"kaito.sh/disable-benchmark": "true"}, "vllm", True, False),
        ({"kaito.sh/disable-benchmark": "false"}, "vllm", True, True),
        ({}, "transformers", True, False),
        ({}, "vllm", False, False),
    ],
)
def test_benchmark_runs_by_default_for_vllm_presets_only(annotations, runtime, preset, enabled):
    assert benchmark.benchmark_enabled(annotations, runtime, preset) is enabled
