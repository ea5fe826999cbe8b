"""An inference Workspace goes from apply to WorkspaceSucceeded through the real operator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Harness, condition, is_true, required_condition


async def test_inference_workspace_reaches_succeeded_with_nodeclaims_services_and_statefulset(
    harness: Harness,
) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace())

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("workspace-phi-4-mini"))
            and is_true(w, "WorkspaceSucceeded")
            and w
        ),
        what="WorkspaceSucceeded=True",
    )
    status = ws["status"]
    assert status["state"] == "Ready"
    assert status["targetNodeCount"] == 1
    for ctype in (
        "NodeClaimReady",
        "NodesReady",
        "ResourceReady",
        "InferenceReady",
        "WorkspaceReady",
    ):
        assert is_true(ws, ctype), ctype
    assert required_condition(ws, "InferenceReady")["reason"] == "WorkspaceInferenceStatusSuccess"
    assert "workspace.finalizer.kaito.sh" in ws["metadata"]["finalizers"]
    assert ws["metadata"]["annotations"]["workspace.kaito.io/revision"] == "1"

    claims = harness.objects("nodeclaims")
    assert len(claims) == 1
    assert claims[0]["metadata"]["labels"]["kaito.sh/workspace"] == "workspace-phi-4-mini"
    assert status["workerNodes"] == [claims[0]["status"]["nodeName"]]
    node = harness.existing("nodes", claims[0]["status"]["nodeName"])
    assert node["metadata"]["labels"]["accelerator"] == "nvidia"

    services = {s["metadata"]["name"] for s in harness.objects("services")}
    assert services == {"workspace-phi-4-mini", "workspace-phi-4-mini-headless"}
    sts = harness.objects("statefulsets")
    assert [s["metadata"]["name"] for s in sts] == ["workspace-phi-4-mini"]
    assert sts[0]["metadata"]["ownerReferences"][0]["uid"] == ws["metadata"]["uid"]
    revisions = _workspace_revisions(harness)
    assert len(revisions) == 1
    assert revisions[0]["revision"] == 1
    reasons = {e["reason"] for e in harness.objects("events")}
    assert "NodeClaimCreated" in reasons


async def test_crash_looping_pod_surfaces_as_inference_reason(harness: Harness) -> None:
    harness.kubelet.pod_modes["crashy"] = "crashloop"
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("crashy"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("crashy"))
            and (condition(w, "InferenceReady") or {}).get("reason") == "ContainerCrashLoopBackOff"
            and w
        ),
        what="InferenceReady reason ContainerCrashLoopBackOff",
    )
    inference = required_condition(ws, "InferenceReady")
    assert inference["status"] == "False"
    assert "crashy-0" in inference["message"]
    assert "CrashLoopBackOff" in inference["message"]
    assert len(inference["message"]) <= 256
    assert required_condition(ws, "WorkspaceSucceeded")["reason"] == "workspaceFailed"
    assert is_true(ws, "ResourceReady")
    assert ws["status"]["state"] == "Pending"
    await harness.wait_for(
        lambda: any(
            e["reason"] == "WorkspaceFailed"
            and e["type"] == "Warning"
            and "ContainerCrashLoopBackOff" in e["message"]
            for e in harness.objects("events")
        ),
        what="Warning event for the crash loop",
    )


async def test_oom_killed_pod_is_classified_before_its_crash_loop(harness: Harness) -> None:
    harness.kubelet.pod_modes["oomy"] = "oom"
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("oomy"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("oomy"))
            and (condition(w, "InferenceReady") or {}).get("reason") == "ContainerOOMKilled"
            and w
        ),
        what="InferenceReady reason ContainerOOMKilled",
    )
    assert "OOMKilled" in required_condition(ws, "InferenceReady")["message"]


async def test_adapter_change_rolls_the_statefulset_to_a_new_revision(harness: Harness) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("adapted"))
    await harness.wait_for(
        lambda: is_true(harness.workspace("adapted"), "WorkspaceSucceeded"), what="first rollout"
    )
    before = harness.existing("statefulsets", "adapted")
    pod_before = harness.existing("pods", "adapted-0")

    adapters = [{"source": {"name": "my-adapter", "image": "registry.example.com/adapter:0.1"}}]
    harness.patch("workspaces", "adapted", {"inference": {"adapters": adapters}})

    def rolled() -> dict | None:
        sts = harness.existing("statefulsets", "adapted")
        annotations = sts["metadata"].get("annotations") or {}
        return sts if annotations.get("workspace.kaito.io/revision") == "2" else None

    after = await harness.wait_for(rolled, what="StatefulSet revision 2")
    assert after["spec"]["template"] != before["spec"]["template"]
    assert "my-adapter" in str(after["spec"]["template"]["spec"].get("initContainers"))
    pod_after = await harness.wait_for(
        lambda: (
            (p := harness.get("pods", "adapted-0"))
            and p["metadata"]["uid"] != pod_before["metadata"]["uid"]
            and p
        ),
        what="pod replaced",
    )
    assert (
        pod_after["metadata"]["labels"]["controller-revision-hash"]
        != (pod_before["metadata"]["labels"]["controller-revision-hash"])
    )
    ws = await harness.wait_for(
        lambda: (w := harness.workspace("adapted")) and is_true(w, "WorkspaceSucceeded") and w,
        what="ready again",
    )
    assert ws["metadata"]["annotations"]["workspace.kaito.io/revision"] == "2"
    revisions = _workspace_revisions(harness)
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    await harness.wait_for(
        lambda: any(e["reason"] == "WorkloadUpdated" for e in harness.objects("events")),
        what="WorkloadUpdated event",
    )


async def test_deletion_removes_nodeclaims_before_releasing_the_finalizer(harness: Harness) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("doomed"))
    await harness.wait_for(lambda: is_true(harness.workspace("doomed"), "WorkspaceSucceeded"))
    claims = harness.objects("nodeclaims")
    assert len(claims) == 1
    node_name = claims[0]["status"]["nodeName"]
    harness.delete("workspaces", "doomed")
    # The finalizer holds the Workspace (terminating) until its NodeClaim and node are gone.
    await harness.wait_for(
        lambda: ((harness.workspace("doomed") or {}).get("metadata") or {}).get(
            "deletionTimestamp"
        ),
        what="Workspace terminating",
    )
    while (ws := harness.workspace("doomed")) is not None:
        if harness.objects("nodeclaims"):
            assert "workspace.finalizer.kaito.sh" in ws["metadata"]["finalizers"]
        await asyncio.sleep(0.02)
    assert harness.objects("nodeclaims") == []
    assert harness.get("nodes", node_name) is None
    # Children with owner references are removed by the real garbage collector, asynchronously.
    await harness.wait_for(
        lambda: not harness.objects("statefulsets") and not harness.objects("services"),
        what="garbage collection of the StatefulSet and Services",
    )
    await harness.wait_for(lambda: not harness.objects("pods"), what="pods gone")


async def test_deployment_from_an_older_release_is_replaced_by_the_statefulset(
    harness: Harness,
) -> None:
    harness.create(
        "deployments",
        {
            "metadata": {"name": "legacy", "labels": {"kaito.sh/workspace": "legacy"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "legacy"}},
                "template": {
                    "metadata": {"labels": {"app": "legacy"}},
                    "spec": {"containers": [{"name": "server", "image": "old-release"}]},
                },
            },
        },
    )
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("legacy"))

    await harness.wait_for(lambda: is_true(harness.workspace("legacy"), "WorkspaceSucceeded"))
    await harness.wait_for(
        lambda: any(e["reason"] == "WorkloadMigration" for e in harness.objects("events")),
        what="WorkloadMigration event",
    )
    assert harness.objects("deployments") == []


def _workspace_revisions(harness: Harness) -> list[dict]:
    """The Workspace's own revision history (the StatefulSet controller keeps one beside it)."""
    return [
        r
        for r in harness.objects("controllerrevisions")
        if "workspace.kaito.io/name" in (r["metadata"].get("labels") or {})
    ]


