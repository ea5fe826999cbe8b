"""Prometheus metrics of the inference server (ARCHITECTURE.md decision 9).

Each app gets its own registry so several servers (tests, the local mode) can live in one process.
Queue depth and running rows are read from the engine at scrape time rather than mirrored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kaito.runtime.inference.engines.base import EngineStats

PREFIX = "kaito_inference"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _EngineCollector(Collector):
    def __init__(self, stats: Callable[[], EngineStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        waiting = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Requests waiting for a batch slot.")
        running = GaugeMetricFamily(f"{PREFIX}_running_sequences", "Sequences being decoded.")
        waiting.add_metric([], stats.waiting if stats else 0)
        running.add_metric([], stats.running if stats else 0)
        yield waiting
        yield running


class ServerMetrics:
    """The server's metric families, registered in a private registry."""

    def __init__(self, stats: Callable[[], EngineStats | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            f"{PREFIX}_prompt_tokens",
            "Prompt tokens processed.",
            ["model"],
            registry=self.registry,
        )
        self.completion_tokens = Counter(
            f"{PREFIX}_completion_tokens",
            "Tokens generated.",
            ["model"],
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "Time from request arrival to its first generated token.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.request_latency = Histogram(
            f"{PREFIX}_request_latency_seconds",
            "Time from request arrival to its last generated token.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_EngineCollector(stats))

    def render(self) -> bytes:
        """The text exposition of every metric."""
        data: bytes = generate_latest(self.registry)
        return data
