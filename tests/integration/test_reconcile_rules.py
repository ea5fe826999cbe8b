"""Reconcile rules seen through the API: node plugins, runtimes, templates, permanent errors."""

from __future__ import annotations

import asyncio

from tests.fixtures.emulator.samples import inference_workspace
from tests.integration.conftest import Harness, condition, is_true


async def test_node_without_gpu_capacity_waits_for_the_device_plugin(harness: Harness) -> None:
    harness.provisioner.gpus_by_instance_type["Standard_NC24ads_A100_v4"] = 0
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("plugins"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("plugins"))
            and (condition(w, "NodesReady") or {}).get("reason") == "NodePluginsNotReady"
            and w
        ),
        what="NodePluginsNotReady",
    )
    assert condition(ws, "ResourceReady")["status"] == "False"
    assert "nvidia.com/gpu" in condition(ws, "NodesReady")["message"]
    assert harness.objects("apps", "statefulsets", "default") == []

    # The device plugin comes up: capacity appears on the node, and the Workspace proceeds.
    node = harness.objects("", "nodes")[0]
    gpu = {"nvidia.com/gpu": "1"}
    harness.store.patch(
        harness.rt("", "nodes"),
        None,
        node["metadata"]["name"],
        {"status": {"capacity": gpu, "allocatable": gpu}},
        subresource="status",
    )
    await harness.wait_for(lambda: is_true(harness.workspace("plugins"), "WorkspaceSucceeded"))


async def test_transformers_runtime_uses_resource_count_as_the_node_count(harness: Harness) -> None:
    await harness.start_operator()
    ws = inference_workspace("hf", annotations={"kaito.sh/runtime": "transformers"})
    ws["resource"]["count"] = 2
    harness.apply_workspace(ws)

    done = await harness.wait_for(
        lambda: (w := harness.workspace("hf")) and is_true(w, "WorkspaceSucceeded") and w
    )
    assert done["status"]["targetNodeCount"] == 2
    assert len(harness.objects("karpenter.sh", "nodeclaims")) == 2
    sts = harness.store.get(harness.rt("apps", "statefulsets"), "default", "hf")
    assert sts["spec"]["replicas"] == 2


async def test_custom_template_is_wrapped_in_a_statefulset(harness: Harness) -> None:
    await harness.start_operator()
    ws = inference_workspace("custom")
    ws["inference"] = {
        "template": {
            "spec": {"containers": [{"name": "server", "image": "example.com/my-server:1"}]}
        }
    }
    harness.apply_workspace(ws)

    await harness.wait_for(lambda: is_true(harness.workspace("custom"), "WorkspaceSucceeded"))
    sts = harness.store.get(harness.rt("apps", "statefulsets"), "default", "custom")
    pod_spec = sts["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["image"] == "example.com/my-server:1"
    assert sts["spec"]["template"]["metadata"]["labels"]["kaito.sh/workspace"] == "custom"


async def test_unknown_preset_is_reported_in_conditions_without_retrying(harness: Harness) -> None:
    op = await harness.start_operator()
    harness.apply_workspace(inference_workspace("mystery", preset="no-such-model-anywhere"))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("mystery"))
            and "last reconcile error"
            in ((condition(w, "WorkspaceSucceeded") or {}).get("message", ""))
            and w
        ),
        what="reconcile error in conditions",
    )
    assert "no-such-model-anywhere" in condition(ws, "WorkspaceSucceeded")["message"]
    await asyncio.sleep(0.3)
    passes = len(op.metrics.durations)
    await asyncio.sleep(1.0)
    assert len(op.metrics.durations) == passes  # permanent: no retry until the Workspace changes
    assert harness.objects("karpenter.sh", "nodeclaims") == []
