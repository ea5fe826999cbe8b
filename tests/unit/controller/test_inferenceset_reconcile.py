"""One InferenceSet pass against in-memory APIs: creates are decided from the API, not a cache."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from kaito.api import constants
from kaito.api.inferenceset import parse_inferenceset, to_storage
from kaito.api.inferenceset_children import build_child_workspace
from kaito.controller.inferenceset import InferenceSetContext, reconcile_inferenceset
from kaito.k8s import errors
from kaito.k8s.resources import Kind, kind_of

Obj = dict[str, Any]
SET: Obj = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "InferenceSet",
    "metadata": {"name": "chat", "namespace": "ns", "uid": "set-uid", "resourceVersion": "1"},
    "spec": {
        "replicas": 3,
        "labelSelector": {"matchLabels": {"apps": "chat"}},
        "template": {
            "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
            "inference": {"preset": {"name": "phi-4-mini-instruct"}},
        },
    },
}


class Store:
    """Objects by (plural, namespace, name); ``hidden`` names are missing from its lists."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], Obj] = {}
        self.hidden: set[str] = set()
        self.created: list[str] = []
        self.deleted: list[str] = []
        self._names = itertools.count(1)

    def view(self, *, stale: bool) -> Any:
        return _View(self, stale)


class _View:
    def __init__(self, store: Store, stale: bool) -> None:
        self.store = store
        self.stale = stale

    async def list(
        self, kind: Kind, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Obj]:
        return [
            copy.deepcopy(o)
            for (plural, ns, name), o in self.store.objects.items()
            if plural == kind.plural
            and ns == namespace
            and not (self.stale and name in self.store.hidden)
            and all(o["metadata"].get("labels", {}).get(k) == v for k, v in (labels or {}).items())
        ]

    async def create(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        if kind_of(obj).plural == "events":
            return obj
        meta.setdefault("name", f"{meta.get('generateName', '')}{next(self.store._names)}")
        meta["creationTimestamp"] = "2026-01-01T00:00:00Z"
        self.store.objects[(kind_of(obj).plural, meta.get("namespace"), meta["name"])] = obj
        self.store.created.append(meta["name"])
        return copy.deepcopy(obj)

    async def delete(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        if self.store.objects.pop((kind.plural, namespace, name), None) is None:
            raise errors.NotFoundError(name)
        self.store.deleted.append(name)

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        obj = self.store.objects.get((kind.plural, namespace, name))
        if obj is None:
            raise errors.NotFoundError(name)
        return copy.deepcopy(obj)

    async def get_or_none(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        return copy.deepcopy(self.store.objects.get((kind.plural, namespace, name)))

    async def patch(
        self, kind: Kind, name: str, patch: Obj, namespace: str | None = None, **kw: Any
    ) -> Obj:
        obj = self.store.objects[(kind.plural, namespace, name)]
        if kw.get("status"):
            obj["status"] = {k: v for k, v in patch.get("status", {}).items() if v is not None}
        else:
            obj["metadata"].setdefault("labels", {}).update(patch["metadata"]["labels"])
        return copy.deepcopy(obj)


def _store_with_children(count: int) -> Store:
    store = Store()
    store.objects[("inferencesets", "ns", "chat")] = copy.deepcopy(SET)
    iset = to_storage(parse_inferenceset(SET))
    for i in range(count):
        child = build_child_workspace(iset, byo=False).to_wire()
        child["metadata"]["name"] = f"chat-old{i}"
        store.objects[("workspaces", "ns", f"chat-old{i}")] = child
    return store


async def test_a_child_missing_from_the_cache_is_still_counted_before_creating() -> None:
    store = _store_with_children(2)
    store.hidden = {"chat-old1"}  # created by a pass the watch cache has not delivered yet
    ctx = InferenceSetContext(cluster=store.view(stale=True), api=store.view(stale=False))
    await reconcile_inferenceset(ctx, copy.deepcopy(SET))
    assert store.created == ["chat-1"]
    children = [n for (p, _, n) in store.objects if p == "workspaces"]
    assert len(children) == 3
    status = store.objects[("inferencesets", "ns", "chat")]["status"]
    assert status["replicas"] == 3
    assert status["selector"] == f"{constants.LABEL_INFERENCESET_CREATED_BY}=chat"


async def test_a_second_pass_creates_nothing() -> None:
    store = _store_with_children(0)
    ctx = InferenceSetContext(cluster=store.view(stale=False), api=store.view(stale=False))
    await reconcile_inferenceset(ctx, copy.deepcopy(SET))
    await reconcile_inferenceset(ctx, copy.deepcopy(SET))
    assert len(store.created) == 3


async def test_children_of_another_set_with_the_same_name_are_ignored() -> None:
    store = _store_with_children(1)
    stale = store.objects[("workspaces", "ns", "chat-old0")]
    stale["metadata"]["ownerReferences"][0]["uid"] = "previous-set-uid"
    ctx = InferenceSetContext(cluster=store.view(stale=False), api=store.view(stale=False))
    await reconcile_inferenceset(ctx, copy.deepcopy(SET))
    assert len(store.created) == 3
    assert store.deleted == []


async def test_scale_down_deletes_and_deleting_set_is_left_to_the_garbage_collector() -> None:
    store = _store_with_children(3)
    smaller = copy.deepcopy(SET)
    smaller["spec"]["replicas"] = 1
    ctx = InferenceSetContext(cluster=store.view(stale=False), api=store.view(stale=False))
    await reconcile_inferenceset(ctx, smaller)
    assert len(store.deleted) == 2
    gone = copy.deepcopy(SET)
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert await reconcile_inferenceset(ctx, gone) is None
    assert len(store.deleted) == 2


async def test_template_labels_are_synced_onto_existing_children_without_replacing_them() -> None:
    store = _store_with_children(3)
    relabelled = copy.deepcopy(SET)
    relabelled["spec"]["template"]["metadata"] = {"labels": {"tier": "gold"}}
    ctx = InferenceSetContext(cluster=store.view(stale=False), api=store.view(stale=False))
    await reconcile_inferenceset(ctx, relabelled)
    assert (store.created, store.deleted) == ([], [])
    labels = [
        o["metadata"]["labels"] for (p, _, _), o in store.objects.items() if p == "workspaces"
    ]
    assert all(lab["tier"] == "gold" for lab in labels)
