"""The benchmark result read from the inference pod's log into status, once (as upstream)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kaito.api import benchmark as api_benchmark
from kaito.api.workspace import parse_workspace
from kaito.controller import benchmark
from kaito.controller.context import ControllerContext
from kaito.controller.status import Observation, compute_status, true_condition
from kaito.k8s import errors
from kaito.manifests.plan import ManifestSettings

RESOURCE_OK = [true_condition("ResourceReady", True, "workspaceResourceStatusSuccess", "ok")]
RESULT = api_benchmark.format_line(api_benchmark.RESULT_TAG, {"vllm_total_tpm": 5000})


def _sts() -> dict:
    return {
        "metadata": {"name": "w", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                   "updatedReplicas": 1, "currentReplicas": 1},
    }  # fmt: skip


def _body(annotations: dict[str, str] | None = None, status: dict | None = None) -> dict:
    body: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w", "namespace": "ns", "generation": 2,
                     "annotations": annotations or {}},
        "resource": {"instanceType": "Standard_NC24ads_A100_v4",
                     "labelSelector": {"matchLabels": {"a": "b"}}},
        "inference": {"preset": {"name": "phi-4-mini-instruct"}},
    }  # fmt: skip
    if status is not None:
        body["status"] = status
    return body


def _pod(name: str = "w-0", ready: bool = True) -> dict:
    status = "True" if ready else "False"
    return {
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": status}]},
    }


def _cond(status: dict, ctype: str) -> dict | None:
    return next((c for c in status["conditions"] if c["type"] == ctype), None)


def test_a_read_result_is_recorded_with_benchmark_completed() -> None:
    perf = api_benchmark.parse_benchmark_log([RESULT]).to_wire()
    obs = Observation(1, RESOURCE_OK, ["n"], statefulset=_sts(), performance=perf)
    status = compute_status(_body(), obs)
    assert status["performance"]["metrics"]["peakTokensPerMinute"]["value"] == "5000"
    completed = _cond(status, "BenchmarkCompleted")
    assert completed is not None
    assert (completed["status"], completed["reason"]) == ("True", "BenchmarkCompleted")
    assert completed["observedGeneration"] == 2
    assert status["state"] == "Ready"


def test_a_recorded_result_is_kept_and_never_replaced() -> None:
    perf = api_benchmark.parse_benchmark_log([RESULT]).to_wire()
    first = compute_status(_body(), Observation(1, RESOURCE_OK, ["n"], statefulset=_sts(),
                                                performance=perf))  # fmt: skip
    later = compute_status(
        _body(status=first), Observation(1, RESOURCE_OK, ["n"], statefulset=_sts(),
                                         benchmark_error="should not matter")
    )  # fmt: skip
    assert later["performance"] == first["performance"]
    completed = _cond(later, "BenchmarkCompleted")
    assert completed is not None
    assert completed["status"] == "True"


def test_a_failed_read_is_reported_without_touching_readiness() -> None:
    obs = Observation(1, RESOURCE_OK, ["n"], statefulset=_sts(), benchmark_error="no line")
    status = compute_status(_body(), obs)
    failed = _cond(status, "BenchmarkCompleted")
    assert failed is not None
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "False",
        "BenchmarkFailed",
        "no line",
    )
    assert status["state"] == "Ready"
    assert "performance" not in status


def test_a_failed_read_is_retried_only_after_the_retry_interval() -> None:
    """A kubelet that refuses logs must not cost a log read on every pass."""
    obs = Observation(1, RESOURCE_OK, ["n"], statefulset=_sts(), benchmark_error="no line")
    failed_status = compute_status(_body(), obs)
    failed = _cond(failed_status, "BenchmarkCompleted")
    assert failed is not None
    failed_at = dt.datetime.fromisoformat(failed["lastTransitionTime"])
    ws = parse_workspace(_body(status=failed_status))
    soon = failed_at + dt.timedelta(seconds=benchmark.RETRY_AFTER_S - 1)
    later = failed_at + dt.timedelta(seconds=benchmark.RETRY_AFTER_S + 1)
    assert benchmark.benchmark_pod(ws, [_pod()], now=soon) is None
    assert benchmark.benchmark_pod(ws, [_pod()], now=later) == "w-0"

    # A pass that did not read keeps the failure (and its time) instead of dropping it.
    quiet = compute_status(
        _body(status=failed_status), Observation(1, RESOURCE_OK, ["n"], statefulset=_sts())
    )
    kept = _cond(quiet, "BenchmarkCompleted")
    assert kept is not None
    assert (kept["status"], kept["message"], kept["lastTransitionTime"]) == (
        "False",
        "no line",
        failed["lastTransitionTime"],
    )


@pytest.mark.parametrize(
    ("annotations", "pods", "status", "expected"),
    [
        ({}, [_pod()], None, "w-0"),
        ({}, [_pod(ready=False)], None, None),
        ({}, [_pod("w-1")], None, None),
        ({"kaito.sh/disable-benchmark": "true"}, [_pod()], None, None),
        ({"kaito.sh/runtime": "transformers"}, [_pod()], None, None),
        ({}, [_pod()], {"conditions": [{"type": "BenchmarkCompleted", "status": "True",
                                        "reason": "BenchmarkCompleted",
                                        "lastTransitionTime": "2026-12-05T20:00:00Z",
                                        "message": "done"}]}, None),
    ],
)  # fmt: skip
def test_the_log_is_read_only_when_a_result_is_due(annotations, pods, status, expected) -> None:
    ws = parse_workspace(_body(annotations, status))
    assert benchmark.benchmark_pod(ws, pods) == expected


class _Cluster:
    def __init__(self, lines: list[str] | Exception) -> None:
        self.lines = lines
        self.reads: list[tuple[str, str, str, str, int]] = []

    async def pod_log(self, kind, name, namespace, *, container, tail_lines, limit_s):
        self.reads.append((kind.plural, name, namespace, container, tail_lines))
        if isinstance(self.lines, Exception):
            raise self.lines
        return self.lines


@pytest.mark.parametrize(
    ("lines", "value", "error"),
    [
        (["starting", RESULT], "5000", None),
        (["starting"], None, "pod w-0: no KAITO_BENCHMARK_RESULT line"),
        (errors.TransportError("get pods/log: no answer in 10s"), None, "no answer in 10s"),
    ],
)
async def test_observe_reads_the_first_pods_server_container(lines, value, error) -> None:
    cluster = _Cluster(lines)
    ctx = ControllerContext(cluster=cluster, settings=ManifestSettings())  # type: ignore[arg-type]
    obs = Observation(pods=[_pod()])
    await benchmark.observe_benchmark(ctx, parse_workspace(_body()), obs, {})
    assert cluster.reads == [("pods/log", "w-0", "ns", "w", 500)]
    if value is None:
        assert obs.performance is None
        assert error in (obs.benchmark_error or "")
    else:
        assert obs.performance is not None
        assert obs.performance["metrics"]["peakTokensPerMinute"]["value"] == value
        assert obs.performance["metrics"]["peakTokensPerMinute"]["config"] == {"engine": "vllm"}
