from __future__ import annotations

from kaito.api import conditions, constants, v1beta1
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


def test_tuning_goes_pending_running_succeeded_with_upstream_reasons() -> None:
    ws = _ws("tuning")
    status.mark_created(ws, "host")
    assert ws.status is not None
    assert ws.status.state == constants.STATE_PENDING
    assert _cond(ws, constants.CONDITION_RESOURCE_READY) == (
        "True",
        constants.REASON_RESOURCE_STATUS_SUCCESS,
    )
    assert _cond(ws, constants.CONDITION_JOB_STARTED) == (
        "False",
        constants.REASON_TUNING_JOB_PENDING,
    )
    assert _cond(ws, constants.CONDITION_INFERENCE_READY) is None

    status.mark_job_started(ws, "training")
    assert ws.status.state == constants.STATE_RUNNING
    assert _cond(ws, constants.CONDITION_JOB_STARTED) == (
        "True",
        constants.REASON_TUNING_JOB_STARTED,
    )

    status.mark_job_succeeded(ws, "done")
    assert ws.status.state == constants.STATE_SUCCEEDED
    assert _cond(ws, constants.CONDITION_WORKSPACE_SUCCEEDED) == (
        "True",
        constants.REASON_WORKSPACE_SUCCEEDED,
    )


def test_failed_tuning_sets_job_and_summary_conditions_false() -> None:
    ws = _ws("tuning")
    status.mark_created(ws, "host")
    status.mark_job_started(ws, "training")
    status.mark_job_failed(ws, "tune exited with code 1")

    assert ws.status is not None
    assert ws.status.state == constants.STATE_FAILED
    assert _cond(ws, constants.CONDITION_JOB_STARTED) == (
        "False",
        constants.REASON_TUNING_JOB_FAILED,
    )
    assert _cond(ws, constants.CONDITION_WORKSPACE_SUCCEEDED) == (
        "False",
        constants.REASON_WORKSPACE_FAILED,
    )


def test_interrupted_tuning_is_pending_again_not_failed() -> None:
    ws = _ws("tuning")
    status.mark_created(ws, "host")
    status.mark_job_started(ws, "training")
    status.mark_job_interrupted(ws, "stopped")

    assert ws.status is not None
    assert ws.status.state == constants.STATE_PENDING
    assert _cond(ws, constants.CONDITION_JOB_STARTED) == (
        "False",
        constants.REASON_TUNING_JOB_PENDING,
    )


def test_inference_goes_ready_then_not_ready_when_the_server_stops() -> None:
    ws = _ws("inference")
    status.mark_created(ws, "host")
    status.mark_inference_pending(ws, "loading")
    assert ws.status is not None
    assert ws.status.state == constants.STATE_PENDING

    status.mark_inference_ready(ws, "serving")
    assert ws.status.state == constants.STATE_READY
    assert _cond(ws, constants.CONDITION_INFERENCE_READY) == (
        "True",
        constants.REASON_INFERENCE_STATUS_SUCCESS,
    )
    assert _cond(ws, constants.CONDITION_WORKSPACE_SUCCEEDED) == (
        "True",
        constants.REASON_WORKSPACE_SUCCEEDED,
    )

    status.mark_inference_down(ws, status.REASON_LOCAL_STOPPED, "stopped", ever_ready=True)
    assert ws.status.state == constants.STATE_NOT_READY
    assert _cond(ws, constants.CONDITION_INFERENCE_READY) == ("False", "LocalProcessStopped")


def test_a_server_that_never_became_ready_fails_the_workspace() -> None:
    ws = _ws("inference")
    status.mark_created(ws, "host")
    status.mark_inference_down(ws, status.reason_for_exit(137), "killed", ever_ready=False)

    assert ws.status is not None
    assert ws.status.state == constants.STATE_FAILED
    assert _cond(ws, constants.CONDITION_INFERENCE_READY) == (
        "False",
        constants.REASON_CONTAINER_OOM_KILLED,
    )


def test_a_served_tuning_workspace_keeps_succeeded_and_gains_inference_ready() -> None:
    ws = _ws("tuning")
    status.mark_created(ws, "host")
    status.mark_job_succeeded(ws, "done")
    status.mark_inference_pending(ws, "loading")
    status.mark_inference_ready(ws, "serving")

    assert ws.status is not None
    assert ws.status.state == constants.STATE_SUCCEEDED
    assert _cond(ws, constants.CONDITION_INFERENCE_READY) == (
        "True",
        constants.REASON_INFERENCE_STATUS_SUCCESS,
    )
    assert status.is_active(ws)


def test_lost_runner_fails_running_tuning_and_unreadies_inference() -> None:
    tuning = _ws("tuning")
    status.mark_created(tuning, "host")
    status.mark_job_started(tuning, "training")
    status.mark_runner_lost(tuning, "gone")
    assert tuning.status is not None
    assert tuning.status.state == constants.STATE_FAILED

    serving = _ws("inference")
    status.mark_created(serving, "host")
    status.mark_inference_ready(serving, "serving")
    status.mark_runner_lost(serving, "gone")
    assert serving.status is not None
    assert serving.status.state == constants.STATE_NOT_READY
    assert not status.is_active(serving)


def test_a_benchmark_result_becomes_performance_and_benchmark_completed() -> None:
    from kaito.api import benchmark

    ws = _ws("inference")
    status.mark_benchmark(ws, None, "no KAITO_BENCHMARK_RESULT line found in the server log")
    assert _cond(ws, constants.CONDITION_BENCHMARK_COMPLETED) == ("False", "BenchmarkFailed")
    assert ws.status is not None
    assert ws.status.performance is None

    line = benchmark.format_line(benchmark.RESULT_TAG, {"vllm_total_tpm": 900})
    status.mark_benchmark(ws, benchmark.parse_benchmark_log([line]), "recorded")
    assert _cond(ws, constants.CONDITION_BENCHMARK_COMPLETED) == ("True", "BenchmarkCompleted")
    wire = ws.to_wire()["status"]["performance"]
    assert wire["metrics"]["peakTokensPerMinute"]["value"] == "900"
