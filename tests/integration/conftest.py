"""Fixtures for integration tests: the API emulator over HTTP, simulated actors, the operator.

The operator runs in-process as an asyncio task (Kopf plus our client code), against the
emulator's real HTTP endpoint, with short requeue and actor delays so scenarios finish fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kaito.operator.runner import Operator
from kaito.operator.settings import OperatorSettings
from tests.fixtures.emulator.actors import Kubelet, Provisioner
from tests.fixtures.emulator.server import KubernetesEmulator

Obj = dict[str, Any]


class OperatorReplica:
    """An operator in its own thread and event loop, like a separate process.

    Kopf's shutdown cancels every task its event loop gained while it ran, so replicas must not
    share a loop with each other or with the emulator. ``kill`` stops the loop dead (no cleanup,
    no lease release), which is how a crashed or OOM-killed pod looks to the rest of the cluster.
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
        ok = await asyncio.to_thread(self._ready.wait, 15)
        assert ok, "operator did not become ready"
        assert self.op is not None
        return self.op

    async def stop(self) -> None:
        if self._loop is not None and self.op is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.op.stop)
            await asyncio.to_thread(self._thread.join, 1.5)
        if self._thread.is_alive() and self._loop is not None and self._task is not None:
            # Kopf waits for the emulator's request handlers; don't wait for it.
            self._loop.call_soon_threadsafe(self._task.cancel)
            await asyncio.to_thread(self._thread.join, 5)

    async def kill(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5)


class Harness:
    """The emulator, its actors and operator replicas for one test."""

    def __init__(self, emulator: KubernetesEmulator) -> None:
        self.emulator = emulator
        self.store = emulator.store
        self.provisioner = Provisioner(emulator.store, delay=0.05)
        self.kubelet = Kubelet(emulator.store, delay=0.05)
        self.replicas: list[OperatorReplica] = []

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
        replica = OperatorReplica(self.settings(**overrides))
        self.replicas.append(replica)
        return await replica.start()

    async def kill_operator(self, op: Operator) -> None:
        """Stop abruptly, as a crashed pod: no graceful finish, no lease release."""
        for replica in list(self.replicas):
            if replica.op is op:
                await replica.kill()
                self.replicas.remove(replica)

    async def stop_all(self) -> None:
        for replica in self.replicas:
            await replica.stop()
        self.replicas.clear()

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
