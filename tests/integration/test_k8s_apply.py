"""Idempotent write helpers (``kaito.k8s.apply``) against the real API server.

Workspaces go through the validating webhook (an operator serves it, watching another
namespace); faults and request counts come from a proxy in front of the API server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kaito.k8s import apply, errors, resources
from kaito.k8s.client import Cluster
from tests.fixtures.samples import inference_workspace
from tests.integration.api_client import (
    ScriptedProxy,
    kaito_cluster,
    proxied_cluster,
    serve_admission,
)
from tests.integration.conftest import Harness


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[Cluster]:
    await serve_admission(harness)
    async with kaito_cluster(harness.cp.kubeconfig) as client:
        yield client


def _ws(ns: str, adapters: int = 0) -> dict:
    body = inference_workspace("w")
    body["metadata"]["namespace"] = ns
    body["inference"]["adapters"] = [
        {"source": {"name": f"a{i}", "image": f"example.com/a{i}:1"}} for i in range(adapters)
    ]
    return body


async def test_create_or_get_returns_the_existing_object_the_second_time(
    harness: Harness, client: Cluster
) -> None:
    first, created = await apply.create_or_get(client, _ws(harness.ns))
    again, created_again = await apply.create_or_get(client, _ws(harness.ns, adapters=2))
    assert created is True
    assert created_again is False
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    assert again["inference"]["adapters"] == []
    assert again["resource"] == first["resource"]


async def test_patch_status_retries_conflicts_until_it_writes(
    harness: Harness, client: Cluster
) -> None:
    await client.create(_ws(harness.ns))
    proxy = ScriptedProxy(harness, kind="conflict", count=3, methods=("PATCH",))
    async with proxied_cluster(harness, proxy) as faulty:
        written = await apply.patch_status(
            faulty, resources.WORKSPACE, "w", harness.ns, lambda ws: {"state": "Ready"}, retries=20
        )
    assert written is not None
    assert (await client.get(resources.WORKSPACE, "w", harness.ns))["status"] == {"state": "Ready"}
    assert proxy.injected["conflict"] == 3


async def test_patch_status_from_a_stale_copy_meets_the_servers_conflict_and_rereads(
    harness: Harness, client: Cluster
) -> None:
    stale = await client.create(_ws(harness.ns))
    await client.patch(
        resources.WORKSPACE, "w", {"status": {"state": "Pending"}}, harness.ns, status=True
    )
    seen: list[str | None] = []

    def compute(ws: dict) -> dict:
        seen.append((ws.get("status") or {}).get("state"))
        return {"state": "Ready"}

    written = await apply.patch_status(
        client, resources.WORKSPACE, "w", harness.ns, compute, current=stale
    )
    assert written is not None
    assert written["status"] == {"state": "Ready"}
    # The resourceVersion in the merge patch is a precondition: the stale write got 409.
    assert seen == [None, "Pending"]
    assert client.calls["patch-status workspaces"] == 3
    with pytest.raises(errors.ConflictError):
        await apply.patch_status(
            client, resources.WORKSPACE, "w", harness.ns, compute, current=stale, retries=1
        )


async def test_patch_status_skips_the_write_when_nothing_changed(
    harness: Harness, client: Cluster
) -> None:
    await client.create(_ws(harness.ns))
    proxy = ScriptedProxy(harness)  # no faults: it counts what reaches the API server
    async with proxied_cluster(harness, proxy) as counted:
        before = proxy.forwarded
        result = await apply.patch_status(
            counted, resources.WORKSPACE, "w", harness.ns, lambda ws: None
        )
        assert result is None
        assert proxy.forwarded == before + 1  # only the read
    assert counted.calls == {"get workspaces": 1}


async def test_patch_status_clears_keys_the_new_status_leaves_out(
    harness: Harness, client: Cluster
) -> None:
    await client.create(_ws(harness.ns))
    await client.patch(
        resources.WORKSPACE,
        "w",
        {"status": {"state": "Ready", "workerNodes": ["n"]}},
        harness.ns,
        status=True,
    )
    await apply.patch_status(
        client, resources.WORKSPACE, "w", harness.ns, lambda ws: {"state": "NotReady"}
    )
    assert (await client.get(resources.WORKSPACE, "w", harness.ns))["status"] == {
        "state": "NotReady"
    }


async def test_delete_if_exists_reports_whether_anything_was_deleted(
    harness: Harness, client: Cluster
) -> None:
    await client.create(_ws(harness.ns))
    assert await apply.delete_if_exists(client, resources.WORKSPACE, "w", harness.ns) is True
    assert await apply.delete_if_exists(client, resources.WORKSPACE, "w", harness.ns) is False
    assert harness.workspace("w") is None
