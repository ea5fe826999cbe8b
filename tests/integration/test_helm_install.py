"""``helm install`` of charts/kaito-workspace into its own real control plane, then a Workspace.

The chart must install cleanly (CRD accepted by the API server, RBAC, webhook, tuning templates)
and its RBAC must be enough for the operator: it runs as the chart's ServiceAccount and brings an
inference Workspace to WorkspaceSucceeded, admitted by the chart's webhook configuration. The only
change after install is the one every test install makes: the webhook's clientConfig points at
the operator on loopback instead of the in-cluster Service (there are no Services' endpoints here).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster.controlplane import ControlPlane, controlplane_bin, free_port
from tests.fixtures.cluster.install import (
    Installation,
    install_crds,
    loopback_webhook_patch,
    webhook_certificates,
)
from tests.fixtures.samples import inference_workspace
from tests.integration.conftest import Cluster, Harness, is_true

CHART = Path(__file__).resolve().parents[2] / "charts" / "kaito-workspace"
NAMESPACE = "kaito-system"


def _helm(cp: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [cp.tool("helm"), f"--kubeconfig={cp.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def helm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    bin_dir = controlplane_bin(build=True)
    assert bin_dir is not None
    cp = ControlPlane(tmp_path_factory.mktemp("helm-controlplane"), bin_dir)
    try:
        cp.start_apiserver()
        install_crds(cp)  # Karpenter's, as the cluster would have them
        _helm(
            cp, "install", "kaito-workspace", str(CHART), "--namespace", NAMESPACE,
            "--create-namespace", "--set", f"webhook.caBundle={cp.ca_bundle()}", "--wait=false",
        )  # fmt: skip
        cp.start_controllers()
        webhook_port = free_port()
        patch = loopback_webhook_patch(cp, webhook_port)
        cp.kubectl(
            "patch", "validatingwebhookconfiguration", "validation.workspace.kaito.sh",
            "--type=json", "-p", json.dumps(patch),
        )  # fmt: skip
        certs = webhook_certificates(cp)
        install = Installation(
            kubeconfig=cp.token_kubeconfig(
                NAMESPACE, "kaito-workspace", cp.workdir / "op.kubeconfig"
            ),
            webhook_port=webhook_port,
            webhook_cert_dir=certs,
            service_account=f"system:serviceaccount:{NAMESPACE}:kaito-workspace",
        )
        cluster = Cluster(cp, install)
        cluster.service.start()
        yield cluster
        cluster.service.stop()
    finally:
        cp.stop()


@pytest.fixture
async def helm_harness(helm_cluster: Cluster) -> AsyncIterator[Harness]:
    async with Harness.open(helm_cluster, "helm-test") as harness:
        yield harness


async def test_helm_install_then_a_workspace_succeeds_under_the_charts_rbac(
    helm_harness: Harness,
) -> None:
    cp = helm_harness.cp
    status = json.loads(
        _helm(cp, "status", "kaito-workspace", "-n", NAMESPACE, "-o", "json").stdout
    )
    assert status["info"]["status"] == "deployed"
    cp.kubectl("wait", "--for=condition=Established", "--timeout=30s", "crd/workspaces.kaito.sh")
    for kind, name in [
        ("clusterrole", "kaito-workspace"),
        ("configmap", "lora-params-template"),
        ("configmap", "qlora-params-template"),
        ("deployment", "kaito-workspace"),
        ("service", "kaito-workspace-webhook"),
    ]:
        cp.kubectl("get", kind, name, "-n", NAMESPACE)

    await helm_harness.start_operator()
    helm_harness.apply_workspace(inference_workspace("from-helm"))

    ws = await helm_harness.wait_for(
        lambda: (
            (w := helm_harness.workspace("from-helm")) and is_true(w, "WorkspaceSucceeded") and w
        ),
        what="WorkspaceSucceeded under the chart's RBAC",
    )
    assert ws["status"]["state"] == "Ready"
    bad = inference_workspace("refused")
    del bad["inference"]
    bad["metadata"]["namespace"] = helm_harness.ns
    proc = helm_harness.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode == 1
    assert "Either Inference or Tuning must be specified" in proc.stderr
