"""Bring-your-own nodes and Karpenter NodePools, through the real operator."""

from __future__ import annotations

from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Harness, condition, is_true, required_condition


def _byo_node(harness: Harness, name: str, labels: dict[str, str], ready: bool = True) -> None:
    """A user's GPU node (created once), then its kubelet's status report."""
    if harness.get("nodes", name) is not None:
        _report(harness, name, ready)
        return
    harness.create(
        "nodes",
        {
            "metadata": {
                "name": name,
                "labels": {
                    **labels,
                    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                    "nvidia.com/gpu.count": "1",
                    "nvidia.com/gpu.memory": "81920",
                },
            },
        },
    )
    _report(harness, name, ready)


def _report(harness: Harness, name: str, ready: bool) -> None:
    # Status is the kubelet's to write (a create drops it); the simulated one reports capacity.
    capacity = {"nvidia.com/gpu": "1", "cpu": "24", "memory": "220Gi", "pods": "110"}
    harness.kube.patch(
        "nodes",
        name,
        {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "reason": "KubeletReady" if ready else "KubeletNotReady",
                        "lastHeartbeatTime": None,
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        },
        subresource="status",
    )
    if ready:
        _lift_not_ready_taint(harness, name)


def _lift_not_ready_taint(harness: Harness, name: str) -> None:
    """What the node lifecycle controller does once a node reports Ready (it does not run here)."""
    node = harness.existing("nodes", name)
    taints = [
        t for t in node["spec"].get("taints") or [] if t["key"] != "node.kubernetes.io/not-ready"
    ]
    harness.patch("nodes", name, {"spec": {"taints": taints}})


async def test_byo_workspace_with_enough_labelled_nodes_succeeds_without_nodeclaims(
    harness: Harness,
) -> None:
    _byo_node(harness, "gpu-node-1", {"apps": "byo"})
    await harness.start_operator(node_provisioner="byo")
    harness.apply_workspace(
        inference_workspace("byo-ok", instance_type=None, labels={"apps": "byo"})
    )

    ws = await harness.wait_for(
        lambda: (w := harness.workspace("byo-ok")) and is_true(w, "WorkspaceSucceeded") and w
    )
    assert condition(ws, "NodeClaimReady") is None
    assert is_true(ws, "NodesReady")
    assert ws["status"]["workerNodes"] == ["gpu-node-1"]
    assert harness.objects("nodeclaims") == []
    pod = harness.existing("pods", "byo-ok-0")
    assert pod["spec"]["nodeName"] == "gpu-node-1"


async def test_byo_workspace_waits_for_enough_nodes_then_succeeds(harness: Harness) -> None:
    _byo_node(harness, "unrelated", {"apps": "something-else"})
    # The webhook admits a BYO Workspace only when a node matches; this one is not Ready yet.
    _byo_node(harness, "gpu-node-2", {"apps": "byo2"}, ready=False)
    await harness.start_operator(node_provisioner="byo")
    harness.apply_workspace(
        inference_workspace("byo-wait", instance_type=None, labels={"apps": "byo2"})
    )

    ws = await harness.wait_for(
        lambda: (w := harness.workspace("byo-wait")) and condition(w, "ResourceReady") and w
    )
    resource = required_condition(ws, "ResourceReady")
    assert resource["status"] == "False"
    assert resource["reason"] == "NodeNotReady"
    assert "0/1" in resource["message"]
    assert ws["status"]["state"] == "Pending"
    assert harness.objects("statefulsets") == []

    _byo_node(harness, "gpu-node-2", {"apps": "byo2"})  # the kubelet now reports Ready
    ws = await harness.wait_for(
        lambda: (w := harness.workspace("byo-wait")) and is_true(w, "WorkspaceSucceeded") and w
    )
    assert ws["status"]["workerNodes"] == ["gpu-node-2"]


async def test_karpenter_workspace_gets_one_nodepool_removed_on_deletion(harness: Harness) -> None:
    await harness.start_operator(node_provisioner="karpenter")
    harness.apply_workspace(inference_workspace("karp"))

    ws = await harness.wait_for(
        lambda: (w := harness.workspace("karp")) and is_true(w, "WorkspaceSucceeded") and w,
        what="WorkspaceSucceeded",
    )
    pools = harness.objects("nodepools")
    assert [p["metadata"]["name"] for p in pools] == [f"{harness.ns}-karp"]
    assert pools[0]["spec"]["replicas"] == ws["status"]["targetNodeCount"] == 1
    assert is_true(ws, "NodeClaimReady")

    harness.delete("workspaces", "karp")
    await harness.wait_for(lambda: harness.workspace("karp") is None, what="Workspace gone")
    assert harness.objects("nodepools") == []
    assert harness.objects("nodeclaims") == []


async def test_unavailable_instance_type_surfaces_the_provisioner_reason(harness: Harness) -> None:
    harness.provisioner.fail["Standard_NC24ads_A100_v4"] = "InsufficientCapacity"
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("no-quota"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("no-quota"))
            and (condition(w, "NodeClaimReady") or {}).get("reason") == "InsufficientCapacity"
            and w
        ),
        what="NodeClaimReady reason InsufficientCapacity",
    )
    assert required_condition(ws, "ResourceReady")["reason"] == "InsufficientCapacity"
    assert "Launched" in required_condition(ws, "NodeClaimReady")["message"]
    assert len(harness.objects("nodeclaims")) == 1


async def test_karpenter_nodepool_scaled_down_behind_our_back_is_raised_again(
    harness: Harness,
) -> None:
    await harness.start_operator(node_provisioner="karpenter")
    harness.apply_workspace(inference_workspace("steady"))
    await harness.wait_for(lambda: is_true(harness.workspace("steady"), "WorkspaceSucceeded"))
    (pool,) = harness.objects("nodepools")
    assert pool["spec"]["replicas"] == 1

    harness.patch("nodepools", pool["metadata"]["name"], {"spec": {"replicas": 0}})

    await harness.wait_for(
        lambda: harness.existing("nodepools", pool["metadata"]["name"])["spec"]["replicas"] == 1,
        what="replicas restored to the Workspace's node count",
    )
