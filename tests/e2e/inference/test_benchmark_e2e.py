"""``kaito-serve --kaito-benchmark`` on the tiny model: /health waits, then the log holds a result
that parses into status.performance (the lines the operator and ``kaito run`` read)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kaito.api import benchmark as api_benchmark
from tests.e2e.inference.conftest import API_KEY, BASE, start_server, stop_server, wait_ready

pytestmark = pytest.mark.slow


def test_benchmark_runs_before_health_passes_and_logs_a_positive_rate(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    live = start_server(
        ["--model", str(tiny_model_dir), "--served-model-name", BASE, "--api-key", API_KEY,
         "--kaito-adapters-dir", str(tmp_path / "none"), "--threads", "1",
         "--max-model-len", "128", "--kaito-benchmark", "--kaito-benchmark-duration", "3",
         "--kaito-benchmark-concurrency", "2", "--kaito-benchmark-input-tokens", "16",
         "--kaito-benchmark-output-tokens", "4"],
        log,
    )  # fmt: skip
    try:
        wait_ready(live)
        text = log.read_text()
        assert api_benchmark.RESULT_TAG in text  # printed before /health passed
        perf = api_benchmark.parse_benchmark_log(text.splitlines())
        metric = perf.metrics[api_benchmark.METRIC_PEAK_TPM]
        assert float(metric.value) > 0
        assert metric.config["inputTokens"] == "16"
        # The benchmark authenticated with the server's own key; clients still need it.
        assert httpx.get(live.v1 + "/models", timeout=5).status_code == 401
    finally:
        stop_server(live)
