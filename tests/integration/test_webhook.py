"""The validating webhook, called over HTTP with AdmissionReviews as the API server would."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import aiohttp

from tests.fixtures.emulator.samples import inference_workspace
from tests.integration.conftest import Harness


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _review(obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "kaito.sh", "version": "v1beta1", "kind": "Workspace"},
            "resource": {"group": "kaito.sh", "version": "v1beta1", "resource": "workspaces"},
            "requestKind": {"group": "kaito.sh", "version": "v1beta1", "kind": "Workspace"},
            "requestResource": {
                "group": "kaito.sh",
                "version": "v1beta1",
                "resource": "workspaces",
            },
            "name": obj["metadata"]["name"],
            "namespace": "default",
            "operation": "UPDATE" if old else "CREATE",
            "userInfo": {"username": "admin", "groups": ["system:masters"]},
            "object": obj,
            "oldObject": old,
            "dryRun": False,
        },
    }


async def _post(port: int, review: dict[str, Any]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/validate/workspace.kaito.sh"
    # Kopf opens the webhook port after its resource discovery, shortly after startup.
    for _ in range(100):
        try:
            async with aiohttp.ClientSession() as session, session.post(url, json=review) as resp:
                assert resp.status == 200
                body: dict[str, Any] = await resp.json()
                return body["response"]
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"webhook at {url} never answered")


async def test_webhook_rejects_a_workspace_with_neither_inference_nor_tuning(
    harness: Harness,
) -> None:
    port = _free_port()
    await harness.start_operator(webhook=True, webhook_host="127.0.0.1", webhook_port=port)
    bad = inference_workspace("empty")
    del bad["inference"]

    response = await _post(port, _review(bad))

    assert response["allowed"] is False
    assert (
        "Either Inference or Tuning must be specified, not neither" in response["status"]["message"]
    )


async def test_webhook_admits_a_valid_workspace_and_rejects_an_immutable_change(
    harness: Harness,
) -> None:
    port = _free_port()
    await harness.start_operator(webhook=True, webhook_host="127.0.0.1", webhook_port=port)
    good = inference_workspace("fine")

    assert (await _post(port, _review(good)))["allowed"] is True

    changed = inference_workspace("fine", instance_type="Standard_NC48ads_A100_v4")
    response = await _post(port, _review(changed, old=good))
    assert response["allowed"] is False
    assert "instanceType" in response["status"]["message"]


async def test_webhook_reads_the_inference_configmap_from_the_cluster(harness: Harness) -> None:
    port = _free_port()
    await harness.start_operator(webhook=True, webhook_host="127.0.0.1", webhook_port=port)
    ws = inference_workspace("configured")
    ws["inference"]["config"] = "my-inference-params"

    missing = await _post(port, _review(ws))
    assert missing["allowed"] is False
    assert (
        "ConfigMap 'my-inference-params' specified in 'config' not found in namespace 'default'"
        in (missing["status"]["message"])
    )

    harness.store.create(
        harness.rt("", "configmaps"),
        "default",
        {
            "metadata": {"name": "my-inference-params"},
            "data": {"inference_config.yaml": "vllm:\n  max-model-len: 4096\n"},
        },
    )
    assert (await _post(port, _review(ws)))["allowed"] is True


async def test_webhook_admits_with_warnings_the_user_should_see(harness: Harness) -> None:
    port = _free_port()
    await harness.start_operator(webhook=True, webhook_host="127.0.0.1", webhook_port=port)
    ws = inference_workspace(
        "unlisted-sku", instance_type="Standard_NV6ads_A10_v5", preset="mistral-7b-instruct"
    )

    response = await _post(port, _review(ws))

    assert response["allowed"] is True
    assert any("not in the azure SKU table" in w for w in response.get("warnings", []))
