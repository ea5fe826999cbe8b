"""``kaito.k8s.client.Cluster`` without a server; tests against the real API server are in
``tests/integration/test_k8s_client.py``."""

from __future__ import annotations

import socket

import pytest

from kaito.k8s import errors, resources
from kaito.k8s.client import Cluster, calls_label, load_config, record_calls


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


async def _ok() -> dict[str, str]:
    return {}


async def test_record_calls_collects_the_requests_of_the_block_events_apart() -> None:
    client = Cluster(load_config(server="http://127.0.0.1:9"))
    try:
        await client._call("get", resources.CONFIGMAP, _ok())
        with record_calls() as calls:
            await client._call("create", resources.NODECLAIM, _ok())
            await client._call("create", resources.EVENT, _ok())
            await client._call("patch-status", resources.WORKSPACE, _ok())
            await client._call("create", resources.NODECLAIM, _ok())
        await client._call("get", resources.CONFIGMAP, _ok())
    finally:
        await client.close()
    assert calls == ["create nodeclaims", "patch-status workspaces", "create nodeclaims"]
    assert calls_label(calls) == "create nodeclaims+patch-status workspaces"
    assert calls_label([]) == "none"
