"""``kaito.k8s.client.Cluster`` over HTTP: dicts in and out, errors in our own hierarchy."""

from __future__ import annotations

import socket

import pytest

from kaito.k8s import errors, resources
from kaito.k8s.client import Cluster, load_config
from tests.fixtures.emulator.server import KubernetesEmulator


def _cm(name: str, **labels: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "data": {"k": "v"},
    }


async def test_create_returns_the_stored_object_with_server_metadata(cluster: Cluster) -> None:
    created = await cluster.create(_cm("a"))
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"]
    assert created["data"] == {"k": "v"}


async def test_creating_an_existing_name_raises_already_exists(cluster: Cluster) -> None:
    await cluster.create(_cm("a"))
    with pytest.raises(errors.AlreadyExistsError) as info:
        await cluster.create(_cm("a"))
    assert info.value.status == 409
    assert isinstance(info.value.__cause__, Exception)  # chained from the client library


async def test_missing_objects_raise_not_found_or_return_none(cluster: Cluster) -> None:
    with pytest.raises(errors.NotFoundError):
        await cluster.get(resources.CONFIGMAP, "nope", "default")
    assert await cluster.get_or_none(resources.CONFIGMAP, "nope", "default") is None


async def test_list_filters_by_label_equality(cluster: Cluster) -> None:
    await cluster.create(_cm("one", app="x", tier="a"))
    await cluster.create(_cm("two", app="x", tier="b"))
    await cluster.create(_cm("three", app="y"))
    found = await cluster.list(resources.CONFIGMAP, "default", labels={"app": "x", "tier": "b"})
    assert [o["metadata"]["name"] for o in found] == ["two"]


async def test_stale_replace_raises_conflict(cluster: Cluster) -> None:
    created = await cluster.create(_cm("a"))
    await cluster.patch(resources.CONFIGMAP, "a", {"data": {"k": "w"}}, "default")
    stale = {**created, "data": {"k": "stale"}}
    with pytest.raises(errors.ConflictError) as info:
        await cluster.replace(stale)
    assert info.value.retriable


async def test_status_subresource_is_separate_from_the_main_resource(cluster: Cluster) -> None:
    ws = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w", "namespace": "default"},
        "resource": {"count": 1},
    }
    created = await cluster.create(ws)
    assert created["metadata"]["generation"] == 1
    patched = await cluster.patch(
        resources.WORKSPACE, "w", {"status": {"state": "Ready"}}, "default", status=True
    )
    assert patched["status"] == {"state": "Ready"}
    assert patched["metadata"]["generation"] == 1
    main = await cluster.patch(
        resources.WORKSPACE,
        "w",
        {"resource": {"count": 2}, "status": {"state": "Ignored"}},
        "default",
    )
    assert main["status"] == {"state": "Ready"}  # status writes through the main resource drop
    assert main["metadata"]["generation"] == 2  # a change outside metadata/status bumps it


async def test_deleting_an_object_with_finalizers_waits_for_them(cluster: Cluster) -> None:
    claim = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": "ws0", "finalizers": ["karpenter.sh/termination"]},
        "spec": {},
    }
    await cluster.create(claim)
    await cluster.delete(resources.NODECLAIM, "ws0")
    marked = await cluster.get(resources.NODECLAIM, "ws0")
    assert marked["metadata"]["deletionTimestamp"]
    await cluster.patch(resources.NODECLAIM, "ws0", {"metadata": {"finalizers": None}})
    assert await cluster.get_or_none(resources.NODECLAIM, "ws0") is None


async def test_server_errors_are_retriable_server_errors(
    cluster: Cluster, emulator: KubernetesEmulator
) -> None:
    emulator.faults.rate = 1.0
    emulator.faults.kinds = ("server",)
    with pytest.raises(errors.ServerError) as info:
        await cluster.get(resources.CONFIGMAP, "a", "default")
    assert info.value.status == 500
    assert info.value.retriable


async def test_unreachable_server_raises_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Cluster(load_config(server=f"http://127.0.0.1:{port}"), timeout=1.0)
    try:
        with pytest.raises(errors.TransportError):
            await client.get(resources.CONFIGMAP, "a", "default")
    finally:
        await client.close()


async def test_calls_are_counted_per_verb_and_kind(cluster: Cluster) -> None:
    await cluster.create(_cm("a"))
    await cluster.get(resources.CONFIGMAP, "a", "default")
    await cluster.list(resources.CONFIGMAP, "default")
    assert cluster.calls["create configmaps"] == 1
    assert cluster.calls["get configmaps"] == 1
    assert cluster.calls["list configmaps"] == 1
