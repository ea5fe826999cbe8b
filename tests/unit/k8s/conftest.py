"""A live emulator and a ``Cluster`` client for the k8s package's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kaito.k8s.client import Cluster, load_config
from tests.fixtures.emulator.server import KubernetesEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[KubernetesEmulator]:
    emu = KubernetesEmulator()
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def cluster(emulator: KubernetesEmulator) -> AsyncIterator[Cluster]:
    client = Cluster(load_config(server=emulator.url), timeout=2.0)
    try:
        yield client
    finally:
        await client.close()
