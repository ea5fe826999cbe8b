"""Prometheus metrics of the operator and the HTTP endpoints serving them and the health probes.

Series: ``kaito_workspaces{state,preset}`` (gauge), ``kaito_reconcile_duration_seconds``
(histogram), ``kaito_reconcile_pass_duration_seconds{calls}`` (the same, by the API requests the
pass made: ``"create nodeclaims+patch-status workspaces"``, ``"none"``...),
``kaito_reconcile_errors_total`` and ``kaito_nodeclaims_created_total`` (counters).
Each operator instance owns its registry, so several can run in one process (tests).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import prometheus_client
from aiohttp import web

Key = tuple[str, str]

BUCKETS = (
    0.002,
    0.005,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)


class OperatorMetrics:
    """The operator's metric families and the per-Workspace facts behind the gauge."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.workspaces = prometheus_client.Gauge(
            "kaito_workspaces",
            "Workspaces by state and preset.",
            ["state", "preset"],
            registry=self.registry,
        )
        self.reconcile_duration = prometheus_client.Histogram(
            "kaito_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.pass_duration = prometheus_client.Histogram(
            "kaito_reconcile_pass_duration_seconds",
            "Duration of one reconcile pass, by the distinct API requests it made.",
            ["calls"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.reconcile_errors = prometheus_client.Counter(
            "kaito_reconcile_errors",
            "Reconcile passes that ended with an error.",
            registry=self.registry,
        )
        self.nodeclaims_created = prometheus_client.Counter(
            "kaito_nodeclaims_created",
            "NodeClaims (or NodePools) created by the operator.",
            registry=self.registry,
        )
        self._facts: dict[Key, tuple[str, str]] = {}
        self.durations: list[float] = []

    def observe_workspace(self, key: Key, state: str | None, preset: str | None) -> None:
        """Record a Workspace's latest state and preset (``None`` state: forget it)."""
        if state is None:
            self._facts.pop(key, None)
        else:
            self._facts[key] = (state, preset or "")
        counts = collections.Counter(self._facts.values())
        self.workspaces.clear()
        for (s, p), n in counts.items():
            self.workspaces.labels(state=s, preset=p).set(n)

    def observe_duration(self, seconds: float, calls: str | None = None) -> None:
        """One reconcile pass took ``seconds`` (and made the API requests named ``calls``)."""
        self.reconcile_duration.observe(seconds)
        if calls is not None:
            self.pass_duration.labels(calls=calls).observe(seconds)
        self.durations.append(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return bytes(prometheus_client.generate_latest(self.registry))


async def start_http(
    host: str, port: int, routes: dict[str, Callable[[], tuple[int, bytes, str]]]
) -> tuple[web.AppRunner, int]:
    """Serve ``routes`` (path -> (status, body, content type)) on ``host:port``; returns port."""

    def wrap(fn: Callable[[], tuple[int, bytes, str]]) -> Callable[[web.Request], object]:
        async def handle(_: web.Request) -> web.Response:
            status, body, ctype = fn()
            return web.Response(status=status, body=body, headers={"Content-Type": ctype})

        return handle

    app = web.Application()
    for path, fn in routes.items():
        app.router.add_get(path, wrap(fn))  # type: ignore[arg-type]
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)
