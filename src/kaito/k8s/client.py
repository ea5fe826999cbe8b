"""The asynchronous Kubernetes client the controller uses, behind a dict-in/dict-out facade.

``Cluster`` wraps lightkube's ``AsyncClient`` (docs/adr/0001-kubernetes-client.md) with generic
resources for every kind, so callers pass and receive plain dicts, errors arrive as
``kaito.k8s.errors`` and every call is counted (the benchmark reports API calls per Workspace).
Its tests run against a real control plane (``tests/fixtures/cluster``, built by
``scripts/build-controlplane.sh``): ``tests/integration/test_k8s_client.py``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import lightkube
from lightkube import generic_resource
from lightkube.config import models as config_models
from lightkube.config.kubeconfig import KubeConfig
from lightkube.operators import exists
from lightkube.types import CascadeType, PatchType

from kaito.k8s import errors
from kaito.k8s.resources import Kind, kind_of

Obj = dict[str, Any]
Objs = list[Obj]  # (``list`` is also a method name of Cluster)

_REQUEST_TIMEOUT_S = 15.0


_CLASSES: dict[Kind, Any] = {}

# The API calls of the current task (and the tasks it starts), while ``record_calls`` is active.
_RECORDING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "kaito_api_calls", default=None
)


@contextlib.contextmanager
def record_calls() -> Iterator[list[str]]:
    """Collect ``"<verb> <plural>"`` for each API request made inside the block.

    Kubernetes Events are left out (best effort, often posted in the background). Reads answered
    from a watch cache make no request and are not recorded.
    """
    calls: list[str] = []
    token = _RECORDING.set(calls)
    try:
        yield calls
    finally:
        _RECORDING.reset(token)


def calls_label(calls: list[str]) -> str:
    """A short, stable name for a set of calls: the distinct ones, sorted, ``+``-joined."""
    return "+".join(sorted(set(calls))) or "none"


def _resource_class(kind: Kind) -> Any:
    # lightkube registers each generic class once per process; cache ours to reuse them.
    if kind in _CLASSES:
        return _CLASSES[kind]
    create = (
        generic_resource.create_namespaced_resource
        if kind.namespaced
        else generic_resource.create_global_resource
    )
    _CLASSES[kind] = create(kind.group, kind.version, kind.kind, kind.plural)
    return _CLASSES[kind]


def _plain(obj: Any) -> Obj:
    """A lightkube generic object as a plain JSON dict."""
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    return dict(obj)


def load_config(server: str | None = None, kubeconfig: Path | None = None) -> KubeConfig:
    """Cluster access: an explicit server URL (tests), a kubeconfig file, or the environment.

    The environment means in-cluster service-account credentials when running in a pod, else
    ``$KUBECONFIG`` / ``~/.kube/config`` (lightkube's ``KubeConfig.from_env``).
    """
    try:
        if server:
            # An explicit server URL (unit tests, the benchmark) needs no credentials.
            return KubeConfig.from_one(
                cluster=config_models.Cluster(server=server), user=config_models.User()
            )
        if kubeconfig is not None:
            return KubeConfig.from_file(kubeconfig)
        return KubeConfig.from_env()
    except lightkube.ConfigError as exc:
        raise errors.KubernetesError(f"cannot load Kubernetes credentials: {exc}") from exc


class Cluster:
    """Dict-based access to the Kubernetes API.

    Args:
        config: lightkube configuration (see ``load_config``).
        timeout: Per-request timeout in seconds.
    """

    def __init__(self, config: KubeConfig, timeout: float = _REQUEST_TIMEOUT_S) -> None:
        # Typed as Any: lightkube's overloads do not cover generic resources chosen at runtime.
        self._client: Any = lightkube.AsyncClient(
            config=config, timeout=httpx2.Timeout(timeout), field_manager="kaito"
        )
        self.calls: collections.Counter[str] = collections.Counter()

    async def close(self) -> None:
        """Release the HTTP connection pool."""
        await self._client.close()

    async def _call(self, verb: str, kind: Kind, coro: Any) -> Any:
        self.calls[f"{verb} {kind.plural}"] += 1
        recording = _RECORDING.get()
        if recording is not None and kind.plural != "events":
            recording.append(f"{verb} {kind.plural}")
        try:
            return await coro
        except lightkube.ApiError as exc:
            status = exc.status
            raise errors.from_status(
                int(status.code or 0), str(status.reason or ""), str(status.message or exc)
            ) from exc
        except httpx2.HTTPStatusError as exc:
            code = exc.response.status_code
            raise errors.from_status(code, "", f"{verb} {kind.plural} failed") from exc
        except httpx2.TimeoutException as exc:
            raise errors.TransportError(f"{verb} {kind.plural}: request timed out") from exc
        except httpx2.HTTPError as exc:
            raise errors.TransportError(f"{verb} {kind.plural}: {exc}") from exc

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """Read one object; ``NotFoundError`` when absent."""
        res = _resource_class(kind)
        ns = {"namespace": namespace} if kind.namespaced else {}
        return _plain(await self._call("get", kind, self._client.get(res, name, **ns)))

    async def get_or_none(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        """Read one object, ``None`` when absent."""
        try:
            return await self.get(kind, name, namespace)
        except errors.NotFoundError:
            return None

    async def pod_log(
        self,
        kind: Kind,
        name: str,
        namespace: str,
        *,
        container: str,
        tail_lines: int,
        limit_s: float,
    ) -> list[str]:
        """The last ``tail_lines`` lines of one container's log (``kind``: ``resources.POD_LOG``).

        ``limit_s`` bounds the whole read: the API server relays it from the node's kubelet.

        Raises:
            TransportError: the read took longer than ``limit_s``.
        """

        async def collect() -> list[str]:
            lines = self._client.log(
                name, namespace=namespace, container=container, tail_lines=tail_lines,
                newlines=False,
            )  # fmt: skip
            return [line async for line in lines]

        try:
            result: list[str] = await self._call(
                "get", kind, asyncio.wait_for(collect(), timeout=limit_s)
            )
        except TimeoutError as exc:
            raise errors.TransportError(f"get {kind.plural}: no answer in {limit_s:g}s") from exc
        return result

    def cached_absent(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Whether a watch cache says the object does not exist (never, without caches)."""
        return False

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        """List objects, optionally in one namespace and filtered by label/field equality."""
        res = _resource_class(kind)
        kwargs: dict[str, Any] = {}
        if kind.namespaced:
            kwargs["namespace"] = namespace if namespace else lightkube.ALL_NS
        if labels:
            kwargs["labels"] = dict(labels)
        if fields:
            kwargs["fields"] = dict(fields)

        async def collect() -> list[Obj]:
            return [_plain(o) async for o in self._client.list(res, **kwargs)]

        result: list[Obj] = await self._call("list", kind, collect())
        return result

    async def list_with_version(
        self, kind: Kind, namespace: str | None = None, *, has_label: str | None = None
    ) -> tuple[Objs, str]:
        """List objects (those carrying the label ``has_label``, when given).

        Returns:
            The objects and the list's resourceVersion, from which a ``watch`` continues.
        """
        res = _resource_class(kind)
        kwargs: dict[str, Any] = {}
        if kind.namespaced:
            kwargs["namespace"] = namespace if namespace else lightkube.ALL_NS
        if has_label:
            kwargs["labels"] = {has_label: exists()}
        listing = self._client.list(res, **kwargs)

        async def collect() -> list[Obj]:
            return [_plain(o) async for o in listing]

        items: Objs = await self._call("list", kind, collect())
        return items, str(listing.resourceVersion)

    async def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        has_label: str | None = None,
        resource_version: str | None = None,
        server_timeout: int = 300,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Watch events ``(type, object)`` from ``resource_version`` on.

        Errors are raised (a 410 Gone too: the caller lists again); a watch the server ends
        after its timeout is resumed.
        """
        res = _resource_class(kind)
        kwargs: dict[str, Any] = {"resource_version": resource_version}
        if kind.namespaced:
            kwargs["namespace"] = namespace if namespace else lightkube.ALL_NS
        if has_label:
            kwargs["labels"] = {has_label: exists()}
        self.calls[f"watch {kind.plural}"] += 1
        async for event_type, obj in self._client.watch(
            res, server_timeout=server_timeout, **kwargs
        ):
            yield str(event_type), _plain(obj)

    async def create(self, obj: Obj) -> Obj:
        """Create an object (``AlreadyExistsError`` if its name is taken)."""
        kind = kind_of(obj)
        res = _resource_class(kind)
        ns = obj.get("metadata", {}).get("namespace") if kind.namespaced else None
        body = res.from_dict(obj)
        extra = {"namespace": ns} if ns else {}
        return _plain(await self._call("create", kind, self._client.create(body, **extra)))

    async def replace(self, obj: Obj) -> Obj:
        """PUT a full object; its ``metadata.resourceVersion`` makes this a compare-and-swap."""
        kind = kind_of(obj)
        res = _resource_class(kind)
        meta = obj.get("metadata", {})
        ns = {"namespace": meta.get("namespace")} if kind.namespaced else {}
        body = res.from_dict(obj)
        return _plain(
            await self._call("replace", kind, self._client.replace(body, meta["name"], **ns))
        )

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
        """Merge-patch (or JSON-patch) an object or its ``status`` subresource."""
        res = _resource_class(kind)
        target = res.Status if status else res
        ns = {"namespace": namespace} if kind.namespaced else {}
        ptype = PatchType.JSON if json_patch else PatchType.MERGE
        verb = "patch-status" if status else "patch"
        return _plain(
            await self._call(
                verb, kind, self._client.patch(target, name, patch, patch_type=ptype, **ns)
            )
        )

    async def delete(
        self, kind: Kind, name: str, namespace: str | None = None, *, foreground: bool = False
    ) -> None:
        """Delete an object (background cascade unless ``foreground``)."""
        res = _resource_class(kind)
        ns = {"namespace": namespace} if kind.namespaced else {}
        cascade = CascadeType.FOREGROUND if foreground else CascadeType.BACKGROUND
        await self._call("delete", kind, self._client.delete(res, name, cascade=cascade, **ns))
