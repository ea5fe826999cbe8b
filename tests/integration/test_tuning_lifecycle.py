"""Tuning Workspaces: the Job's success and failure drive JobStarted, WorkspaceSucceeded, state."""

from __future__ import annotations

from tests.fixtures.emulator.samples import tuning_workspace
from tests.integration.conftest import Harness, condition, is_true

CUSTOM_TRAINING_CONFIG = "training_config:\n  TrainingArguments:\n    output_dir: /mnt/custom\n"


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
    assert condition(ws, "JobStarted")["reason"] == "WorkspaceTuningJobStatusStarted"
    assert is_true(ws, "WorkspaceSucceeded")
    assert is_true(ws, "ResourceReady")
    assert condition(ws, "InferenceReady") is None
    assert ws["status"]["targetNodeCount"] == 1
    jobs = harness.objects("batch", "jobs", "default")
    assert [j["metadata"]["name"] for j in jobs] == ["tune-ok"]
    assert jobs[0]["metadata"]["annotations"]["workspace.kaito.io/revision"] == "1"
    # No tuning.config: the default qlora template was copied into the Workspace namespace.
    cm = harness.store.get(harness.rt("", "configmaps"), "default", "qlora-params-template")
    assert cm is not None
    assert "training_config" in cm["data"]["training_config.yaml"]


async def test_default_tuning_config_is_copied_from_the_operator_namespace(
    harness: Harness,
) -> None:
    harness.store.create(
        harness.rt("", "configmaps"),
        "kaito-system",
        {
            "metadata": {"name": "qlora-params-template"},
            "data": {"training_config.yaml": CUSTOM_TRAINING_CONFIG},
        },
    )
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-copy"))
    await harness.wait_for(lambda: harness.objects("batch", "jobs", "default"), what="Job created")
    cm = harness.store.get(harness.rt("", "configmaps"), "default", "qlora-params-template")
    assert "/mnt/custom" in cm["data"]["training_config.yaml"]
    job = harness.objects("batch", "jobs", "default")[0]
    assert "/mnt/custom" in str(job["spec"]["template"]["spec"])


async def test_failed_tuning_job_sets_state_failed_with_the_job_reason(harness: Harness) -> None:
    harness.kubelet.job_outcomes["tune-bad"] = "fail"
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-bad"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("tune-bad"))
            and (w.get("status") or {}).get("state") == "Failed"
            and w
        ),
        what="state Failed",
    )
    started = condition(ws, "JobStarted")
    assert started["status"] == "False"
    assert started["reason"] == "WorkspaceTuningJobStatusFailed"
    assert "BackoffLimitExceeded" in started["message"]
    succeeded = condition(ws, "WorkspaceSucceeded")
    assert succeeded["status"] == "False"
    assert succeeded["reason"] == "workspaceFailed"


async def test_changed_tuning_spec_replaces_the_job(harness: Harness) -> None:
    harness.kubelet.job_outcomes["tune-change"] = "hang"
    await harness.start_operator()
    harness.apply_workspace(tuning_workspace("tune-change"))
    first = await harness.wait_for(
        lambda: harness.store.get(harness.rt("batch", "jobs"), "default", "tune-change"),
        what="first Job",
    )
    harness.store.patch(
        harness.rt("kaito.sh", "workspaces"),
        "default",
        "tune-change",
        {"tuning": {"input": {"urls": ["https://example.com/other.parquet"]}}},
    )

    def replaced() -> dict | None:
        job = harness.store.get(harness.rt("batch", "jobs"), "default", "tune-change")
        if job and job["metadata"]["uid"] != first["metadata"]["uid"]:
            return job
        return None

    job = await harness.wait_for(replaced, what="replacement Job")
    assert job["metadata"]["annotations"]["workspace.kaito.io/revision"] == "2"
    assert "other.parquet" in str(job["spec"]["template"]["spec"])
    reasons = [e["reason"] for e in harness.objects("", "events", "default")]
    assert "WorkloadReplaced" in reasons
