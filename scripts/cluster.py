"""``make cluster``: a real Kubernetes control plane with kaito installed, for a person to try.

Builds what is missing (``scripts/build-controlplane.sh``), starts etcd, kube-apiserver,
kube-controller-manager and kube-scheduler on loopback, installs ``config/default`` with
``kubectl apply -k`` (webhook pointed at loopback), simulates the cloud and the GPU nodes'
kubelets (``tests/fixtures/cluster/actors.py``: NodeClaims become Ready GPU nodes, pods bound
to them run and succeed), and runs ``kaito operator`` as its ServiceAccount. Stays in the
foreground; Ctrl-C stops everything. Each start is a fresh cluster in ``.kaito/cluster``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.cluster.actors import Kubelet, Provisioner  # noqa: E402
from tests.fixtures.cluster.client import Kube  # noqa: E402
from tests.fixtures.cluster.controlplane import (  # noqa: E402
    ControlPlane,
    ControlPlaneError,
    controlplane_bin,
    free_port,
)
from tests.fixtures.cluster.install import install_kaito  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".kaito" / "cluster")
    parser.add_argument(
        "--node-provisioner", default="gpu-provisioner", help="gpu-provisioner or karpenter"
    )
    parser.add_argument("--gpus", type=int, default=1, help="nvidia.com/gpu per simulated node")
    parser.add_argument(
        "--delay", type=float, default=2.0, help="seconds a node/pod takes to start"
    )
    args = parser.parse_args()

    # Ctrl-C and SIGTERM stop everything, also when started where SIGINT was ignored (a
    # background job of a script).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    workdir: Path = args.dir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        bin_dir = controlplane_bin(build=True)
        assert bin_dir is not None
        cp = ControlPlane(workdir, bin_dir)
        cp.start_apiserver()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    operator: subprocess.Popen[bytes] | None = None
    actors: list[Provisioner | Kubelet] = []
    try:
        install = install_kaito(cp, webhook_port=free_port())
        cp.start_controllers()
        kube = Kube(cp.kubeconfig)
        actors = [
            Provisioner(kube, delay=args.delay, gpus=args.gpus),
            Kubelet(kube, delay=args.delay),
        ]
        for actor in actors:
            actor.start()
        log = (workdir / "operator.log").open("ab")
        operator = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "kaito"),
                "operator",
                f"--kubeconfig={install.kubeconfig}",
                f"--node-provisioner={args.node_provisioner}",
                "--webhook-port",
                str(install.webhook_port),
                f"--webhook-cert-dir={install.webhook_cert_dir}",
                "--metrics-bind-address=127.0.0.1:0",
                "--health-probe-bind-address=127.0.0.1:0",
                "--no-leader-elect",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "KAITO_WEBHOOK_HOST": "127.0.0.1"},
        )
        kubeconfig = workdir / "kubeconfig"
        shutil.copy(cp.kubeconfig, kubeconfig)
        _wait_for_webhook(cp, operator)
        shown = kubeconfig.relative_to(ROOT) if kubeconfig.is_relative_to(ROOT) else kubeconfig
        print(
            f"ready: kubectl --kubeconfig {shown} apply -f YOUR-WORKSPACE.yaml "
            f"(kubectl and helm are in {bin_dir}; logs in {workdir}); Ctrl-C stops",
            flush=True,
        )
        while operator.poll() is None:
            time.sleep(0.5)
        print(f"error: the operator exited ({operator.returncode}); see {workdir}/operator.log")
        return 1
    except KeyboardInterrupt:
        print("stopping", flush=True)
        return 0
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if operator is not None and operator.poll() is None:
            operator.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                operator.wait(10)
            if operator.poll() is None:
                operator.kill()
        for actor in actors:
            actor.stop()
        cp.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for_webhook(cp: ControlPlane, operator: subprocess.Popen[bytes]) -> None:
    """Until a server-side dry run of a Workspace is answered by the webhook (not refused)."""
    probe = (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        "metadata: {name: probe, namespace: default}\n"
        "resource: {instanceType: Standard_NC24ads_A100_v4, labelSelector: {matchLabels: {a: b}}}\n"
        "inference: {preset: {name: phi-4-mini-instruct}}\n"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if operator.poll() is not None:
            raise ControlPlaneError("the operator exited during start-up")
        proc = cp.kubectl("apply", "--dry-run=server", "-f", "-", input=probe, check=False)
        if proc.returncode == 0:
            return
        time.sleep(0.5)
    raise ControlPlaneError(f"the webhook never answered: {proc.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main())