async def test_revision_history_keeps_the_newest_ten(harness: Harness) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("history"))
    await harness.wait_for(lambda: _revision_of(harness, "history") == "1", what="revision 1")
    for n in range(2, 13):
        adapters = [{"source": {"name": f"adapter-{n}", "image": f"registry.example.com/a:{n}"}}]
        harness.patch("workspaces", "history", {"inference": {"adapters": adapters}})
        await harness.wait_for(_revision_is(harness, "history", str(n)), what=f"revision {n}")

    # The revision annotation and the pruning are separate writes of one pass: wait for both.
    def kept() -> list[int]:
        return sorted(r["revision"] for r in _workspace_revisions(harness))

    await harness.wait_for(lambda: kept() == list(range(3, 13)), what="revisions 3..12 only")
    assert kept() == list(range(3, 13))  # the two oldest were deleted, the newest ten kept


def _revision_is(harness: Harness, name: str, revision: str) -> Callable[[], bool]:
    return lambda: _revision_of(harness, name) == revision


def _revision_of(harness: Harness, name: str) -> str | None:
    ws = harness.workspace(name) or {}
    return (ws.get("metadata", {}).get("annotations") or {}).get("workspace.kaito.io/revision")


async def test_inference_is_not_ready_while_the_statefulset_rolls_out(harness: Harness) -> None:
    """While the old pod terminates (still Ready) and no pod runs the new revision, the real
    StatefulSet controller reports readyReplicas 1 but updatedReplicas 0: not ready."""
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("rolling"))
    await harness.wait_for(lambda: is_true(harness.workspace("rolling"), "InferenceReady"))
    harness.kubelet.termination_delay = 4.0
    adapters = [{"source": {"name": "new-adapter", "image": "registry.example.com/a:2"}}]
    harness.patch("workspaces", "rolling", {"inference": {"adapters": adapters}})

    def not_ready_while_old_pod_terminates() -> dict | None:
        pod = harness.get("pods", "rolling-0") or {}
        terminating = bool(pod.get("metadata", {}).get("deletionTimestamp"))
        sts = harness.get("statefulsets", "rolling") or {}
        ready = ((sts.get("status") or {}).get("readyReplicas") or 0) >= 1
        cond = condition(harness.workspace("rolling"), "InferenceReady") or {}
        if terminating and ready and cond.get("status") == "False":
            return cond
        return None

    cond = await harness.wait_for(
        not_ready_while_old_pod_terminates, within=4.0, what="InferenceReady False mid-rollout"
    )
    assert "rolling out" in cond["message"] or "observe generation" in cond["message"]
    ws = await harness.wait_for(
        lambda: (w := harness.workspace("rolling")) and is_true(w, "InferenceReady") and w,
        what="ready on the new revision",
    )
    sts = harness.existing("statefulsets", "rolling")
    assert sts["status"]["updatedReplicas"] == 1
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    assert ws["metadata"]["annotations"]["workspace.kaito.io/revision"] == "2"


