"""Reconcile rules seen through the API: node plugins, runtimes, templates, permanent errors."""

from __future__ import annotations

import asyncio

import yaml

from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Harness, condition, is_true, required_condition


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
    assert required_condition(ws, "ResourceReady")["status"] == "False"
    assert "nvidia.com/gpu" in required_condition(ws, "NodesReady")["message"]
    assert harness.objects("statefulsets") == []

    # The device plugin comes up: capacity appears on the node, and the Workspace proceeds.
    node = harness.objects("nodes")[0]
    gpu = {"nvidia.com/gpu": "1"}
    harness.kube.patch(
        "nodes",
        node["metadata"]["name"],
        {"status": {"capacity": gpu, "allocatable": gpu}},
        subresource="status",
    )
    await harness.wait_for(lambda: is_true(harness.workspace("plugins"), "WorkspaceSucceeded"))


async def test_transformers_runtime_uses_resource_count_as_the_node_count(harness: Harness) -> None:
    await harness.start_operator()
    ws = inference_workspace(
        "hf", preset="mistral-7b-instruct", annotations={"kaito.sh/runtime": "transformers"}
    )
    ws["resource"]["count"] = 2
    harness.apply_workspace(ws)

    done = await harness.wait_for(
        lambda: (w := harness.workspace("hf")) and is_true(w, "WorkspaceSucceeded") and w
    )
    assert done["status"]["targetNodeCount"] == 2
    assert len(harness.objects("nodeclaims")) == 2
    sts = harness.existing("statefulsets", "hf")
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
    sts = harness.existing("statefulsets", "custom")
    pod_spec = sts["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["image"] == "example.com/my-server:1"
    assert sts["spec"]["template"]["metadata"]["labels"]["kaito.sh/workspace"] == "custom"


async def test_unknown_preset_is_reported_in_conditions_without_retrying(harness: Harness) -> None:
    """A Workspace stored before the webhook existed (or by an older release) can name a preset
    this operator does not know; admission would refuse it today, so it is created while the
    webhook configuration is absent, as it would have been then."""
    op = await harness.start_operator()
    webhook = harness.kubectl(
        "get", "validatingwebhookconfiguration", "validation.workspace.kaito.sh", "-o", "yaml"
    ).stdout
    harness.kubectl("delete", "validatingwebhookconfiguration", "validation.workspace.kaito.sh")
    probe = inference_workspace("probe", preset="no-such-model-anywhere")
    probe["metadata"]["namespace"] = harness.ns
    try:
        await harness.wait_for(
            lambda: harness.kubectl(
                "create", "--dry-run=server", "-f", "-", check=False,
                input=yaml.safe_dump(probe),
            ).returncode == 0,
            what="admission without the webhook",
        )  # fmt: skip
        harness.apply_workspace(inference_workspace("mystery", preset="no-such-model-anywhere"))
    finally:
        saved = yaml.safe_load(webhook)
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            saved["metadata"].pop(key, None)
        harness.kubectl("create", "-f", "-", input=yaml.safe_dump(saved))

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("mystery"))
            and "last reconcile error"
            in ((condition(w, "WorkspaceSucceeded") or {}).get("message", ""))
            and w
        ),
        what="reconcile error in conditions",
    )
    assert "no-such-model-anywhere" in required_condition(ws, "WorkspaceSucceeded")["message"]
    await asyncio.sleep(0.3)
    passes = len(op.metrics.durations)
    await asyncio.sleep(1.0)
    assert len(op.metrics.durations) == passes  # permanent: no retry until the Workspace changes
    assert harness.objects("nodeclaims") == []
