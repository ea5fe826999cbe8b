"""Local status is the controller's ``compute_status`` fed with what the supervisor saw."""

from __future__ import annotations

from typing import Any

from kaito.api import conditions, constants, reasons, v1beta1
from kaito.controller import status as controller_status
from kaito.local import status


def _ws(kind: str) -> v1beta1.Workspace:
    body: dict[str, object] = {
        "metadata": {"name": "w", "generation": 1},
        "resource": {"labelSelector": {"matchLabels": {"a": "b"}}},
    }
    if kind == "tuning":
        body["tuning"] = {
            "preset": {"name": "smollm2-135m-instruct"},
            "method": "lora",
            "input": {"urls": ["https://example.com/d.parquet"]},
            "output": {"image": "example.com/a:1", "imagePushSecret": "s"},
        }
    else:
        body["inference"] = {"preset": {"name": "smollm2-135m-instruct"}}
    return v1beta1.Workspace.model_validate(body)


def _cond(ws: v1beta1.Workspace, ctype: str) -> tuple[str, str] | None:
    assert ws.status is not None
    cond = conditions.get_condition(ws.status.conditions, ctype)
    return (cond.status, cond.reason) if cond else None


def _conditions(ws: v1beta1.Workspace) -> dict[str, tuple[str, str]]:
    assert ws.status is not None
    return {c.type: (c.status, c.reason) for c in ws.status.conditions}


def test_a_fresh_run_reads_like_the_controller_with_one_ready_node() -> None:
    ws = _ws("tuning")
    status.start(ws, "host")

    assert ws.status is not None
    assert ws.status.state == constants.STATE_PENDING
    assert ws.status.worker_nodes == ["host"]
    assert ws.status.target_node_count == 1
    assert _conditions(ws) == {
        reasons.CONDITION_RESOURCE_READY: ("True", reasons.REASON_RESOURCE_STATUS_SUCCESS),
        reasons.CONDITION_JOB_STARTED: ("False", reasons.REASON_TUNING_JOB_PENDING),
        reasons.CONDITION_WORKSPACE_SUCCEEDED: ("False", reasons.REASON_WORKSPACE_PENDING),
        # The condition the founding document's view shows, written by the controller's rules.
        reasons.CONDITION_WORKSPACE_READY: ("False", reasons.REASON_WORKSPACE_PENDING),
    }


def test_the_status_is_the_controllers_for_the_equivalent_job() -> None:
    ws = _ws("tuning")
    seen = status.start(ws, "host")
    seen.job = "running"
    status.observe(ws, seen)

    job: dict[str, Any] = {"spec": {"backoffLimit": 0}, "status": {"active": 1}}
    expected = controller_status.compute_status(
        _ws("tuning").to_wire(),
        controller_status.Observation(
            target_node_count=1,
            node_conditions=[
                controller_status.true_condition(
                    reasons.CONDITION_RESOURCE_READY,
                    True,
                    reasons.REASON_RESOURCE_STATUS_SUCCESS,
                    status.LOCAL_NODE_MESSAGE,
                )
            ],
            worker_nodes=["host"],
            job=job,
        ),
    )
    assert ws.status is not None
    assert ws.status.state == expected["state"] == constants.STATE_RUNNING
    assert _conditions(ws) == {
        c["type"]: (c["status"], c["reason"]) for c in expected["conditions"]
    }


def test_tuning_succeeds_fails_or_is_pending_again_after_an_interruption() -> None:
    ws = _ws("tuning")
    seen = status.start(ws, "host")
    seen.job = "succeeded"
    status.observe(ws, seen)
    assert ws.status is not None
    assert ws.status.state == constants.STATE_SUCCEEDED
    assert _cond(ws, reasons.CONDITION_WORKSPACE_READY) == (
        "True",
        reasons.REASON_WORKSPACE_SUCCEEDED,
    )

    failed = _ws("tuning")
    seen = status.start(failed, "host")
    seen.job_failed(status.REASON_LOCAL_STEP_FAILED, "tune exited with code 1")
    status.observe(failed, seen)
    assert failed.status is not None
    assert failed.status.state == constants.STATE_FAILED
    assert _cond(failed, reasons.CONDITION_JOB_STARTED) == (
        "False",
        reasons.REASON_TUNING_JOB_FAILED,
    )
    started = conditions.get_condition(failed.status.conditions, reasons.CONDITION_JOB_STARTED)
    assert started is not None
    assert "tune exited with code 1" in started.message

    interrupted = _ws("tuning")
    seen = status.start(interrupted, "host")
    seen.job = "running"
    status.observe(interrupted, seen)
    seen.job = "pending"
    status.observe(interrupted, seen)
    assert interrupted.status is not None
    assert interrupted.status.state == constants.STATE_PENDING


