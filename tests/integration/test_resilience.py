"""Restarts at every stage of provisioning and injected API faults still converge exactly."""

from __future__ import annotations

import asyncio

import pytest

from kaito.manifests import naming
from tests.fixtures.emulator.samples import inference_workspace, tuning_workspace
from tests.fixtures.emulator.store import WatchEvent
from tests.integration.conftest import Harness, is_true

# llama-3.3-70b-instruct on one A100 80GB per node: the estimator asks for 3 nodes.
MULTI_NODE = {"name": "big", "preset": "llama-3.3-70b-instruct"}


def _claims_ready(harness: Harness) -> bool:
    claims = harness.objects("karpenter.sh", "nodeclaims")
    return len(claims) == 3 and all((c.get("status") or {}).get("nodeName") for c in claims)


STAGES = {
    "first-nodeclaim-created": lambda h: len(h.objects("karpenter.sh", "nodeclaims")) >= 1,
    "all-nodeclaims-created": lambda h: len(h.objects("karpenter.sh", "nodeclaims")) == 3,
    "nodes-ready": _claims_ready,
    "statefulset-created": lambda h: bool(h.objects("apps", "statefulsets", "default")),
}


@pytest.mark.parametrize("stage", list(STAGES))
async def test_operator_killed_and_restarted_creates_exactly_the_target_nodeclaims(
    harness: Harness, stage: str
) -> None:
    harness.provisioner.delay = 0.3
    created: list[str] = []

    def record(event: WatchEvent) -> None:
        if event.type == "ADDED" and event.rtype.kind == "NodeClaim":
            created.append(event.obj["metadata"]["name"])

    harness.store.listeners.append(record)
    op = await harness.start_operator()
    harness.apply_workspace(inference_workspace(MULTI_NODE["name"], preset=MULTI_NODE["preset"]))

    await harness.wait_for(lambda: STAGES[stage](harness), what=stage)
    await harness.kill_operator(op)
    await asyncio.sleep(0.1)
    await harness.start_operator()

    ws = await harness.wait_for(
        lambda: (w := harness.workspace("big")) and is_true(w, "WorkspaceSucceeded") and w,
        what="WorkspaceSucceeded after restart",
    )
    assert ws["status"]["targetNodeCount"] == 3
    names = sorted(c["metadata"]["name"] for c in harness.objects("karpenter.sh", "nodeclaims"))
    assert names == sorted(naming.nodeclaim_name("default", "big", i) for i in range(3))
    assert sorted(created) == names  # never a fourth NodeClaim, not even briefly
    assert len(harness.objects("", "nodes")) == 3


@pytest.mark.timeout(90)
async def test_ten_percent_of_api_calls_failing_still_converges(harness: Harness) -> None:
    harness.emulator.faults.rate = 0.10
    await harness.start_operator()
    for i in range(3):
        harness.apply_workspace(inference_workspace(f"flaky-{i}"))
    harness.apply_workspace(tuning_workspace("flaky-tune"))

    def converged() -> bool:
        inference_ok = all(
            is_true(harness.workspace(f"flaky-{i}"), "WorkspaceSucceeded") for i in range(3)
        )
        tune = harness.workspace("flaky-tune") or {}
        return inference_ok and (tune.get("status") or {}).get("state") == "Succeeded"

    await harness.wait_for(converged, within=60, what="all Workspaces converged under faults")
    injected = harness.emulator.faults.injected
    assert sum(injected.values()) >= 5, injected
    assert {"conflict", "server", "timeout", "lost"} <= set(injected)
    # Faults never produced duplicates: one NodeClaim per single-node Workspace.
    assert len(harness.objects("karpenter.sh", "nodeclaims")) == 4
    assert len(harness.objects("apps", "statefulsets", "default")) == 3
    assert len(harness.objects("batch", "jobs", "default")) == 1


async def test_workspace_deleted_while_the_operator_is_down_is_finalized_after_restart(
    harness: Harness,
) -> None:
    op = await harness.start_operator()
    harness.apply_workspace(inference_workspace("orphan"))
    await harness.wait_for(lambda: is_true(harness.workspace("orphan"), "WorkspaceSucceeded"))
    await harness.kill_operator(op)

    harness.store.delete(harness.rt("kaito.sh", "workspaces"), "default", "orphan")
    await asyncio.sleep(0.2)
    assert harness.workspace("orphan")["metadata"]["deletionTimestamp"]  # held by our finalizer
    assert len(harness.objects("karpenter.sh", "nodeclaims")) == 1

    await harness.start_operator()
    await harness.wait_for(lambda: harness.workspace("orphan") is None, what="finalized")
    assert harness.objects("karpenter.sh", "nodeclaims") == []


async def test_a_nodeclaim_deleted_behind_our_back_is_recreated_in_its_slot(
    harness: Harness,
) -> None:
    await harness.start_operator()
    harness.apply_workspace(inference_workspace("healing"))
    await harness.wait_for(lambda: is_true(harness.workspace("healing"), "WorkspaceSucceeded"))
    (claim,) = harness.objects("karpenter.sh", "nodeclaims")
    pod = harness.store.get(harness.rt("", "pods"), "default", "healing-0")

    harness.store.delete(harness.rt("karpenter.sh", "nodeclaims"), None, claim["metadata"]["name"])

    def replaced() -> dict | None:
        claims = harness.objects("karpenter.sh", "nodeclaims")
        if len(claims) == 1 and claims[0]["metadata"]["uid"] != claim["metadata"]["uid"]:
            return claims[0]
        return None

    new = await harness.wait_for(replaced, what="replacement NodeClaim")
    assert new["metadata"]["name"] == claim["metadata"]["name"]  # same deterministic slot name
    await harness.wait_for(
        lambda: (
            (p := harness.store.get(harness.rt("", "pods"), "default", "healing-0"))
            and p["metadata"]["uid"] != pod["metadata"]["uid"]
            and is_true(harness.workspace("healing"), "WorkspaceSucceeded")
        ),
        what="a new pod, ready on the replacement node",
    )
    assert len(harness.objects("karpenter.sh", "nodeclaims")) == 1
