"""An inference Workspace goes from apply to WorkspaceSucceeded through the real operator."""

from __future__ import annotations

from tests.integration.conftest import Harness, condition, inference_workspace, is_true


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
    assert condition(ws, "InferenceReady")["reason"] == "WorkspaceInferenceStatusSuccess"
    assert "workspace.finalizer.kaito.sh" in ws["metadata"]["finalizers"]
    assert ws["metadata"]["annotations"]["workspace.kaito.io/revision"] == "1"

    claims = harness.objects("karpenter.sh", "nodeclaims")
    assert len(claims) == 1
    assert claims[0]["metadata"]["labels"]["kaito.sh/workspace"] == "workspace-phi-4-mini"
    assert status["workerNodes"] == [claims[0]["status"]["nodeName"]]
    node = harness.store.get(harness.rt("", "nodes"), None, claims[0]["status"]["nodeName"])
    assert node["metadata"]["labels"]["accelerator"] == "nvidia"

    services = {s["metadata"]["name"] for s in harness.objects("", "services", "default")}
    assert services == {"workspace-phi-4-mini", "workspace-phi-4-mini-headless"}
    sts = harness.objects("apps", "statefulsets", "default")
    assert [s["metadata"]["name"] for s in sts] == ["workspace-phi-4-mini"]
    assert sts[0]["metadata"]["ownerReferences"][0]["uid"] == ws["metadata"]["uid"]
    revisions = harness.objects("apps", "controllerrevisions", "default")
    assert len(revisions) == 1 and revisions[0]["revision"] == 1
    reasons = {e["reason"] for e in harness.objects("", "events", "default")}
    assert "NodeClaimCreated" in reasons
