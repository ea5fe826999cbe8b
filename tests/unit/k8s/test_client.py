"""``kaito.k8s.client.Cluster`` without a server; tests against the real API server are in
``tests/integration/test_k8s_client.py``."""

from __future__ import annotations

import socket

import pytest

from kaito.k8s import errors, resources
from kaito.k8s.client import Cluster, load_config


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
