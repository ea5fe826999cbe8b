"""A deeply nested admission request gets 400, not 500 (issue 16, item 7).

Kopf parses the AdmissionReview with ``json.loads``; 50,000 nested arrays raise
``RecursionError`` there, which aiohttp turns into a 500. Our server subclass checks the depth of
the raw body first.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp.web
import kopf
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kaito.operator.webhook import MAX_JSON_DEPTH, WebhookServer, json_depth_exceeds

REVIEW = {
    "apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview",
    "request": {"uid": "u1", "object": {"spec": {"a": [[["]]]]{{{"]]]}}},
}


async def _post(server_class: Any, body: bytes) -> tuple[int, list[Any]]:
    calls: list[Any] = []

    async def fn(data: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(data)
        return {"response": {"uid": "u1", "allowed": True}}

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        response: aiohttp.web.Response = await server_class._serve(fn, request)
        return response

    app = aiohttp.web.Application()
    app.add_routes([aiohttp.web.post("/validate", handler)])
    async with TestClient(TestServer(app)) as client:
        reply = await client.post("/validate", data=body)
        return reply.status, calls


@pytest.mark.asyncio
@pytest.mark.parametrize("opener", ["[", '{"a":'])
async def test_deeply_nested_body_is_a_400(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * 50_000 + "1" + closer * 50_000).encode()
    status, calls = await _post(WebhookServer, body)
    assert status == 400
    assert calls == []


@pytest.mark.asyncio
async def test_kopf_alone_answers_500_for_the_same_body() -> None:
    status, _ = await _post(kopf.WebhookServer, b"[" * 50_000 + b"]" * 50_000)
    assert status == 500  # why the subclass exists; if Kopf fixes this, drop the subclass


@pytest.mark.asyncio
async def test_ordinary_review_still_reaches_the_handler() -> None:
    status, calls = await _post(WebhookServer, json.dumps(REVIEW).encode())
    assert status == 200
    assert calls == [REVIEW]


def test_brackets_inside_strings_do_not_count() -> None:
    assert not json_depth_exceeds(json.dumps({"s": "[" * 10_000 + '\\"{' * 500}))
    assert json_depth_exceeds("[" * (MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
