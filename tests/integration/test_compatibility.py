"""Upstream compatibility through the operator: the founding document's v1alpha1 Workspace,
namespace-restricted operators."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Harness, is_true, required_condition

FOUNDING_TUNING_EXAMPLE = (
    Path(__file__).resolve().parents[2] / "examples" / "seed_workspace_tuning_phi_3.yaml"
)


async def test_founding_example_end_to_end_with_kubectl(harness: Harness) -> None:
    """The founding document's v1alpha1 tuning Workspace, as a user runs it: a registry secret,
    ``kubectl apply`` with image and secret filled in, a NodeClaim that becomes a GPU node, Job
    pods the real scheduler places on it (our affinity and tolerations must fit), Succeeded,
    upstream's columns from ``kubectl get workspace``, and nothing left after ``kubectl delete``."""
    text = FOUNDING_TUNING_EXAMPLE.read_text()
    assert "apiVersion: kaito.sh/v1alpha1" in text
    text = text.replace(
        "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "myacr.azurecr.io/phi-3-dolly:0.0.1"
    )
    text = text.replace("ACR_REGISTRY_SECRET_HERE", "my-acr-secret")
    await harness.start_operator()
    harness.kubectl(
        "create", "secret", "docker-registry", "my-acr-secret", "--docker-server=myacr.azurecr.io",
        "--docker-username=user", "--docker-password=secret",
    )  # fmt: skip
    applied = harness.kubectl("apply", "-f", "-", input=text)
    assert "workspace.kaito.sh/workspace-tuning-phi-3 created" in applied.stdout

    ws = await harness.wait_for(
        lambda: (
            (w := harness.workspace("workspace-tuning-phi-3"))
            and (w.get("status") or {}).get("state") == "Succeeded"
            and w
        ),
        what="state Succeeded",
    )
    ready = required_condition(ws, "WorkspaceReady")  # the founding document's column
    assert ready["status"] == "True"
    (claim,) = harness.objects("nodeclaims")
    requirements = {r["key"]: r["values"] for r in claim["spec"]["requirements"]}
    assert requirements["node.kubernetes.io/instance-type"] == ["Standard_NC6s_v3"]
    assert claim["metadata"]["labels"]["app"] == "tuning-phi-3"
    (pod,) = [p for p in harness.objects("pods") if p["metadata"]["labels"].get("job-name")]
    assert pod["spec"]["nodeName"] == claim["status"]["nodeName"]  # placed by kube-scheduler
    assert pod["status"]["phase"] == "Succeeded"
    job = harness.existing("jobs", "workspace-tuning-phi-3")
    assert job["status"]["succeeded"] == 1

    columns = _table(harness.kubectl("get", "workspace").stdout)
    assert list(columns) == [
        "NAME", "INSTANCE", "RESOURCEREADY", "INFERENCEREADY", "JOBSTARTED",
        "WORKSPACESUCCEEDED", "TARGETNODECOUNT", "STATE", "AGE",
    ]  # fmt: skip
    assert columns["NAME"] == "workspace-tuning-phi-3"
    assert columns["INSTANCE"] == "Standard_NC6s_v3"
    assert (
        columns["RESOURCEREADY"] == columns["JOBSTARTED"] == columns["WORKSPACESUCCEEDED"] == "True"
    )
    assert columns["INFERENCEREADY"] == ""
    assert columns["TARGETNODECOUNT"] == "1"
    assert columns["STATE"] == "Succeeded"

    harness.kubectl("delete", "workspace", "workspace-tuning-phi-3", "--timeout=60s")
    await harness.wait_for(
        lambda: (
            not harness.objects("jobs")
            and not harness.objects("pods")
            and not harness.objects("nodeclaims")
            and not harness.objects("nodes")
        ),
        what="nothing left behind after kubectl delete",
    )


async def test_namespace_restricted_operator_ignores_other_namespaces(harness: Harness) -> None:
    team = harness.new_namespace("team-a")
    await harness.start_operator(namespaces=[team])
    mine = inference_workspace("mine")
    mine["metadata"]["namespace"] = team
    harness.apply_workspace(mine)
    harness.apply_workspace(inference_workspace("theirs"))

    await harness.wait_for(lambda: is_true(harness.workspace("mine", team), "WorkspaceSucceeded"))
    await asyncio.sleep(0.3)
    assert "status" not in harness.existing("workspaces", "theirs")
    claims = harness.objects("nodeclaims")
    assert [c["metadata"]["labels"]["kaito.sh/workspacenamespace"] for c in claims] == [team]


def _table(text: str) -> dict[str, str]:
    """The first row of a ``kubectl get`` table by column name (cells may be empty)."""
    header, row = text.splitlines()[:2]
    names = header.split()
    starts = []
    offset = 0
    for name in names:
        offset = header.index(name, offset)
        starts.append(offset)
        offset += len(name)
    ends = [*starts[1:], None]
    return {n: row[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}
