"""Optional bearer-token check for every route except the probes.

A pure ASGI middleware (no request body buffering, works for streaming) that compares the
``Authorization: Bearer`` token in constant time. ``/health`` must stay open for Kubernetes
probes and ``/metrics`` for Prometheus scrapes, as vLLM does.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health", "/metrics"})
_BEARER = b"bearer "


class APIKeyMiddleware:
    """Rejects requests without the right ``Authorization: Bearer <key>`` header (HTTP 401)."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self._app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass authorised and open requests through; answer the rest with 401."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            await self._app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        token = header[len(_BEARER) :] if header.lower().startswith(_BEARER) else b""
        if hmac.compare_digest(token, self._key):
            await self._app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "message": "Invalid or missing API key.",
                    "type": "authentication_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
