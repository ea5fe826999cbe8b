"""``kaito.k8s.informer``: the watch cache and the ``Cluster`` that reads from it, without a
server (the operator's integration tests run it against the real API server)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kaito.k8s import apply, errors, resources
from kaito.k8s.client import Cluster, load_config
from kaito.k8s.informer import CachedCluster, Informer, newer
from kaito.k8s.resources import Kind

Obj = dict[str, Any]
LABEL = "kaito.sh/workspace"


def _obj(name: str, rv: int, ws: str | None = "ws", ns: str = "default", **extra: Any) -> Obj:
    labels = {LABEL: ws} if ws is not None else {}
    meta = {"name": name, "namespace": ns, "resourceVersion": str(rv), "labels": labels}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, **extra}


def _recording() -> tuple[list[tuple[str, Obj | None, Obj | None]], Any]:
    seen: list[tuple[str, Obj | None, Obj | None]] = []

    def on_event(kind: Kind, event_type: str, old: Obj | None, new: Obj | None) -> None:
        seen.append((event_type, old, new))

    return seen, on_event


def _unreachable() -> Cluster:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Cluster(load_config(server=f"http://127.0.0.1:{port}"), timeout=1.0)


def test_newer_compares_resource_versions_as_numbers() -> None:
    assert newer(_obj("a", 10), _obj("a", 9))
    assert not newer(_obj("a", 9), _obj("a", 10))
    assert not newer(_obj("a", 9), _obj("a", 9))
    assert newer(_obj("a", 9), None)


def test_events_update_the_cache_and_report_only_news() -> None:
    seen, on_event = _recording()
    informer = Informer(_unreachable(), resources.POD, LABEL, on_event=on_event)
    informer.apply("ADDED", _obj("a", 1))
    informer.apply("MODIFIED", _obj("a", 2))
    informer.apply("MODIFIED", _obj("a", 2))  # a repeat: no news
    informer.apply("MODIFIED", _obj("a", 1))  # older than the cache: ignored
    assert [(t, (o or {}).get("metadata", {}).get("resourceVersion")) for t, o, _ in seen] == [
        ("ADDED", None),
        ("MODIFIED", "1"),
    ]
    assert informer.get("a", "default")["metadata"]["resourceVersion"] == "2"  # type: ignore[index]
    informer.apply("DELETED", _obj("a", 3))
    assert informer.get("a", "default") is None
    assert seen[-1][0] == "DELETED"
    assert seen[-1][2] is None


def test_own_writes_are_remembered_so_their_echo_is_no_news() -> None:
    seen, on_event = _recording()
    informer = Informer(_unreachable(), resources.POD, LABEL, on_event=on_event)
    informer.remember(_obj("a", 5))
    informer.remember(_obj("b", 5, ws=None))  # without the watched label: never watched
    informer.apply("ADDED", _obj("a", 5))
    assert seen == []
    assert informer.get("a", "default") is not None
    assert informer.get("b", "default") is None
    informer.forget("a", "default")
    assert informer.get("a", "default") is None


def test_a_fresh_listing_reports_what_vanished_meanwhile() -> None:
    seen, on_event = _recording()
    informer = Informer(_unreachable(), resources.POD, LABEL, on_event=on_event)
    informer.replace([_obj("a", 1), _obj("b", 1)])
    informer.replace([_obj("a", 1), _obj("c", 2)])
    assert [(t, (n or o or {})["metadata"]["name"]) for t, o, n in seen] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "c"),
        ("DELETED", "b"),
    ]


def test_covers_only_listings_filtered_by_the_watched_label_once_listed() -> None:
    informer = Informer(_unreachable(), resources.POD, LABEL, namespace="team")
    assert not informer.covers("team", {LABEL: "ws"})  # not listed yet
    informer.replace([_obj("a", 1, ns="team"), _obj("b", 1, ws="other", ns="team")])
    informer.synced = True
    assert informer.covers("team", {LABEL: "ws"})
    assert not informer.covers("team", {"job-name": "ws"})
    assert not informer.covers("default", {LABEL: "ws"})
    assert not informer.covers("team", None)
    assert [o["metadata"]["name"] for o in informer.select("team", {LABEL: "ws"})] == ["a"]


async def test_cached_cluster_reads_from_the_cache_and_asks_the_api_otherwise() -> None:
    inner = _unreachable()
    informer = Informer(inner, resources.POD, LABEL)
    cached = CachedCluster(inner, [informer])
    try:
        with pytest.raises(errors.TransportError):  # not listed yet: the API
            await cached.list(resources.POD, "default", labels={LABEL: "ws"})
        informer.replace([_obj("a", 1)])
        informer.synced = True
        assert [
            o["metadata"]["name"]
            for o in await cached.list(resources.POD, "default", {LABEL: "ws"})
        ] == ["a"]
        assert (await cached.get(resources.POD, "a", "default"))["metadata"]["name"] == "a"
        with pytest.raises(errors.TransportError):  # not in the cache: maybe just created
            await cached.get(resources.POD, "b", "default")
        with pytest.raises(errors.TransportError):  # another selection: the API
            await cached.list(resources.POD, "default", labels={"job-name": "ws"})
        with pytest.raises(errors.TransportError):  # another kind: the API
            await cached.list(resources.NODE, labels={LABEL: "ws"})
        assert cached.calls == inner.calls
    finally:
        await inner.close()


class _FakeApi:
    """``list_with_version`` and ``watch`` from scripted answers."""

    def __init__(self, listings: list[list[Obj]], watches: list[list[tuple[str, Obj]]]) -> None:
        self.listings = listings
        self.watches = watches
        self.lists = 0

    async def list_with_version(self, kind: Kind, namespace: str | None, **_: Any) -> Any:
        self.lists += 1
        return self.listings.pop(0), "1"

    async def watch(self, kind: Kind, namespace: str | None, **_: Any) -> AsyncIterator[Any]:
        events = self.watches.pop(0) if self.watches else []
        for event in events:
            yield event
        if self.watches or self.listings:
            raise errors.TransportError("watch dropped")
        await asyncio.Event().wait()


async def test_run_lists_watches_and_lists_again_after_a_watch_error() -> None:
    api = _FakeApi(
        listings=[[_obj("a", 1)], [_obj("a", 3)]],
        watches=[[("MODIFIED", _obj("a", 2)), ("ADDED", _obj("b", 2))], []],
    )
    seen, on_event = _recording()
    informer = Informer(api, resources.POD, LABEL, on_event=on_event)  # type: ignore[arg-type]
    task = asyncio.create_task(informer.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if api.lists == 2 and not api.watches:
                break
        await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert informer.synced
    assert api.lists == 2
    assert [(t, (n or o or {})["metadata"]["name"]) for t, o, n in seen] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]


async def test_get_or_create_skips_the_read_when_the_cache_says_absent() -> None:
    inner = _unreachable()
    informer = Informer(inner, resources.SERVICE, LABEL)
    cached = CachedCluster(inner, [informer])
    assert not inner.cached_absent(resources.SERVICE, "a", "default")  # no caches: never
    assert not cached.cached_absent(resources.SERVICE, "a", "default")  # not listed yet
    informer.replace([{**_obj("b", 1), "kind": "Service"}])
    informer.synced = True
    assert cached.cached_absent(resources.SERVICE, "a", "default")
    assert not cached.cached_absent(resources.SERVICE, "b", "default")
    assert not cached.cached_absent(resources.POD, "a", "default")  # not watched
    created: list[str] = []

    async def create(obj: Obj) -> Obj:
        created.append(obj["metadata"]["name"])
        return obj

    cached.create = create  # type: ignore[method-assign]
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "default"}}
    assert await apply.get_or_create(cached, svc) == (svc, True)  # no GET first
    assert created == ["a"]
    await inner.close()
