"""Integration tests against a real Kubernetes control plane.

One control plane per test session (``tests.fixtures.cluster``): etcd, kube-apiserver with RBAC
and an audit log, kube-controller-manager (garbage collector, StatefulSet, Job, namespace and
service-account controllers) and kube-scheduler, built from pinned Go modules. kaito is installed
with ``kubectl apply -k`` of ``config/default`` (webhook pointed at loopback), and the operator
runs in-process as its ServiceAccount, with a TokenRequest token, so RBAC applies to every call
it makes. Each test gets a fresh namespace, a simulated cloud provisioner and simulated kubelets.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kaito.operator.runner import Operator
from kaito.operator.settings import OperatorSettings
from tests.fixtures.cluster.actors import Kubelet, Provisioner
from tests.fixtures.cluster.client import ApiError, Kube, res
from tests.fixtures.cluster.controlplane import ControlPlane, controlplane_bin, free_port
from tests.fixtures.cluster.install import OPERATOR_NAMESPACE, Installation, install_kaito
from tests.fixtures.cluster.service import ServiceProxy

Obj = dict[str, Any]
LEASE = "ef60f9b0.io"
_counter = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.k8s)


class OperatorReplica:
    """An operator in its own thread and event loop, like a separate process.

    Kopf's shutdown cancels every task its event loop gained while it ran, so replicas must not
    share a loop with each other or with the test. ``kill`` stops the loop dead (no cleanup, no
    lease release), which is how a crashed or OOM-killed pod looks to the rest of the cluster.
    """

    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        self.op: Operator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def body() -> None:
            self.op = Operator(self.settings)
            self._task = asyncio.current_task()
            waiter = asyncio.create_task(self.op.ready.wait())
            waiter.add_done_callback(lambda _: self._ready.set())
            await self.op.run()

        with contextlib.suppress(BaseException):
            loop.run_until_complete(body())

    async def start(self) -> Operator:
        self._thread.start()
        ok = await asyncio.to_thread(self._ready.wait, 30)
        assert ok, "operator did not become ready"
        assert self.op is not None
        if self.settings.webhook:
            await _wait_listening(self.settings.webhook_port)
        return self.op

    async def stop(self) -> None:
        if self._loop is not None and self.op is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.op.stop)
            await asyncio.to_thread(self._thread.join, 3)
        if self._thread.is_alive() and self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
            await asyncio.to_thread(self._thread.join, 5)

    async def kill(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)


class OperatorProcess:
    """``python -m kaito.operator`` as its own process, so that a kill is a real SIGKILL.

    Settings travel as the ``KAITO_*`` environment the Deployment would set.
    """

    def __init__(self, settings: OperatorSettings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_port = int(settings.health_probe_bind_address.rsplit(":", 1)[1])

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, value in self.settings.model_dump().items():
            if value is None:
                continue
            text = json.dumps(value) if isinstance(value, list | dict) else str(value)
            env[f"KAITO_{name.upper()}"] = text.lower() if isinstance(value, bool) else text
        return env

    async def start(self) -> OperatorProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, never awaited
                [sys.executable, "-m", "kaito.operator"],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(self._ready):
            assert self.proc.poll() is None, f"operator exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "operator process never became ready"
            await asyncio.sleep(0.1)
        if self.settings.webhook:
            await _wait_listening(self.settings.webhook_port)
        return self

    def _ready(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
        return False

    async def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                await self.kill()


async def _wait_listening(port: int, within: float = 20) -> None:
    # Kopf opens the webhook port after its resource discovery, shortly after it is ready.
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"the webhook never listened on {port}"
            await asyncio.sleep(0.05)


class Cluster:
    """The session's control plane with kaito installed, and the webhook's stand-in Service."""

    def __init__(self, cp: ControlPlane, install: Installation) -> None:
        self.cp = cp
        self.install = install
        self.kube = Kube(cp.kubeconfig)
        self.service = ServiceProxy(install.webhook_port)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    bin_dir = controlplane_bin(build=True)
    assert bin_dir is not None
    cp = ControlPlane(tmp_path_factory.mktemp("controlplane"), bin_dir)
    try:
        cp.start_apiserver()
        install = install_kaito(cp, webhook_port=free_port())
        cp.start_controllers()
        cluster = Cluster(cp, install)
        cluster.service.start()
        yield cluster
        cluster.service.stop()
    finally:
        cp.stop()


class Harness:
    """One test's view: a fresh namespace, simulated actors and operator replicas."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.cp = cluster.cp
        self.kube = cluster.kube
        self.ns = namespace
        self.provisioner = Provisioner(self.kube, delay=0.05)
        self.kubelet = Kubelet(self.kube, delay=0.05)
        self.replicas: list[OperatorReplica | OperatorProcess] = []
        self.namespaces = [namespace]
        self._last_settings: OperatorSettings | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, cluster: Cluster, namespace: str) -> AsyncIterator[Harness]:
        """A fresh namespace with its actors running; everything left is cleaned up after."""
        cluster.kube.create("namespaces", {"metadata": {"name": namespace}})
        harness = cls(cluster, namespace)
        harness.provisioner.start()
        harness.kubelet.start()
        try:
            yield harness
        finally:
            await harness.cleanup()

    # ---- operators -----------------------------------------------------------------------------

    def settings(self, **overrides: Any) -> OperatorSettings:
        install = self.cluster.install
        values: dict[str, Any] = {
            "kubeconfig": str(install.kubeconfig),
            "node_provisioner": "gpu-provisioner",
            "release_namespace": OPERATOR_NAMESPACE,
            "metrics_bind_address": f"127.0.0.1:{free_port()}",
            "health_probe_bind_address": f"127.0.0.1:{free_port()}",
            # Every replica serves the webhook on its own port, behind the stand-in Service.
            "webhook": True,
            "webhook_host": "127.0.0.1",
            "webhook_port": free_port(),
            "webhook_cert_dir": str(install.webhook_cert_dir),
            "leader_elect": False,
            "requeue_seconds": 0.2,
        }
        values.update(overrides)
        return OperatorSettings(**values)

    async def start_operator(self, **overrides: Any) -> Operator:
        """An operator in this process (its metrics and state can be inspected)."""
        replica = OperatorReplica(self.settings(**overrides))
        op = await self._start(replica)
        assert isinstance(op, Operator)
        return op

    async def start_operator_process(self, **overrides: Any) -> OperatorProcess:
        """An operator in its own process (``kill_operator`` sends it SIGKILL)."""
        settings = self.settings(**overrides)
        replica = OperatorProcess(settings, self.cp.workdir / f"operator-{self.ns}.log")
        proc = await self._start(replica)
        assert isinstance(proc, OperatorProcess)
        return proc

    async def _start(
        self, replica: OperatorReplica | OperatorProcess
    ) -> Operator | OperatorProcess:
        self._last_settings = replica.settings
        self.replicas.append(replica)
        started = await replica.start()
        if replica.settings.webhook:
            self.cluster.service.add(replica.settings.webhook_port)
        return started

    async def kill_operator(self, op: Operator | OperatorProcess) -> None:
        """Stop abruptly, as a crashed pod: no graceful finish, no lease release."""
        for replica in list(self.replicas):
            if replica is op or getattr(replica, "op", None) is op:
                self.cluster.service.remove(replica.settings.webhook_port)
                await replica.kill()
                self.replicas.remove(replica)

    async def stop_all(self) -> None:
        for replica in self.replicas:
            self.cluster.service.remove(replica.settings.webhook_port)
            await replica.stop()
        self.replicas.clear()

    # ---- the API -------------------------------------------------------------------------------

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.ns

    def new_namespace(self, suffix: str) -> str:
        """Another namespace for this test, removed with it."""
        name = f"{self.ns}-{suffix}"
        self.kube.create("namespaces", {"metadata": {"name": name}})
        self.namespaces.append(name)
        return name

    def apply_workspace(self, body: Obj) -> Obj:
        """Create a Workspace (through admission, as kubectl would).

        It goes to this test's namespace unless it names one of ``namespaces``.
        """
        namespace = body["metadata"].get("namespace")
        if namespace not in self.namespaces:
            namespace = self.ns
        body = {**body, "metadata": {**body["metadata"], "namespace": namespace}}
        return self.kube.create("workspaces", body)

    def workspace(self, name: str, namespace: str | None = None) -> Obj | None:
        return self.kube.get("workspaces", name, self._ns(namespace))

    def _where(self, kind: str, namespace: str | None) -> str | None:
        """This test's namespace for namespaced kinds (unless one is named), else none."""
        return self._ns(namespace) if res(kind).namespaced else None

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        return self.kube.get(kind, name, self._where(kind, namespace))

    def existing(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        """The object, which the test expects to exist: it fails, naming the object, if not."""
        obj = self.get(kind, name, namespace)
        assert obj is not None, f"no {kind} {name!r}"
        return obj

    def objects(self, kind: str, namespace: str | None = None) -> list[Obj]:
        return self.kube.list(kind, self._where(kind, namespace))

    def create(self, kind: str, body: Obj, namespace: str | None = None) -> Obj:
        return self.kube.create(kind, body, self._where(kind, namespace))

    def patch(self, kind: str, name: str, patch: Any, namespace: str | None = None) -> Obj:
        return self.kube.patch(kind, name, patch, self._where(kind, namespace))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        return self.kube.delete(kind, name, self._where(kind, namespace))

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.cp.kubectl("-n", self.ns, *args, input=input, check=check)

    async def wait_for(
        self, predicate: Callable[[], Any], within: float = 30.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + within
        while True:
            value = await asyncio.to_thread(predicate)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.describe()}")
            await asyncio.sleep(0.05)

    def describe(self) -> str:
        """What the cluster looks like now, for a failure message."""
        lines = [f"actor errors: {(self.provisioner.errors + self.kubelet.errors)[-3:]}"]
        with contextlib.suppress(Exception):
            for ns in self.namespaces:
                for ws in self.objects("workspaces", ns):
                    status = ws.get("status") or {}
                    conds = [
                        f"{c['type']}={c['status']}({c.get('reason')}: {c.get('message', '')[:99]})"
                        for c in status.get("conditions") or []
                    ]
                    lines.append(
                        f"workspace {ws['metadata']['name']}: {status.get('state')} {conds}"
                    )
                for pod in self.objects("pods", ns):
                    spec, st = pod.get("spec") or {}, pod.get("status") or {}
                    sched = [
                        c.get("message")
                        for c in st.get("conditions") or []
                        if c.get("type") == "PodScheduled"
                    ]
                    where = f"node={spec.get('nodeName')} phase={st.get('phase')}"
                    lines.append(f"pod {pod['metadata']['name']}: {where} {sched}")
            for node in self.kube.list("nodes"):
                lines.append(
                    f"node {node['metadata']['name']}: taints={node['spec'].get('taints')}"
                )
            for nc in self.kube.list("nodeclaims"):
                node_name = (nc.get("status") or {}).get("nodeName")
                lines.append(f"nodeclaim {nc['metadata']['name']}: {node_name}")
        return "\n".join(lines)

    # ---- cleanup -------------------------------------------------------------------------------

    async def cleanup(self) -> None:
        """Delete what the test left, through the operator (its finalizer), then the rest."""
        for ns in self.namespaces:  # first, so no InferenceSet makes Workspaces again
            for iset in self.objects("inferencesets", ns):
                self.kube.delete("inferencesets", iset["metadata"]["name"], ns)
        leftovers = [ws for ns in self.namespaces for ws in self.objects("workspaces", ns)]
        if leftovers:
            if not self.replicas and self._last_settings:
                await self.start_operator(
                    **{
                        "node_provisioner": self._last_settings.node_provisioner,
                        "leader_elect": False,
                    }
                )
            for ws in leftovers:
                meta = ws["metadata"]
                self.kube.delete("workspaces", meta["name"], meta["namespace"])
            with contextlib.suppress(AssertionError):
                await self.wait_for(
                    lambda: not any(self.objects("workspaces", ns) for ns in self.namespaces),
                    within=20,
                )
        await self.stop_all()
        self.provisioner.stop()
        self.kubelet.stop()
        kube = self.kube
        for claim in kube.list("nodeclaims"):
            with contextlib.suppress(ApiError):
                kube.patch(
                    "nodeclaims", claim["metadata"]["name"], {"metadata": {"finalizers": None}}
                )
            kube.delete("nodeclaims", claim["metadata"]["name"])
        for pool in kube.list("nodepools"):
            kube.delete("nodepools", pool["metadata"]["name"])
        for node in kube.list("nodes"):
            kube.delete("nodes", node["metadata"]["name"])
        kube.delete("leases", LEASE, OPERATOR_NAMESPACE)
        for namespace in self.namespaces:
            kube.delete("namespaces", namespace)


def condition(ws: Obj | None, ctype: str) -> Obj | None:
    for cond in ((ws or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def required_condition(ws: Obj | None, ctype: str) -> Obj:
    """The ``ctype`` condition, which the test expects ``ws`` to have: fails, naming it, if not."""
    cond = condition(ws, ctype)
    assert cond is not None, f"no {ctype} condition"
    return cond


def is_true(ws: Obj | None, ctype: str) -> bool:
    cond = condition(ws, ctype)
    return bool(cond and cond["status"] == "True")


@pytest.fixture
async def harness(cluster: Cluster) -> AsyncIterator[Harness]:
    async with Harness.open(cluster, f"t{next(_counter)}-{int(time.time()) % 100000}") as h:
        yield h
