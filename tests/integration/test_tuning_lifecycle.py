"""Tuning Workspaces: the Job's success and failure drive JobStarted, WorkspaceSucceeded, state."""

from __future__ import annotations

from tests.fixtures.samples import tuning_workspace
from tests.integration.conftest import Harness, condition, is_true, required_condition


async def test_tuning_workspace_reaches_state_succeeded(harness: Harness) -> None:
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-ok"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("tune-ok"))
            and (w.get("status") or {}).get("state") == "Succeeded"
            and w
        ),
        what="state Succeeded",
    )
    assert is_true(ws, "JobStarted")
    assert required_condition(ws, "JobStarted")["reason"] == "WorkspaceTuningJobStatusStarted"
    assert is_true(ws, "WorkspaceSucceeded")
    assert is_true(ws, "ResourceReady")
    assert condition(ws, "InferenceReady") is None
    assert ws["status"]["targetNodeCount"] == 1
    jobs = harness.objects("jobs")
    assert [j["metadata"]["name"] for j in jobs] == ["tune-ok"]
    assert jobs[0]["metadata"]["annotations"]["workspace.kaito.io/revision"] == "1"
    # No tuning.config: the default qlora template was copied into the Workspace namespace.
    cm = harness.get("configmaps", "qlora-params-template")
    assert cm is not None
    assert "training_config" in cm["data"]["training_config.yaml"]


async def test_default_tuning_config_is_copied_from_the_operator_namespace(
    harness: Harness,
) -> None:
    # `kubectl apply -k config/default` installed the template; an administrator edits it.
    installed = harness.get("configmaps", "qlora-params-template", "kaito-system")
    assert installed is not None
    text = installed["data"]["training_config.yaml"]
    assert 'output_dir: "/mnt/results"' in text
    custom = text.replace('output_dir: "/mnt/results"', 'output_dir: "/mnt/custom"')
    harness.patch(
        "configmaps",
        "qlora-params-template",
        {"data": {"training_config.yaml": custom}},
        "kaito-system",
    )
    try:
        await _copied_template_is_used(harness)
    finally:
        harness.patch(
            "configmaps", "qlora-params-template", {"data": installed["data"]}, "kaito-system"
        )


async def _copied_template_is_used(harness: Harness) -> None:
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-copy"))
    await harness.wait_for(lambda: harness.objects("jobs"), what="Job created")
    cm = harness.existing("configmaps", "qlora-params-template")
    assert "/mnt/custom" in cm["data"]["training_config.yaml"]
    job = harness.objects("jobs")[0]
    assert "/mnt/custom" in str(job["spec"]["template"]["spec"])


async def test_a_failed_pod_is_retried_and_a_retry_that_succeeds_ends_succeeded(
    harness: Harness,
) -> None:
    """The real Job controller retries a failed pod (backoffLimit 6); the Workspace waits for it."""
    harness.kubelet.job_outcomes["tune-retry"] = ["fail", "succeed"]
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-retry"))

    retrying = await harness.wait_for(
        lambda: (
            (w := harness.workspace("tune-retry"))
            and "retrying" in ((condition(w, "JobStarted") or {}).get("message") or "")
            and w
        ),
        what="JobStarted saying the Job is retrying",
    )
    assert is_true(retrying, "JobStarted")
    assert retrying["status"]["state"] == "Running"
    assert (condition(retrying, "WorkspaceSucceeded") or {}).get("status") != "True"

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("tune-retry"))
            and (w.get("status") or {}).get("state") == "Succeeded"
            and w
        ),
        within=60,  # the Job controller waits 10 s before the retry
        what="state Succeeded after the retry",
    )
    assert is_true(ws, "WorkspaceSucceeded")
    job = harness.existing("jobs", "tune-retry")
    assert job["status"].get("failed") == 1
    assert job["status"].get("succeeded") == 1
    warnings = [e for e in harness.objects("events") if e["type"] == "Warning"]
    assert not [e for e in warnings if e["reason"] == "WorkspaceFailed"], warnings


async def test_a_job_past_its_backoff_limit_sets_state_failed_with_the_job_reason(
    harness: Harness,
) -> None:
    harness.kubelet.job_outcomes["tune-bad"] = "fail"
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-bad"))
    await harness.wait_for(
        lambda: ((harness.get("jobs", "tune-bad") or {}).get("status") or {}).get("failed"),
        what="a failed pod",
    )
    # Six retries take Kubernetes about ten minutes of back-off; an administrator lowering the
    # live Job's limit makes the real Job controller give up now, for the reason it gives then.
    harness.patch("jobs", "tune-bad", {"spec": {"backoffLimit": 0}})

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("tune-bad"))
            and (w.get("status") or {}).get("state") == "Failed"
            and w
        ),
        what="state Failed",
    )
    started = required_condition(ws, "JobStarted")
    assert started["status"] == "False"
    assert started["reason"] == "WorkspaceTuningJobStatusFailed"
    assert "BackoffLimitExceeded" in started["message"]
    succeeded = required_condition(ws, "WorkspaceSucceeded")
    assert succeeded["status"] == "False"
    assert succeeded["reason"] == "workspaceFailed"


async def test_changed_tuning_spec_replaces_the_job(harness: Harness) -> None:
    harness.kubelet.job_outcomes["tune-change"] = "hang"
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-change"))
    first = await harness.wait_for(
        lambda: harness.get("jobs", "tune-change"),
        what="first Job",
    )
    harness.patch(
        "workspaces",
        "tune-change",
        {"tuning": {"input": {"urls": ["https://example.com/other.parquet"]}}},
    )

    def replaced() -> dict | None:
        job = harness.get("jobs", "tune-change")
        if job and job["metadata"]["uid"] != first["metadata"]["uid"]:
            return job
        return None

    job = await harness.wait_for(replaced, what="replacement Job")
    assert job["metadata"]["annotations"]["workspace.kaito.io/revision"] == "2"
    assert "other.parquet" in str(job["spec"]["template"]["spec"])
    reasons = [e["reason"] for e in harness.objects("events")]
    assert "WorkloadReplaced" in reasons
