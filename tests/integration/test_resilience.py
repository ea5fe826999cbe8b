"""Restarts at every stage of provisioning and injected API faults still converge exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import yaml

from kaito.manifests import naming
from tests.fixtures.cluster.client import ApiError, EventRecorder
from tests.fixtures.cluster.controlplane import issue_certificate
from tests.fixtures.cluster.faults import KINDS, FaultProxy
from tests.fixtures.samples import inference_workspace, tuning_workspace
from tests.integration.conftest import Harness, is_true

# gpt-oss-120b on one A100 80GB per node: the estimator asks for 3 nodes (and it is not gated).
MULTI_NODE = {"name": "big", "preset": "gpt-oss-120b"}


def _claims_ready(harness: Harness) -> bool:
    claims = harness.objects("nodeclaims")
    return len(claims) == 3 and all((c.get("status") or {}).get("nodeName") for c in claims)


STAGES: dict[str, dict[str, Callable[[Harness], bool]]] = {
    "gpu-provisioner": {
        "first-nodeclaim-created": lambda h: len(h.objects("nodeclaims")) >= 1,
        "all-nodeclaims-created": lambda h: len(h.objects("nodeclaims")) == 3,
        "nodes-ready": _claims_ready,
        "statefulset-created": lambda h: bool(h.objects("statefulsets")),
    },
    "karpenter": {
        "nodepool-created": lambda h: bool(h.objects("nodepools")),
        "nodes-ready": _claims_ready,
        "statefulset-created": lambda h: bool(h.objects("statefulsets")),
    },
    "byo": {
        "statefulset-created": lambda h: bool(h.objects("statefulsets")),
    },
}
CASES = [(p, stage) for p, stages in STAGES.items() for stage in stages]


def _byo_nodes(harness: Harness, count: int) -> None:
    for i in range(count):
        name = f"{harness.ns}-gpu-{i}"
        harness.create(
            "nodes",
            {
                "metadata": {
                    "name": name,
                    "labels": {
                        "apps": "big",
                        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                        "nvidia.com/gpu.count": "1",
                        "nvidia.com/gpu.memory": "81920",
                        "kubernetes.io/hostname": name,
                    },
                }
            },
        )
        capacity = {"nvidia.com/gpu": "1", "cpu": "24", "memory": "220Gi", "pods": "110"}
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
        harness.kube.patch(
            "nodes",
            name,
            {"status": {"capacity": capacity, "allocatable": capacity, "conditions": [ready]}},
            subresource="status",
        )
        harness.patch("nodes", name, {"spec": {"taints": None}})  # as the node lifecycle controller


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("provisioner", "stage"), CASES, ids=[f"{p}-{s}" for p, s in CASES])
async def test_operator_sigkilled_and_restarted_creates_exactly_the_target_nodes(
    harness: Harness, provisioner: str, stage: str
) -> None:
    """``kill -9`` of the operator process at each stage, then a fresh process: no duplicates."""
    harness.provisioner.delay = 0.5
    claims = EventRecorder(harness.kube, "nodeclaims")
    pools = EventRecorder(harness.kube, "nodepools")
    sets = EventRecorder(harness.kube, "statefulsets")
    if provisioner == "byo":
        _byo_nodes(harness, 3)
    op = await harness.start_operator_process(node_provisioner=provisioner)
    ws = inference_workspace(
        MULTI_NODE["name"], preset=MULTI_NODE["preset"], labels={"apps": "big"}
    )
    if provisioner == "byo":
        ws["resource"].pop("instanceType")
    harness.apply_workspace(ws)

    await harness.wait_for(lambda: STAGES[provisioner][stage](harness), what=stage)
    await harness.kill_operator(op)
    await harness.start_operator_process(node_provisioner=provisioner)

    ws = await harness.wait_for(
        lambda: (w := harness.workspace("big")) and is_true(w, "WorkspaceSucceeded") and w,
        within=60,
        what="WorkspaceSucceeded after restart",
    )
    assert ws["status"]["targetNodeCount"] == 3
    await asyncio.sleep(0.3)  # let the watches deliver the last events
    for recorder in (claims, pools, sets):
        recorder.stop()
    names = sorted(c["metadata"]["name"] for c in harness.objects("nodeclaims"))
    # Never a duplicate, not even briefly: every object was added once, under its final name.
    assert sorted(claims.names("ADDED")) == names
    assert sets.names("ADDED") == ["big"]
    if provisioner == "gpu-provisioner":
        assert names == sorted(naming.nodeclaim_name(harness.ns, "big", i) for i in range(3))
    elif provisioner == "karpenter":
        assert pools.names("ADDED") == [f"{harness.ns}-big"]
        assert len(names) == 3
    else:
        assert names == []
        assert pools.names("ADDED") == []
    assert len(harness.objects("nodes")) == 3


@pytest.mark.timeout(150)
async def test_ten_percent_of_api_calls_failing_still_converges(harness: Harness) -> None:
    cp = harness.cp
    cert, key = issue_certificate(cp.pki, "proxy", "/CN=fault-proxy", server_names=["127.0.0.1"])
    proxy = FaultProxy(cp.server, cp.ca, cert, key, rate=0.10)
    proxy.start()
    try:
        # The operator's own token, through the proxy: RBAC still applies.
        config = yaml.safe_load(harness.cluster.install.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = proxy.url
        kubeconfig = cp.workdir / f"faulty-{harness.ns}.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        await harness.start_operator(kubeconfig=str(kubeconfig))
        for i in range(3):
            _apply_retrying(harness, inference_workspace(f"flaky-{i}"))
        _apply_retrying(harness, tuning_workspace("flaky-tune"))

        def converged() -> bool:
            inference_ok = all(
                is_true(harness.workspace(f"flaky-{i}"), "WorkspaceSucceeded") for i in range(3)
            )
            tune = harness.workspace("flaky-tune") or {}
            return inference_ok and (tune.get("status") or {}).get("state") == "Succeeded"

        await harness.wait_for(converged, within=120, what="all Workspaces converged under faults")
    finally:
        await harness.stop_all()
        proxy.stop()
    injected = proxy.injected
    assert sum(injected.values()) >= 10, injected
    assert set(KINDS) <= set(injected), injected
    # Faults never produced duplicates: one NodeClaim per single-node Workspace.
    assert len(harness.objects("nodeclaims")) == 4
    assert len(harness.objects("statefulsets")) == 3
    assert len(harness.objects("jobs")) == 1


def _apply_retrying(harness: Harness, body: dict) -> None:
    """Create as a user's script would: the webhook's own lookups meet the faults too, and a
    refused "cannot validate" is retried."""
    for _ in range(10):
        try:
            harness.apply_workspace(body)
            return
        except ApiError as exc:
            if "cannot validate the Workspace" not in exc.body:
                raise
    raise AssertionError(f"{body['metadata']['name']} was never admitted")


async def test_workspace_deleted_while_the_operator_is_down_is_finalized_after_restart(
    harness: Harness,
) -> None:
    op = await harness.start_operator()
    harness.apply_workspace(inference_workspace("orphan"))
    await harness.wait_for(lambda: is_true(harness.workspace("orphan"), "WorkspaceSucceeded"))
    await harness.kill_operator(op)

    harness.delete("workspaces", "orphan")
    await asyncio.sleep(0.2)
    orphan = harness.existing("workspaces", "orphan")
    assert orphan["metadata"]["deletionTimestamp"]  # held by our finalizer
    assert len(harness.objects("nodeclaims")) == 1

    await harness.start_operator()
    await harness.wait_for(lambda: harness.workspace("orphan") is None, what="finalized")
    assert harness.objects("nodeclaims") == []


async def test_a_nodeclaim_deleted_behind_our_back_is_recreated_in_its_slot(
    harness: Harness,
) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("healing"))
    await harness.wait_for(lambda: is_true(harness.workspace("healing"), "WorkspaceSucceeded"))
    (claim,) = harness.objects("nodeclaims")
    pod = harness.existing("pods", "healing-0")

    harness.delete("nodeclaims", claim["metadata"]["name"])

    def replaced() -> dict | None:
        claims = harness.objects("nodeclaims")
        if len(claims) == 1 and claims[0]["metadata"]["uid"] != claim["metadata"]["uid"]:
            return claims[0]
        return None

    new = await harness.wait_for(replaced, what="replacement NodeClaim")
    assert new["metadata"]["name"] == claim["metadata"]["name"]  # same deterministic slot name
    await harness.wait_for(
        lambda: (
            (p := harness.get("pods", "healing-0"))
            and p["metadata"]["uid"] != pod["metadata"]["uid"]
            and is_true(harness.workspace("healing"), "WorkspaceSucceeded")
        ),
        what="a new pod, ready on the replacement node",
    )
    assert len(harness.objects("nodeclaims")) == 1
