"""The post-load benchmark ``kaito-serve --kaito-benchmark`` runs against itself.

Upstream measures a freshly loaded server once, before it takes traffic, and reports the
throughput in ``status.performance``. We do the same with our own load generator: once the engine
is ready, ``concurrency`` clients send completions of about ``input_tokens`` prompt tokens and
``output_tokens`` new tokens through the server's public port for ``duration_s`` seconds; the
tokens the responses account for (prompt plus completion), per minute of wall time, are the
result. ``/health`` keeps answering 503 until the run ends, as upstream's startup probe blocks
readiness, so no user request competes with the measurement. The two tagged lines
(``kaito.api.benchmark``) go to stdout, where the container log and the local supervisor's log
file keep them. A failed run is reported with a rate of -1 and the server then serves anyway
(upstream retries on every probe tick instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from kaito.api import benchmark as lines
from kaito.runtime.inference.options import BenchmarkConfig

logger = logging.getLogger(__name__)
_READY_POLL_S = 1.0


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    """What one run measured."""

    tokens_per_minute: float
    requests: int
    mean_latency_ms: float


def _prompt(tokens: int) -> str:
    # One short common word per token for most tokenizers; the usage the server reports is what
    # counts, so the exact prompt length does not matter.
    return " ".join(["hello"] * max(1, tokens))


async def run_load(
    client: httpx.AsyncClient, model: str, config: BenchmarkConfig
) -> BenchmarkResult:
    """Drive ``client`` (based at the server) for ``config.duration_s`` and measure it.

    Raises:
        RuntimeError: no request completed (every answer was an error).
    """
    body = {
        "model": model,
        "prompt": _prompt(config.input_tokens),
        "max_tokens": config.output_tokens,
        "temperature": 0,
        "ignore_eos": True,  # a vLLM extra (full-length answers); our engine logs and ignores it
    }
    deadline = time.monotonic() + config.duration_s
    tokens = 0
    latencies: list[float] = []
    errors: list[str] = []

    async def worker() -> None:
        nonlocal tokens
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = await client.post("/v1/completions", json=body)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                await asyncio.sleep(0.1)
                continue
            usage: dict[str, Any] = response.json().get("usage") or {}
            tokens += int(usage.get("total_tokens") or 0)
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(max(1, config.concurrency))))
    elapsed = time.monotonic() - started
    if not latencies:
        raise RuntimeError(errors[-1] if errors else "no request completed")
    return BenchmarkResult(
        tokens_per_minute=tokens / elapsed * 60.0,
        requests=len(latencies),
        mean_latency_ms=1000.0 * sum(latencies) / len(latencies),
    )


def _emit(tag: str, payload: dict[str, Any]) -> None:
    sys.stdout.write(lines.format_line(tag, payload) + "\n")
    sys.stdout.flush()


async def benchmark_when_ready(
    app: FastAPI,
    base_url: str,
    model: str,
    config: BenchmarkConfig,
    api_key: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """Wait for the engine, run the load, print the tagged lines, then let ``/health`` pass.

    ``transport`` replaces the network (tests drive the app in process).
    """
    from kaito.runtime.inference import frontend

    try:
        # The engines expose readiness as a flag, not an event: poll it as /health does.
        while not frontend.engine_ready(app):  # noqa: ASYNC110
            await asyncio.sleep(_READY_POLL_S)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(config.duration_s + 600.0, connect=10.0)
        tpm = -1.0
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        ) as client:
            try:
                result = await run_load(client, model, config)
                tpm = result.tokens_per_minute
                logger.info(
                    "benchmark: %.0f tokens/min over %d requests (mean latency %.0f ms)",
                    tpm,
                    result.requests,
                    result.mean_latency_ms,
                )
            except (httpx.HTTPError, RuntimeError, ValueError) as exc:
                logger.error("benchmark failed: %s", exc)
        _emit(
            lines.CONFIG_TAG,
            {
                "duration_sec": int(config.duration_s),
                "input_tokens": config.input_tokens,
                "output_tokens": config.output_tokens,
                "max_concurrency": config.concurrency,
            },
        )
        _emit(lines.RESULT_TAG, {lines.KEY_TOTAL_TPM: round(tpm, 3)})
    finally:
        app.state.benchmark_pending = False


def install(
    app: FastAPI, base_url: str, model: str, config: BenchmarkConfig, api_key: str | None
) -> None:
    """Hold ``/health`` at 503 and run the benchmark from the app's lifespan once it is up."""
    app.state.benchmark_pending = True
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(
                benchmark_when_ready(application, base_url, model, config, api_key)
            )
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    app.router.lifespan_context = lifespan
