"""Training progress as Prometheus gauges and as one JSON line per logging step.

A tuning Job can run for hours; whoever watches it (a Prometheus scrape, ``kubectl logs``, a
human at a terminal) wants the same few numbers: step, epoch, loss, learning rate, tokens per
second and the time left. :class:`ThroughputMeter` computes the rates from what the trainer
reports, :class:`TuningMetrics` exposes them on ``/metrics`` and :func:`format_progress_line`
renders the log line. Nothing here knows about torch.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

METRIC_PREFIX = "kaito_tuning_"


@dataclass(frozen=True)
class ProgressSnapshot:
    """The numbers reported at a logging step."""

    step: int
    total_steps: int
    epoch: float
    loss: float | None
    learning_rate: float | None
    tokens_per_second: float | None
    seconds_per_step: float | None
    eta_seconds: float | None


class ThroughputMeter:
    """Rates over the current process's steps (a resumed run measures only its own work)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._start_time: float | None = None
        self._start_step = 0
        self._start_tokens = 0

    def start(self, step: int, tokens_seen: int) -> None:
        """Mark where this process's work begins (step and token count at train start)."""
        self._start_time = self._clock()
        self._start_step = step
        self._start_tokens = tokens_seen

    def snapshot(
        self,
        *,
        step: int,
        total_steps: int,
        epoch: float,
        tokens_seen: int,
        loss: float | None = None,
        learning_rate: float | None = None,
    ) -> ProgressSnapshot:
        """Compute tokens/s, s/step and ETA for ``step`` given the cumulative token count."""
        if self._start_time is None:
            self.start(step, tokens_seen)
        assert self._start_time is not None
        elapsed = max(self._clock() - self._start_time, 1e-9)
        steps_done = step - self._start_step
        tokens_done = tokens_seen - self._start_tokens
        per_step = elapsed / steps_done if steps_done > 0 else None
        return ProgressSnapshot(
            step=step,
            total_steps=total_steps,
            epoch=round(epoch, 4),
            loss=_finite(loss),
            learning_rate=_finite(learning_rate),
            tokens_per_second=tokens_done / elapsed if tokens_done > 0 else None,
            seconds_per_step=per_step,
            eta_seconds=per_step * max(total_steps - step, 0) if per_step is not None else None,
        )


class TuningMetrics:
    """Prometheus gauges for one tuning run, optionally served over HTTP."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = CollectorRegistry()

        def gauge(name: str, doc: str) -> Any:
            return Gauge(METRIC_PREFIX + name, doc, registry=self.registry)

        self._step = gauge("step", "Optimizer steps completed (global step).")
        self._total = gauge("total_steps", "Optimizer steps the run will take in total.")
        self._epoch = gauge("epoch", "Current (fractional) epoch.")
        self._loss = gauge("loss", "Training loss at the last logging step.")
        self._lr = gauge("learning_rate", "Learning rate at the last logging step.")
        self._tps = gauge("tokens_per_second", "Training tokens processed per second.")
        self._sps = gauge("seconds_per_step", "Wall-clock seconds per optimizer step.")
        self._eta = gauge("eta_seconds", "Estimated seconds until training finishes.")
        self._server: Any = None

    def serve(self, port: int, host: str = "0.0.0.0") -> int | None:
        """Serve ``/metrics`` on ``port`` (0 disables); return the port, or ``None`` if off.

        A busy port only logs a warning: metrics must never stop a training run.
        """
        if port <= 0:
            return None
        from prometheus_client import start_http_server

        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            logger.warning("metrics disabled: cannot listen on port %d: %s", port, exc.strerror)
            return None
        self._server = server
        bound: int = server.server_address[1]
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def record(self, snap: ProgressSnapshot) -> None:
        """Publish a snapshot (fields that are ``None`` keep their last value)."""
        self._step.set(snap.step)
        self._total.set(snap.total_steps)
        self._epoch.set(snap.epoch)
        for gauge, value in (
            (self._loss, snap.loss),
            (self._lr, snap.learning_rate),
            (self._tps, snap.tokens_per_second),
            (self._sps, snap.seconds_per_step),
            (self._eta, snap.eta_seconds),
        ):
            if value is not None:
                gauge.set(value)

    def close(self) -> None:
        """Stop the HTTP server if one was started."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def format_progress_line(snap: ProgressSnapshot) -> str:
    """One JSON object per logging step, for logs that are not a terminal."""
    fields = {k: _round(v) for k, v in asdict(snap).items()}
    return json.dumps({"event": "progress", **fields}, separators=(",", ":"))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value
