"""The HTTP front both engines' apps share: health, metrics, error envelope, auth, adapter pulls.

The transformers app (:mod:`.server`) and the vLLM front (:mod:`.engines.vllm_frontend`) differ in
where tokens come from, not in how they answer errors, probes and scrapes; that part lives here.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kaito.runtime.inference import errors
from kaito.runtime.inference.auth import APIKeyMiddleware
from kaito.runtime.inference.engines.base import GenerationEngine
from kaito.runtime.inference.metrics import CONTENT_TYPE, ServerMetrics
from kaito.runtime.inference.openai.serving import error_body
from kaito.runtime.inference.options import ServeOptions

logger = logging.getLogger(__name__)

LEGACY_PATHS = frozenset({"/chat"})
HEALTHY = {"status": "Healthy"}
INTERNAL_ERROR = "internal server error (details are in the server log)"


def install_common(app: FastAPI, options: ServeOptions) -> None:
    """Health, metrics, error handlers and middleware shared by both engines' apps."""

    @app.get("/health", responses={503: {"description": "The model is still loading"}})
    async def health(request: Request) -> JSONResponse:
        """200 once the model serves, 503 before (Kubernetes probes)."""
        if is_ready(request.app):
            return JSONResponse(HEALTHY)
        return JSONResponse({"status": "Loading"}, status_code=503)

    @app.get(
        "/metrics",
        responses={200: {"description": "Prometheus text", "content": {"text/plain": {}}}},
    )
    async def metrics(request: Request) -> Response:
        """Prometheus text exposition."""
        body = request.app.state.metrics.render()
        extra = getattr(request.app.state, "extra_metrics", None)
        if extra is not None:
            body += await extra()
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/")
    async def root() -> dict[str, str]:
        """Upstream's liveness greeting."""
        return {"message": "Server is running"}

    app.add_exception_handler(errors.InferenceError, _inference_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(_RequestMetricsMiddleware, metrics=app.state.metrics)
    if options.api_key:
        app.add_middleware(APIKeyMiddleware, api_key=options.api_key)


def is_ready(app: FastAPI) -> bool:
    """Whether ``/health`` passes: the engine serves and no post-load benchmark is running."""
    if getattr(app.state, "benchmark_pending", False):
        return False
    return engine_ready(app)


def engine_ready(app: FastAPI) -> bool:
    """Whether the app's engine serves requests."""
    ready = getattr(app.state, "ready", None)
    if ready is not None:
        return bool(ready())
    engine: GenerationEngine | None = app.state.engine
    return engine is not None and engine.ready


# -- errors ---------------------------------------------------------------------------------------


def _is_legacy(request: Request) -> bool:
    return request.url.path in LEGACY_PATHS


async def _inference_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.InferenceError)
    if _is_legacy(request):
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
    return JSONResponse(error_body(exc), status_code=exc.status_code)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = exc.errors()
    if _is_legacy(request):
        # Upstream's FastAPI server answered wrong types with its default 422 body.
        safe = [{k: d.get(k) for k in ("loc", "msg", "type")} for d in details]
        return JSONResponse({"detail": safe}, status_code=422)
    first = details[0] if details else {}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "JSON decode error")
        error = errors.BadRequestError(f"The request body is not valid JSON: {reason}")
        return JSONResponse(error_body(error), status_code=400)
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    message = "; ".join(
        f"{'.'.join(str(p) for p in d.get('loc', ()) if p != 'body') or 'body'}: {d.get('msg')}"
        for d in details
    )
    error = errors.BadRequestError(message or "invalid request", param=".".join(loc) or None)
    return JSONResponse(error_body(error), status_code=400)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if _is_legacy(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    error = errors.InferenceError(str(exc.detail))
    error.status_code = exc.status_code
    error.error_type = "NotFoundError" if exc.status_code == 404 else "BadRequestError"
    error.code = str(exc.status_code)
    return JSONResponse(error_body(error), status_code=exc.status_code)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The exception's text stays in the log: it may quote files, settings or the environment.
    logger.exception("unexpected error on %s", request.url.path, exc_info=exc)
    if _is_legacy(request):
        return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)
    return JSONResponse(error_body(errors.InferenceError(INTERNAL_ERROR)), 500)


class _RequestMetricsMiddleware:
    """Counts responses by route and status (unknown paths share one label)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, record)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            self._metrics.requests.labels(endpoint, str(status)).inc()
