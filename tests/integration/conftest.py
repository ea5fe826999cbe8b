"""Fixtures for integration tests: the API emulator over HTTP, simulated actors, the operator.

The operator runs in-process as an asyncio task (Kopf plus our client code), against the
emulator's real HTTP endpoint, with short requeue and actor delays so scenarios finish fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kaito.operator.runner import Operator
from kaito.operator.settings import OperatorSettings
from tests.fixtures.emulator.actors import Kubelet, Provisioner
from tests.fixtures.emulator.server import KubernetesEmulator

Obj = dict[str, Any]


class Harness:
    """The emulator, its actors and operator replicas for one test."""

    def __init__(self, emulator: KubernetesEmulator) -> None:
        self.emulator = emulator
        self.store = emulator.store
        self.provisioner = Provisioner(emulator.store, delay=0.05)
        self.kubelet = Kubelet(emulator.store, delay=0.05)
        self.operators: list[tuple[Operator, asyncio.Task[None]]] = []

    def settings(self, **overrides: Any) -> OperatorSettings:
        values: dict[str, Any] = {
            "server": self.emulator.url,
            "node_provisioner": "gpu-provisioner",
            "release_namespace": "kaito-system",
            "metrics_bind_address": "127.0.0.1:0",
            "health_probe_bind_address": "127.0.0.1:0",
            "webhook": False,
            "leader_elect": False,
            "requeue_seconds": 0.1,
        }
        values.update(overrides)
        return OperatorSettings(**values)

    async def start_operator(self, **overrides: Any) -> Operator:
        op = Operator(self.settings(**overrides))
        task = asyncio.create_task(op.run())
        self.operators.append((op, task))
        await asyncio.wait_for(op.ready.wait(), 10)
        return op

    async def kill_operator(self, op: Operator) -> None:
        """Stop abruptly: cancel its task (no graceful finish of in-flight passes)."""
        for i, (o, task) in enumerate(self.operators):
            if o is op:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
                del self.operators[i]
                return

    async def stop_all(self) -> None:
        # Kopf waits up to 5 s for every task spawned while it ran, which here includes the
        # emulator's own request handlers (same event loop): stop gracefully, then cancel.
        for op, task in list(self.operators):
            op.stop()
            try:
                await asyncio.wait_for(asyncio.shield(task), 1)
            except (TimeoutError, asyncio.CancelledError, Exception):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.operators.clear()

    # ---- store helpers -------------------------------------------------------------------------

    def rt(self, group: str, plural: str) -> Any:
        return self.store.rtype(group, plural)

    def apply_workspace(self, body: Obj) -> Obj:
        return self.store.create(
            self.rt("kaito.sh", "workspaces"), body["metadata"].get("namespace", "default"), body
        )

    def workspace(self, name: str, namespace: str = "default") -> Obj | None:
        return self.store.get(self.rt("kaito.sh", "workspaces"), namespace, name)

    def objects(self, group: str, plural: str, namespace: str | None = None) -> list[Obj]:
        return self.store.list(self.rt(group, plural), namespace)

    async def wait_for(
        self, predicate: Callable[[], Any], within: float = 15.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)


def condition(ws: Obj | None, ctype: str) -> Obj | None:
    for cond in ((ws or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def is_true(ws: Obj | None, ctype: str) -> bool:
    cond = condition(ws, ctype)
    return bool(cond and cond["status"] == "True")


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    emulator = KubernetesEmulator(bookmark_interval=0.5)
    await emulator.start()
    emulator.store.create(
        emulator.rtype("", "namespaces"), None, {"metadata": {"name": "kaito-system"}}
    )
    h = Harness(emulator)
    h.provisioner.start()
    h.kubelet.start()
    try:
        yield h
    finally:
        await h.stop_all()
        await h.provisioner.stop()
        await h.kubelet.stop()
        await emulator.stop()


def inference_workspace(
    name: str = "workspace-phi-4-mini",
    *,
    instance_type: str | None = "Standard_NC24ads_A100_v4",
    preset: str = "phi-4-mini-instruct",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    adapters: list[Obj] | None = None,
) -> Obj:
    resource: Obj = {"labelSelector": {"matchLabels": labels or {"apps": name}}}
    if instance_type:
        resource["instanceType"] = instance_type
    inference: Obj = {"preset": {"name": preset}}
    if adapters is not None:
        inference["adapters"] = adapters
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "resource": resource,
        "inference": inference,
    }


def tuning_workspace(name: str = "workspace-tuning-phi-3") -> Obj:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": "default"},
        "resource": {
            "instanceType": "Standard_NC24ads_A100_v4",
            "labelSelector": {"matchLabels": {"app": name}},
        },
        "tuning": {
            "preset": {"name": "phi-3-mini-128k-instruct"},
            "method": "qlora",
            "input": {"urls": ["https://example.com/data.parquet"]},
            "output": {"image": "registry.example.com/adapter:0.1", "imagePushSecret": "push"},
        },
    }
