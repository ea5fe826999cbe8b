"""Idempotent write helpers against the emulator (with injected faults where it matters)."""

from __future__ import annotations

from kaito.k8s import apply, resources
from kaito.k8s.client import Cluster
from tests.fixtures.emulator.server import KubernetesEmulator


def _ws() -> dict:
    return {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w", "namespace": "default"},
        "resource": {"count": 1},
    }


async def test_create_or_get_returns_the_existing_object_the_second_time(cluster: Cluster) -> None:
    first, created = await apply.create_or_get(cluster, _ws())
    again, created_again = await apply.create_or_get(cluster, {**_ws(), "resource": {"count": 9}})
    assert created is True
    assert created_again is False
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    assert again["resource"] == {"count": 1}


async def test_patch_status_retries_conflicts_until_it_writes(
    cluster: Cluster, emulator: KubernetesEmulator
) -> None:
    await cluster.create(_ws())
    emulator.faults.rate = 0.5
    emulator.faults.kinds = ("conflict",)
    emulator.faults.__post_init__()
    written = await apply.patch_status(
        cluster, resources.WORKSPACE, "w", "default", lambda ws: {"state": "Ready"}, retries=20
    )
    emulator.faults.rate = 0.0
    assert written is not None
    assert (await cluster.get(resources.WORKSPACE, "w", "default"))["status"] == {"state": "Ready"}
    assert emulator.faults.injected["conflict"] >= 1


async def test_patch_status_skips_the_write_when_nothing_changed(
    cluster: Cluster, emulator: KubernetesEmulator
) -> None:
    await cluster.create(_ws())
    before = sum(emulator.requests.values())
    result = await apply.patch_status(cluster, resources.WORKSPACE, "w", "default", lambda ws: None)
    assert result is None
    assert sum(emulator.requests.values()) == before + 1  # only the read


async def test_patch_status_clears_keys_the_new_status_leaves_out(cluster: Cluster) -> None:
    await cluster.create(_ws())
    await cluster.patch(
        resources.WORKSPACE,
        "w",
        {"status": {"state": "Ready", "workerNodes": ["n"]}},
        "default",
        status=True,
    )
    await apply.patch_status(
        cluster, resources.WORKSPACE, "w", "default", lambda ws: {"state": "NotReady"}
    )
    assert (await cluster.get(resources.WORKSPACE, "w", "default"))["status"] == {
        "state": "NotReady"
    }


async def test_delete_if_exists_reports_whether_anything_was_deleted(cluster: Cluster) -> None:
    await cluster.create(_ws())
    assert await apply.delete_if_exists(cluster, resources.WORKSPACE, "w", "default") is True
    assert await apply.delete_if_exists(cluster, resources.WORKSPACE, "w", "default") is False
