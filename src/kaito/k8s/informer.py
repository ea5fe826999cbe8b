"""Watch caches of the operator's children, and a ``Cluster`` that reads from them.

An ``Informer`` lists one kind (only the objects carrying one label, filtered by the API server),
then watches it from the list's resourceVersion, keeping every object in memory; on any watch
error (a 410 Gone included) it lists again, so the cache is rebuilt from the API after a restart
or a lost watch, never from memory. Each change is reported to ``on_event`` with the object
before and after; events that carry nothing newer than the cache (the echo of our own writes,
already remembered) are not reported.

``CachedCluster`` is the ``Cluster`` the reconcile loop uses: a read the caches can answer (the
kind is watched, the cache has been listed, the request filters by the watched label and, for a
namespaced kind, by a watched namespace) is answered from memory; everything else, and a ``get``
of an object the cache does not hold (it may have been created a moment ago), goes to the API.
Writes go to the API and their results are remembered, so the next pass sees its own writes even
before their watch events arrive. Objects from the cache are shared: callers must not mutate them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kaito.k8s.client import Cluster, Obj
from kaito.k8s.resources import Kind, kind_of

log = logging.getLogger(__name__)

StoreKey = tuple[str | None, str]  # (namespace, name)
# (kind, event type, object before or None, object after or None)
EventHandler = Callable[[Kind, str, Obj | None, Obj | None], None]

RELIST_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)


def _key(obj: Obj) -> StoreKey:
    meta = obj.get("metadata") or {}
    return meta.get("namespace"), str(meta.get("name", ""))


def _version(obj: Obj | None) -> int | None:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion"))
    except (TypeError, ValueError):
        return None


def newer(candidate: Obj, cached: Obj | None) -> bool:
    """Whether ``candidate`` is a later state than ``cached`` (by resourceVersion).

    resourceVersions are etcd revisions, compared as integers; one that is not an integer is
    taken as newer (the cache then follows the latest event).
    """
    if cached is None:
        return True
    a, b = _version(candidate), _version(cached)
    if a is None or b is None:
        return a != b or candidate is not cached
    return a > b


class Informer:
    """A list-then-watch cache of one kind, restricted to objects carrying ``has_label``.

    Args:
        cluster: The API.
        kind: What to watch.
        has_label: Only objects with this label key are listed and watched (server-side).
        namespace: One namespace, or ``None`` for all (cluster-scoped kinds: always ``None``).
        on_event: Called for each change the cache sees.
    """

    def __init__(
        self,
        cluster: Cluster,
        kind: Kind,
        has_label: str,
        *,
        namespace: str | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self.cluster = cluster
        self.kind = kind
        self.has_label = has_label
        self.namespace = namespace if kind.namespaced else None
        self.on_event = on_event
        self.synced = False
        self._store: dict[StoreKey, Obj] = {}

    # ---- reading -------------------------------------------------------------------------------

    def covers(self, namespace: str | None, labels: Mapping[str, str] | None) -> bool:
        """Whether a listing of ``namespace`` filtered by ``labels`` can be answered here."""
        if not self.synced or not labels or self.has_label not in labels:
            return False
        return self.holds_namespace(namespace)

    def holds_namespace(self, namespace: str | None) -> bool:
        """Whether objects of ``namespace`` are watched here."""
        if not self.kind.namespaced or self.namespace is None:
            return True
        return namespace == self.namespace

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        """The cached object, or ``None`` when the cache does not hold it."""
        return self._store.get((namespace if self.kind.namespaced else None, name))

    def select(self, namespace: str | None, labels: Mapping[str, str]) -> list[Obj]:
        """Cached objects in ``namespace`` (all when ``None``) whose labels include ``labels``."""
        found = []
        for (ns, _), obj in self._store.items():
            if namespace is not None and self.kind.namespaced and ns != namespace:
                continue
            have = obj.get("metadata", {}).get("labels") or {}
            if all(have.get(k) == v for k, v in labels.items()):
                found.append(obj)
        return found

    def __len__(self) -> int:
        return len(self._store)

    # ---- writing -------------------------------------------------------------------------------

    def remember(self, obj: Obj) -> None:
        """Store an object this process wrote (the API's answer), unless the cache is newer."""
        labels = obj.get("metadata", {}).get("labels") or {}
        if self.has_label not in labels:
            return
        key = _key(obj)
        if not self.holds_namespace(key[0]):
            return
        if newer(obj, self._store.get(key)):
            self._store[key] = obj

    def forget(self, name: str, namespace: str | None = None) -> None:
        """Drop an object this process deleted (the next read asks the API)."""
        self._store.pop((namespace if self.kind.namespaced else None, name), None)

    def apply(self, event_type: str, obj: Obj) -> None:
        """Take one watch event into the cache and report it when it is news."""
        key = _key(obj)
        old = self._store.get(key)
        if event_type == "DELETED":
            self._store.pop(key, None)
            self._emit(event_type, old if old is not None else obj, None)
            return
        if event_type not in ("ADDED", "MODIFIED"):
            return
        if not newer(obj, old):
            return
        self._store[key] = obj
        self._emit("ADDED" if old is None else "MODIFIED", old, obj)

    def replace(self, items: Iterable[Obj]) -> None:
        """Take a fresh listing: report what appeared, changed or vanished since the cache's."""
        seen: set[StoreKey] = set()
        for obj in items:
            seen.add(_key(obj))
            self.apply("MODIFIED", obj)
        for key in [k for k in self._store if k not in seen]:
            self.apply("DELETED", self._store[key])

    def _emit(self, event_type: str, old: Obj | None, new: Obj | None) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(self.kind, event_type, old, new)
        except Exception:
            log.exception("handling a %s event failed", self.kind.kind)

    # ---- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch; list again after any error. Runs until cancelled."""
        failures = 0
        while True:
            try:
                items, version = await self.cluster.list_with_version(
                    self.kind, self.namespace, has_label=self.has_label
                )
                self.replace(items)
                self.synced = True
                failures = 0
                async for event_type, obj in self.cluster.watch(
                    self.kind, self.namespace, has_label=self.has_label, resource_version=version
                ):
                    self.apply(event_type, obj)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = RELIST_BACKOFF_S[min(failures, len(RELIST_BACKOFF_S) - 1)]
                failures += 1
                log.info(
                    "watch of %s ended (%s); listing again in %.1fs", self.kind.plural, exc, delay
                )
                await asyncio.sleep(delay)


class CachedCluster(Cluster):
    """``Cluster`` answering reads from informers where they can (see the module docstring).

    Args:
        inner: The API client whose connection (and call counter) this shares.
        informers: The caches to read from.
    """

    def __init__(self, inner: Cluster, informers: Iterable[Informer] = ()) -> None:
        # Shares the inner client's connection pool and call counter; no client of its own.
        self._client = inner._client
        self.calls = inner.calls
        self._informers: dict[Kind, list[Informer]] = {}
        for informer in informers:
            self.add_informer(informer)

    def add_informer(self, informer: Informer) -> None:
        """Read ``informer``'s kind from it from now on (once it has listed)."""
        self._informers.setdefault(informer.kind, []).append(informer)

    def _holding(self, kind: Kind, namespace: str | None) -> list[Informer]:
        return [i for i in self._informers.get(kind, ()) if i.holds_namespace(namespace)]

    def cached_absent(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Whether a listed cache of ``kind`` covering ``namespace`` lacks the object.

        Only a hint: an object without the watched label is never cached.
        """
        holding = [i for i in self._holding(kind, namespace) if i.synced]
        return bool(holding) and all(i.get(name, namespace) is None for i in holding)

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """From the cache when it holds the object, else from the API."""
        for informer in self._holding(kind, namespace):
            if informer.synced:
                cached = informer.get(name, namespace)
                if cached is not None:
                    return cached
        obj = await super().get(kind, name, namespace)
        self._remember(kind, obj)
        return obj

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        """From the cache when it covers the selection, else from the API."""
        if not fields:
            for informer in self._informers.get(kind, ()):
                if labels and informer.covers(namespace, labels):
                    return informer.select(namespace, labels)
        return await super().list(kind, namespace, labels, fields)

    async def create(self, obj: Obj) -> Obj:
        """Create through the API and remember the result."""
        stored = await super().create(obj)
        self._remember(kind_of(obj), stored)
        return stored

    async def replace(self, obj: Obj) -> Obj:
        """Replace through the API and remember the result."""
        stored = await super().replace(obj)
        self._remember(kind_of(obj), stored)
        return stored

    async def patch(
        self,
        kind: Kind,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        status: bool = False,
        json_patch: bool = False,
    ) -> Obj:
        """Patch through the API and remember the result."""
        stored = await super().patch(
            kind, name, patch, namespace, status=status, json_patch=json_patch
        )
        self._remember(kind, stored)
        return stored

    async def delete(
        self, kind: Kind, name: str, namespace: str | None = None, *, foreground: bool = False
    ) -> None:
        """Delete through the API; the caches forget the object (the next read asks the API)."""
        try:
            await super().delete(kind, name, namespace, foreground=foreground)
        finally:
            for informer in self._holding(kind, namespace):
                informer.forget(name, namespace)

    def _remember(self, kind: Kind, obj: Obj) -> None:
        if not obj:
            return
        namespace = obj.get("metadata", {}).get("namespace")
        for informer in self._holding(kind, namespace):
            informer.remember(obj)
