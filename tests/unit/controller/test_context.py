"""``ControllerContext.event``: awaited by default, in the background for the operator."""

from __future__ import annotations

import asyncio
from typing import Any

from kaito.controller.context import ControllerContext
from kaito.manifests.plan import ManifestSettings

Obj = dict[str, Any]
INVOLVED = {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": {"name": "ws"}}


class _Cluster:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.posted: list[str] = []

    async def create(self, obj: Obj) -> Obj:
        await self.gate.wait()
        self.posted.append(obj["reason"])
        return obj


async def test_events_are_awaited_unless_posted_in_the_background() -> None:
    cluster = _Cluster()
    ctx = ControllerContext(cluster=cluster, settings=ManifestSettings())  # type: ignore[arg-type]
    cluster.gate.set()
    await ctx.event(INVOLVED, "Awaited", "m")
    assert cluster.posted == ["Awaited"]

    cluster.gate.clear()
    ctx.background_events = True
    await asyncio.wait_for(ctx.event(INVOLVED, "Background", "m"), 1)  # does not wait
    assert cluster.posted == ["Awaited"]
    cluster.gate.set()
    await asyncio.sleep(0.01)
    assert cluster.posted == ["Awaited", "Background"]
