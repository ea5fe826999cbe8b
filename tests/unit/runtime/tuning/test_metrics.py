"""Progress numbers, the Prometheus endpoint and the JSON log line."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from kaito.runtime.tuning.metrics import (
    ProgressSnapshot,
    ThroughputMeter,
    TuningMetrics,
    format_progress_line,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_meter_measures_only_this_processes_work() -> None:
    clock = _Clock()
    meter = ThroughputMeter(clock)
    meter.start(step=40, tokens_seen=4000)  # resumed at step 40
    clock.now += 10.0
    snap = meter.snapshot(
        step=60, total_steps=160, epoch=1.5, tokens_seen=6000, loss=0.5, learning_rate=1e-3
    )
    assert snap.tokens_per_second == pytest.approx(200.0)
    assert snap.seconds_per_step == pytest.approx(0.5)
    assert snap.eta_seconds == pytest.approx(50.0)
    assert snap.loss == 0.5


def test_meter_reports_no_rate_before_any_step() -> None:
    clock = _Clock()
    meter = ThroughputMeter(clock)
    meter.start(step=0, tokens_seen=0)
    snap = meter.snapshot(step=0, total_steps=10, epoch=0.0, tokens_seen=0, loss=float("nan"))
    assert snap.tokens_per_second is None
    assert snap.eta_seconds is None
    assert snap.loss is None


def test_json_line_holds_every_field() -> None:
    snap = ProgressSnapshot(
        step=10,
        total_steps=150,
        epoch=0.4,
        loss=1.23456789,
        learning_rate=0.005,
        tokens_per_second=4000.123456,
        seconds_per_step=0.05,
        eta_seconds=7.0,
    )
    line = format_progress_line(snap)
    assert "\n" not in line
    assert json.loads(line) == {
        "event": "progress",
        "step": 10,
        "total_steps": 150,
        "epoch": 0.4,
        "loss": 1.23457,
        "learning_rate": 0.005,
        "tokens_per_second": 4000.12,
        "seconds_per_step": 0.05,
        "eta_seconds": 7.0,
    }


def test_metrics_endpoint_serves_the_recorded_values() -> None:
    metrics = TuningMetrics()
    port = metrics.serve(_free_port(), host="127.0.0.1")
    assert port is not None
    try:
        metrics.record(
            ProgressSnapshot(
                step=30,
                total_steps=150,
                epoch=1.2,
                loss=0.75,
                learning_rate=0.005,
                tokens_per_second=4600.0,
                seconds_per_step=0.04,
                eta_seconds=4.8,
            )
        )
        body = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        metrics.close()
    for line in (
        "kaito_tuning_step 30.0",
        "kaito_tuning_total_steps 150.0",
        "kaito_tuning_epoch 1.2",
        "kaito_tuning_loss 0.75",
        "kaito_tuning_learning_rate 0.005",
        "kaito_tuning_tokens_per_second 4600.0",
        "kaito_tuning_eta_seconds 4.8",
    ):
        assert line in body


def test_port_zero_disables_the_endpoint() -> None:
    assert TuningMetrics().serve(0) is None


def test_busy_port_does_not_stop_training() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert TuningMetrics().serve(port, host="127.0.0.1") is None
