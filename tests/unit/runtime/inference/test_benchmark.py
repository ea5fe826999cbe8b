"""kaito-serve's post-load benchmark: /health waits for it, and it prints upstream's lines."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from kaito.api import benchmark as lines
from kaito.runtime.inference import benchmark
from kaito.runtime.inference.frontend import install_common
from kaito.runtime.inference.metrics import ServerMetrics
from kaito.runtime.inference.options import BenchmarkConfig, parse_serve_args

FAST = BenchmarkConfig(duration_s=0.3, input_tokens=8, output_tokens=4, concurrency=3)


def _app(status: int = 200) -> tuple[FastAPI, list[dict]]:
    app = FastAPI()
    app.state.engine = None
    app.state.ready = lambda: True
    app.state.metrics = ServerMetrics(lambda: None)
    seen: list[dict] = []

    @app.post("/v1/completions")
    async def completions(body: dict) -> JSONResponse:
        seen.append(body)
        await asyncio.sleep(0.01)
        return JSONResponse({"usage": {"total_tokens": 12}}, status_code=status)

    install_common(app, parse_serve_args(["--model=m"]))
    return app, seen


async def test_health_waits_for_the_benchmark_which_prints_a_parseable_result(capsys) -> None:
    app, seen = _app()
    transport = httpx.ASGITransport(app)
    app.state.benchmark_pending = True
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health")).status_code == 503
        await benchmark.benchmark_when_ready(app, "http://t", "m", FAST, None, transport)
        assert (await client.get("/health")).status_code == 200
    assert seen[0]["max_tokens"] == 4
    assert seen[0]["model"] == "m"
    perf = lines.parse_benchmark_log(capsys.readouterr().out.splitlines())
    metric = perf.metrics[lines.METRIC_PEAK_TPM]
    # 12 tokens per request, requests of >= 10 ms on 3 clients: at most 3 * 100 * 12 per second.
    assert 0 < float(metric.value) <= 3 * 100 * 12 * 60
    assert metric.config["maxConcurrency"] == "3"


async def test_a_failed_run_reports_minus_one_and_serves_anyway(capsys) -> None:
    app, _ = _app(status=500)
    app.state.benchmark_pending = True
    await benchmark.benchmark_when_ready(app, "http://t", "m", FAST, None, httpx.ASGITransport(app))
    assert app.state.benchmark_pending is False
    with pytest.raises(lines.BenchmarkLogError, match="failed run"):
        lines.parse_benchmark_log(capsys.readouterr().out.splitlines())


def test_flags_turn_the_benchmark_on_with_its_load() -> None:
    assert parse_serve_args(["--model=m"]).benchmark is None
    options = parse_serve_args(
        ["--model=m", "--kaito-benchmark", "--kaito-benchmark-duration=5",
         "--kaito-benchmark-concurrency=2"]
    )  # fmt: skip
    assert options.benchmark == BenchmarkConfig(duration_s=5, concurrency=2)
