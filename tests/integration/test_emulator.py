"""The API emulator's HTTP semantics that Kopf and our client rely on (raw HTTP, no client)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fixtures.emulator.server import KubernetesEmulator


@pytest.fixture
async def api() -> AsyncIterator[tuple[KubernetesEmulator, aiohttp.ClientSession]]:
    emu = KubernetesEmulator(bookmark_interval=0.1)
    await emu.start()
    async with aiohttp.ClientSession(base_url=emu.url) as session:
        yield emu, session
    await emu.stop()


CMS = "/api/v1/namespaces/default/configmaps"


async def _create(session: aiohttp.ClientSession, body: dict[str, Any]) -> dict[str, Any]:
    async with session.post(CMS, json=body) as resp:
        assert resp.status == 201
        return dict(await resp.json())


async def test_generate_name_and_server_metadata(api: Any) -> None:
    _, session = api
    created = await _create(session, {"metadata": {"generateName": "cm-"}, "data": {}})
    assert created["metadata"]["name"].startswith("cm-")
    assert len(created["metadata"]["name"]) > 3
    assert created["metadata"]["uid"]
    assert created["kind"] == "ConfigMap"


async def test_json_patch_test_failure_is_422_and_changes_nothing(api: Any) -> None:
    _, session = api
    created = await _create(session, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "stale"},
        {"op": "replace", "path": "/data/k", "value": "w"},
    ]
    headers = {"Content-Type": "application/json-patch+json"}
    async with session.patch(f"{CMS}/a", data=json.dumps(ops), headers=headers) as resp:
        assert resp.status == 422
    ops[0]["value"] = created["metadata"]["resourceVersion"]
    async with session.patch(f"{CMS}/a", data=json.dumps(ops), headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["data"] == {"k": "w"}


async def test_set_based_label_selectors(api: Any) -> None:
    _, session = api
    for name, tier in (("a", "web"), ("b", "db"), ("c", None)):
        labels = {"tier": tier} if tier else {}
        await _create(session, {"metadata": {"name": name, "labels": labels}})
    for selector, expected in (
        ("tier in (web,db)", ["a", "b"]),
        ("tier notin (web)", ["b", "c"]),
        ("!tier", ["c"]),
        ("tier,tier!=db", ["a"]),
    ):
        async with session.get(CMS, params={"labelSelector": selector}) as resp:
            names = [o["metadata"]["name"] for o in (await resp.json())["items"]]
        assert names == expected, selector


async def test_watch_resumes_from_a_resource_version_and_ends_at_timeout(api: Any) -> None:
    _, session = api
    first = await _create(session, {"metadata": {"name": "a"}})
    await _create(session, {"metadata": {"name": "b"}})
    params = {
        "watch": "true",
        "resourceVersion": first["metadata"]["resourceVersion"],
        "timeoutSeconds": "1",
        "allowWatchBookmarks": "true",
    }
    started = time.monotonic()
    async with session.get(CMS, params=params) as resp:
        lines = [json.loads(line) async for line in resp.content if line.strip()]
    assert 0.9 < time.monotonic() - started < 3
    assert lines[0]["type"] == "ADDED"
    assert lines[0]["object"]["metadata"]["name"] == "b"  # only what happened after "a"
    assert {e["type"] for e in lines[1:]} == {"BOOKMARK"}


async def test_owner_deletion_collects_dependents_and_finalizers_hold_deletion(api: Any) -> None:
    emu, session = api
    owner = await _create(session, {"metadata": {"name": "owner"}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
    }
    await _create(session, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    await _create(
        session,
        {"metadata": {"name": "held", "ownerReferences": [ref], "finalizers": ["x/y"]}},
    )
    async with session.delete(f"{CMS}/owner") as resp:
        assert resp.status == 200
    rt = emu.rtype("", "configmaps")
    assert emu.store.get(rt, "default", "child") is None
    held = emu.store.get(rt, "default", "held")
    assert held["metadata"]["deletionTimestamp"]
    add = {"metadata": {"finalizers": ["x/y", "new/one"]}}
    async with session.patch(
        f"{CMS}/held", json=add, headers={"Content-Type": "application/merge-patch+json"}
    ) as resp:
        assert resp.status == 422  # no new finalizers on an object being deleted
    release = {"metadata": {"finalizers": None}}
    async with session.patch(
        f"{CMS}/held", json=release, headers={"Content-Type": "application/merge-patch+json"}
    ) as resp:
        assert resp.status == 200
    assert emu.store.get(rt, "default", "held") is None


async def test_creating_in_a_missing_namespace_is_404(api: Any) -> None:
    _, session = api
    async with session.post(
        "/api/v1/namespaces/nowhere/configmaps", json={"metadata": {"name": "a"}}
    ) as resp:
        assert resp.status == 404
        assert (await resp.json())["message"] == 'namespaces "nowhere" not found'
