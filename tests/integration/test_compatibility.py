"""Upstream compatibility through the operator: the founding document's v1alpha1 Workspace,
namespace-restricted operators."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from tests.fixtures.emulator.samples import inference_workspace
from tests.integration.conftest import Harness, condition, is_true

FOUNDING_TUNING_EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "seed_workspace_tuning_phi_3.yaml"
)


async def test_founding_documents_v1alpha1_tuning_workspace_succeeds(harness: Harness) -> None:
    body = yaml.safe_load(FOUNDING_TUNING_EXAMPLE.read_text())
    assert body["apiVersion"] == "kaito.sh/v1alpha1"
    body["metadata"]["namespace"] = "default"
    await harness.start_operator()
    harness.apply_workspace(body)

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("workspace-tuning-phi-3"))
            and (w.get("status") or {}).get("state") == "Succeeded"
            and w
        ),
        what="state Succeeded",
    )
    assert condition(ws, "WorkspaceReady")["status"] == "True"  # the founding document's column
    (claim,) = harness.objects("karpenter.sh", "nodeclaims")
    requirements = {r["key"]: r["values"] for r in claim["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["Standard_NC6s_v3"]
    assert claim["metadata"]["labels"]["app"] == "tuning-phi-3"


async def test_namespace_restricted_operator_ignores_other_namespaces(harness: Harness) -> None:
    ns_rt = harness.rt("", "namespaces")
    harness.store.create(ns_rt, None, {"metadata": {"name": "team-a"}})
    await harness.start_operator(namespaces=["team-a"])
    mine = inference_workspace("mine")
    mine["metadata"]["namespace"] = "team-a"
    harness.apply_workspace(mine)
    harness.apply_workspace(inference_workspace("theirs"))

    await harness.wait_for(
        lambda: is_true(harness.workspace("mine", "team-a"), "WorkspaceSucceeded")
    )
    await asyncio.sleep(0.3)
    assert "status" not in harness.workspace("theirs")
    claims = harness.objects("karpenter.sh", "nodeclaims")
    assert [c["metadata"]["labels"]["kaito.sh/workspacenamespace"] for c in claims] == ["team-a"]
