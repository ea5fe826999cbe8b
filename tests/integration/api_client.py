"""Helpers for tests of our own client (``kaito.k8s``) against the real API server.

* ``kaito_cluster``: a ``kaito.k8s.client.Cluster`` with the administrator's kubeconfig.
* ``serve_admission``: an operator that serves the validating webhook but reconciles nothing in
  the test's namespace, so Workspaces can be created and updated (``failurePolicy: Fail``) while
  the test alone writes them.
* ``ScriptedProxy`` / ``proxied_cluster``: the fault proxy of ``tests.fixtures.cluster.faults``
  with faults chosen by the test (one kind, on the first N calls of some verbs), and a client
  that reaches the API server through it. The proxy also counts the requests it forwards, which
  is what the API server sees. The client authenticates as a ServiceAccount of the test's
  namespace bound to ``cluster-admin`` there (client certificates end at the proxy's TLS), not as
  the operator, whose audited calls must stay what ``config/rbac`` grants.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from kaito.k8s.client import Cluster, load_config
from tests.fixtures.cluster.controlplane import issue_certificate, write_kubeconfig
from tests.fixtures.cluster.faults import FaultProxy
from tests.integration.conftest import Harness

CLIENT_ACCOUNT = "kaito-client"


@contextlib.asynccontextmanager
async def kaito_cluster(kubeconfig: Path, request_timeout: float = 10.0) -> AsyncIterator[Cluster]:
    client = Cluster(load_config(kubeconfig=kubeconfig), timeout=request_timeout)
    try:
        yield client
    finally:
        await client.close()


async def serve_admission(harness: Harness) -> None:
    """Start an operator for its webhook only: it watches another (empty) namespace."""
    idle = harness.new_namespace("idle")
    await harness.start_operator(namespaces=[idle])


class ScriptedProxy(FaultProxy):
    """A ``FaultProxy`` that fails the first ``count`` calls with one of ``methods`` as ``kind``."""

    def __init__(
        self,
        harness: Harness,
        kind: str | None = None,
        count: int = 0,
        methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE"),
    ) -> None:
        cp = harness.cp
        cert, key = issue_certificate(
            cp.pki, "client-proxy", "/CN=client-proxy", server_names=["127.0.0.1"]
        )
        super().__init__(cp.server, cp.ca, cert, key, rate=0.0)
        self.kind = kind
        self.remaining = count
        self.methods = methods

    def pick(self, method: str) -> str | None:
        if self.kind is None or self.remaining <= 0 or method not in self.methods:
            return None
        self.remaining -= 1
        return self.kind


@contextlib.contextmanager
def running(proxy: FaultProxy) -> Iterator[FaultProxy]:
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def client_kubeconfig(harness: Harness, server: str) -> Path:
    """A kubeconfig for ``server`` with the token of an admin ServiceAccount of ``harness.ns``."""
    harness.kubectl("create", "serviceaccount", CLIENT_ACCOUNT)
    harness.kubectl(
        "create",
        "rolebinding",
        CLIENT_ACCOUNT,
        "--clusterrole=cluster-admin",
        f"--serviceaccount={harness.ns}:{CLIENT_ACCOUNT}",
    )
    token = harness.kubectl("create", "token", CLIENT_ACCOUNT, "--duration=1h").stdout.strip()
    path = harness.cp.workdir / f"client-{harness.ns}.kubeconfig"
    return write_kubeconfig(path, server, harness.cp.ca, user=CLIENT_ACCOUNT, token=token)


@contextlib.asynccontextmanager
async def proxied_cluster(harness: Harness, proxy: FaultProxy) -> AsyncIterator[Cluster]:
    """Our client, reaching the API server through ``proxy`` (started and stopped here)."""
    with running(proxy):
        async with kaito_cluster(client_kubeconfig(harness, proxy.url)) as client:
            yield client
