"""``kaito.k8s.client.Cluster`` against the real API server: dicts in and out, our own errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kaito.k8s import errors, resources
from kaito.k8s.client import Cluster
from tests.fixtures.cluster.actors import TERMINATION_FINALIZER
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
    async with kaito_cluster(harness.cp.kubeconfig) as client:
        yield client


def _cm(ns: str, name: str, **labels: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "data": {"k": "v"},
    }


def _ws(ns: str, name: str = "w") -> dict:
    body = inference_workspace(name)
    body["metadata"]["namespace"] = ns
    return body


async def test_create_returns_the_stored_object_with_server_metadata(
    harness: Harness, client: Cluster
) -> None:
    created = await client.create(_cm(harness.ns, "a"))
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"]
    assert created["data"] == {"k": "v"}
    assert harness.existing("configmaps", "a")["metadata"]["uid"] == meta["uid"]


async def test_creating_an_existing_name_raises_already_exists(
    harness: Harness, client: Cluster
) -> None:
    await client.create(_cm(harness.ns, "a"))
    with pytest.raises(errors.AlreadyExistsError) as info:
        await client.create(_cm(harness.ns, "a"))
    assert info.value.status == 409
    assert isinstance(info.value.__cause__, Exception)  # chained from the client library


async def test_missing_objects_raise_not_found_or_return_none(
    harness: Harness, client: Cluster
) -> None:
    with pytest.raises(errors.NotFoundError):
        await client.get(resources.CONFIGMAP, "nope", harness.ns)
    assert await client.get_or_none(resources.CONFIGMAP, "nope", harness.ns) is None


async def test_list_filters_by_label_equality(harness: Harness, client: Cluster) -> None:
    await client.create(_cm(harness.ns, "one", app="x", tier="a"))
    await client.create(_cm(harness.ns, "two", app="x", tier="b"))
    await client.create(_cm(harness.ns, "three", app="y"))
    found = await client.list(resources.CONFIGMAP, harness.ns, labels={"app": "x", "tier": "b"})
    assert [o["metadata"]["name"] for o in found] == ["two"]


async def test_stale_replace_raises_conflict(harness: Harness, client: Cluster) -> None:
    created = await client.create(_cm(harness.ns, "a"))
    await client.patch(resources.CONFIGMAP, "a", {"data": {"k": "w"}}, harness.ns)
    stale = {**created, "data": {"k": "stale"}}
    with pytest.raises(errors.ConflictError) as info:
        await client.replace(stale)
    assert info.value.retriable
    assert harness.existing("configmaps", "a")["data"] == {"k": "w"}


async def test_status_subresource_is_separate_from_the_main_resource(
    harness: Harness, client: Cluster
) -> None:
    await serve_admission(harness)
    created = await client.create(_ws(harness.ns))
    assert created["metadata"]["generation"] == 1
    patched = await client.patch(
        resources.WORKSPACE, "w", {"status": {"state": "Ready"}}, harness.ns, status=True
    )
    assert patched["status"] == {"state": "Ready"}
    assert patched["metadata"]["generation"] == 1
    adapters = [{"source": {"name": "a0", "image": "example.com/a0:1"}}]
    main = await client.patch(
        resources.WORKSPACE,
        "w",
        {"inference": {"adapters": adapters}, "status": {"state": "Ignored"}},
        harness.ns,
    )
    assert main["status"] == {"state": "Ready"}  # status writes through the main resource drop
    assert main["metadata"]["generation"] == 2  # a change outside metadata/status bumps it
    assert main["inference"]["adapters"] == adapters


async def test_deleting_an_object_with_finalizers_waits_for_them(
    harness: Harness, client: Cluster
) -> None:
    harness.provisioner.stop()  # the simulated cloud would launch a node for the claim
    name = f"{harness.ns}-claim"
    claim = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": name, "finalizers": [TERMINATION_FINALIZER]},
        "spec": {
            "nodeClassRef": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
            "requirements": [],
        },
    }
    await client.create(claim)
    await client.delete(resources.NODECLAIM, name)
    marked = await client.get(resources.NODECLAIM, name)
    assert marked["metadata"]["deletionTimestamp"]
    await client.patch(resources.NODECLAIM, name, {"metadata": {"finalizers": None}})
    assert await client.get_or_none(resources.NODECLAIM, name) is None


async def test_server_errors_are_retriable_server_errors(harness: Harness) -> None:
    proxy = ScriptedProxy(harness, kind="server", count=1, methods=("GET",))
    async with proxied_cluster(harness, proxy) as faulty:
        with pytest.raises(errors.ServerError) as info:
            await faulty.get(resources.CONFIGMAP, "a", harness.ns)
    assert info.value.status == 500
    assert info.value.retriable
    assert proxy.injected["server"] == 1


async def test_an_unreachable_webhook_is_the_api_servers_own_server_error(
    harness: Harness, client: Cluster
) -> None:
    # No operator runs, so the webhook (failurePolicy: Fail) cannot be called.
    with pytest.raises(errors.ServerError) as info:
        await client.create(_ws(harness.ns))
    assert info.value.status == 500
    assert info.value.retriable
    assert "validation.workspace.kaito.sh" in str(info.value)
    assert harness.workspace("w") is None


async def test_calls_are_counted_per_verb_and_kind(harness: Harness, client: Cluster) -> None:
    await client.create(_cm(harness.ns, "a"))
    await client.get(resources.CONFIGMAP, "a", harness.ns)
    await client.list(resources.CONFIGMAP, harness.ns)
    assert client.calls["create configmaps"] == 1
    assert client.calls["get configmaps"] == 1
    assert client.calls["list configmaps"] == 1
