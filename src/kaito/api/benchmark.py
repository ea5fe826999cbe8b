"""The post-load benchmark's log lines and the ``status.performance`` they become.

Upstream's inference pod benchmarks its server once the model is loaded and prints two tagged
lines to the container log; its controller reads the pod's log tail and records the last result
as ``status.performance.metrics.peakTokensPerMinute``. ``kaito-serve --kaito-benchmark`` prints the
same lines (so either side can read the other's), and the local supervisor reads them from the
server's log file. Both sides use this module: one format, one parser.

Line format: ``<TAG> <RFC 3339 time> <JSON>``; the tag may be preceded by a logger's prefix.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kaito.api import constants
from kaito.api.v1beta1 import Metric, Performance

RESULT_TAG = constants.BENCHMARK_RESULT_LOG_PREFIX
CONFIG_TAG = constants.BENCHMARK_CONFIG_LOG_PREFIX
METRIC_PEAK_TPM = "peakTokensPerMinute"
DESCRIPTION = "stress/high-concurrency"
UNIT = "tokens/min"
# Result payload key (tokens per minute over the whole run), as upstream's entrypoint writes it.
KEY_TOTAL_TPM = "vllm_total_tpm"
# Config payload keys and the metric config names they become.
_CONFIG_KEYS = {
    "duration_sec": "durationSec",
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "max_concurrency": "maxConcurrency",
}


class BenchmarkLogError(ValueError):
    """The log holds no usable benchmark result; the message says why."""


def benchmark_enabled(annotations: Mapping[str, str], runtime: str, has_preset: bool) -> bool:
    """Whether a Workspace runs the post-load benchmark (upstream's rule).

    On unless ``kaito.sh/disable-benchmark`` is ``"true"``; only vLLM preset workloads run it.
    """
    disabled = annotations.get(constants.ANNOTATION_DISABLE_BENCHMARK) == "true"
    return not disabled and runtime == constants.RUNTIME_VLLM and has_preset


def format_line(tag: str, payload: Mapping[str, Any], now: dt.datetime | None = None) -> str:
    """One tagged log line (no newline)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{tag} {stamp} {json.dumps(dict(payload), separators=(',', ':'))}"


def _payload(line: str, tag: str) -> str | None:
    index = line.find(tag)
    if index < 0:
        return None
    rest = line[index + len(tag) :].strip()
    _, _, payload = rest.partition(" ")  # skip the time
    return payload.strip() or None


def parse_benchmark_log(
    lines: Iterable[str], runtime_config: Mapping[str, str] | None = None
) -> Performance:
    """The ``status.performance`` of the last benchmark result in ``lines``.

    Args:
        lines: Log lines (a pod's log tail or a local server's log file).
        runtime_config: Extra metric config (``engine``, ``quantization``, ...).

    Raises:
        BenchmarkLogError: no result line, a malformed one, or a failed run (a rate of 0 or less).
    """
    result: str | None = None
    config: str | None = None
    for line in lines:
        found = _payload(line, RESULT_TAG)
        if found is not None:
            result = found
            continue
        found = _payload(line, CONFIG_TAG)
        if found is not None:
            config = found
    if result is None:
        raise BenchmarkLogError(f"no {RESULT_TAG} line found in the server log")
    try:
        data = json.loads(result)
        tpm = float(data[KEY_TOTAL_TPM])
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchmarkLogError(f"malformed benchmark result {result!r}") from exc
    if not tpm > 0:
        raise BenchmarkLogError(f"benchmark failed: {tpm:g} tokens/min indicates a failed run")
    metric_config: dict[str, str] = {}
    if config is not None:
        try:
            raw = json.loads(config)
        except ValueError:
            raw = {}
        if isinstance(raw, dict):
            metric_config = {
                name: str(int(raw[key])) for key, name in _CONFIG_KEYS.items() if key in raw
            }
    metric_config.update(runtime_config or {})
    value = f"{tpm:.6f}".rstrip("0").rstrip(".")
    metric = Metric(description=DESCRIPTION, value=value, unit=UNIT, config=metric_config)
    return Performance(metrics={METRIC_PEAK_TPM: metric})