async def test_benchmark_log_read_is_attempted_once_ready_and_a_failure_is_reported(
    harness: Harness,
) -> None:
    """The simulated kubelet serves no logs, so the operator's read of pod w-0's log (granted
    ``pods/log get``) fails: ``BenchmarkCompleted`` says so while the Workspace stays Ready."""
    await harness.start_operator()
    harness.apply_workspace(inference_workspace())
    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("workspace-phi-4-mini"))
            and (w.get("status") or {}).get("state") == "Ready"
            and any(c["type"] == "BenchmarkCompleted" for c in w["status"]["conditions"])
            and w
        ),
        what="BenchmarkCompleted reported",
    )
    benchmark = required_condition(ws, "BenchmarkCompleted")
    assert (benchmark["status"], benchmark["reason"]) == ("False", "BenchmarkFailed")
    assert benchmark["message"].startswith("pod workspace-phi-4-mini-0: ")
    assert "performance" not in ws["status"]
    assert is_true(ws, "WorkspaceSucceeded")

    # Later passes (each label change is one) do not read the log again before the retry interval.
    for n in range(3):
        harness.patch("workspaces", "workspace-phi-4-mini", {"metadata": {"labels": {"n": str(n)}}})
    await asyncio.sleep(2.0)
    assert _log_reads(harness) == 1


def _log_reads(harness: Harness) -> int:
    """The operator's ``get pods/log`` requests in this test's namespace, from the audit log."""
    requests = set()
    for line in harness.cp.audit_log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if ref.get("subresource") == "log" and ref.get("namespace") == harness.ns:
            requests.add(event["auditID"])  # one request may be logged at several stages
    return len(requests)


async def test_disabled_benchmark_reads_no_log(harness: Harness) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace(annotations={"kaito.sh/disable-benchmark": "true"}))
    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("workspace-phi-4-mini"))
            and is_true(w, "WorkspaceSucceeded")
            and w
        ),
        what="WorkspaceSucceeded=True",
    )
    assert all(c["type"] != "BenchmarkCompleted" for c in ws["status"]["conditions"])