def test_inference_goes_ready_then_not_ready_when_the_server_stops() -> None:
    ws = _ws("inference")
    seen = status.start(ws, "host")
    seen.server = "starting"
    status.observe(ws, seen)
    assert ws.status is not None
    assert ws.status.state == constants.STATE_PENDING
    assert _cond(ws, reasons.CONDITION_JOB_STARTED) is None

    seen.server_ready()
    status.observe(ws, seen)
    assert ws.status.state == constants.STATE_READY
    assert _cond(ws, reasons.CONDITION_INFERENCE_READY) == (
        "True",
        reasons.REASON_INFERENCE_STATUS_SUCCESS,
    )

    seen.server_down(status.REASON_LOCAL_STOPPED, "stopped")
    status.observe(ws, seen)
    assert ws.status.state == constants.STATE_NOT_READY
    assert _cond(ws, reasons.CONDITION_INFERENCE_READY) == ("False", "LocalProcessStopped")


def test_a_server_that_never_became_ready_fails_the_workspace() -> None:
    ws = _ws("inference")
    seen = status.start(ws, "host")
    seen.server_down(status.reason_for_exit(137), "killed")
    status.observe(ws, seen)

    assert ws.status is not None
    # A pod would be restarted (Pending); a local process is not, so the Workspace failed.
    assert ws.status.state == constants.STATE_FAILED
    assert _cond(ws, reasons.CONDITION_INFERENCE_READY) == (
        "False",
        reasons.REASON_CONTAINER_OOM_KILLED,
    )
    assert _cond(ws, reasons.CONDITION_WORKSPACE_SUCCEEDED) == (
        "False",
        reasons.REASON_WORKSPACE_FAILED,
    )


def test_a_served_tuning_workspace_keeps_succeeded_and_gains_inference_ready() -> None:
    ws = _ws("tuning")
    seen = status.start(ws, "host")
    seen.job = "succeeded"
    seen.server_ready()
    status.observe(ws, seen)

    assert ws.status is not None
    assert ws.status.state == constants.STATE_SUCCEEDED
    assert _cond(ws, reasons.CONDITION_INFERENCE_READY) == (
        "True",
        reasons.REASON_INFERENCE_STATUS_SUCCESS,
    )
    assert status.is_active(ws)


def test_lost_runner_fails_running_tuning_and_unreadies_inference() -> None:
    tuning = _ws("tuning")
    seen = status.start(tuning, "host")
    seen.job = "running"
    status.observe(tuning, seen)
    status.mark_runner_lost(tuning, "gone")
    assert tuning.status is not None
    assert tuning.status.state == constants.STATE_FAILED
    assert not status.is_active(tuning)

    serving = _ws("inference")
    seen = status.start(serving, "host")
    seen.server_ready()
    status.observe(serving, seen)
    status.mark_runner_lost(serving, "gone")
    assert serving.status is not None
    assert serving.status.state == constants.STATE_NOT_READY
    assert _cond(serving, reasons.CONDITION_INFERENCE_READY) == (
        "False",
        status.REASON_LOCAL_RUNNER_LOST,
    )
    assert not status.is_active(serving)


def test_a_benchmark_result_becomes_performance_and_benchmark_completed() -> None:
    from kaito.api import benchmark

    ws = _ws("inference")
    seen = status.start(ws, "host")
    seen.server_ready()
    seen.benchmark_error = "no KAITO_BENCHMARK_RESULT line found in the server log"
    status.observe(ws, seen)
    assert _cond(ws, reasons.CONDITION_BENCHMARK_COMPLETED) == ("False", "BenchmarkFailed")
    assert ws.status is not None
    assert ws.status.performance is None

    line = benchmark.format_line(benchmark.RESULT_TAG, {"vllm_total_tpm": 900})
    seen.benchmark_error = None
    seen.performance = benchmark.parse_benchmark_log([line]).to_wire()
    status.observe(ws, seen)
    assert _cond(ws, reasons.CONDITION_BENCHMARK_COMPLETED) == ("True", "BenchmarkCompleted")
    wire = ws.to_wire()["status"]["performance"]
    assert wire["metrics"]["peakTokensPerMinute"]["value"] == "900"
