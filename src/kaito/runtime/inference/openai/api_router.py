"""HTTP routes of the OpenAI-compatible API; they only translate between HTTP and serving."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from kaito.runtime.inference import errors
from kaito.runtime.inference.adapters import AdapterSources
from kaito.runtime.inference.openai import protocol
from kaito.runtime.inference.openai.serving import ClientDisconnectedError, OpenAIServing

CLIENT_CLOSED_STATUS = 499  # nginx's "client closed request"; nobody reads it
#: Every answer a route may give besides 200, in the OpenAI error envelope (the schema says so,
#: and the schemathesis run in tests/security holds the server to it).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": protocol.ErrorResponse, "description": description}
    for status, description in (
        (400, "Malformed request; `param` names the field"),
        (401, "Missing or wrong API key"),
        (404, "Unknown model or route"),
        (413, "The prompt does not fit the context window"),
        (429, "Queue full, or too many adapter pulls"),
        (500, "Internal error (details only in the server log)"),
        (503, "The model is still loading"),
    )
}
JSON_OR_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A JSON response, or server-sent events when `stream` is true",
        "content": {"application/json": {}, "text/event-stream": {}},
    }
}
PLAIN_TEXT: dict[int | str, dict[str, Any]] = {
    200: {"description": "Success message", "content": {"text/plain": {}}}
}
router = APIRouter(responses=ERROR_RESPONSES)


def _serving(request: Request) -> OpenAIServing:
    serving: OpenAIServing | None = request.app.state.serving
    if serving is None or not serving.engine.ready:
        raise errors.NotReadyError("the model is still loading")
    return serving


def _respond(result: dict[str, Any] | AsyncIterator[str]) -> Response:
    if isinstance(result, dict):
        return JSONResponse(result)
    return StreamingResponse(
        result, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get("/v1/models")
async def list_models(request: Request) -> JSONResponse:
    """List the base model and every adapter."""
    return JSONResponse(_serving(request).list_models())


@router.post("/v1/chat/completions", responses=JSON_OR_SSE)
async def create_chat_completion(
    body: protocol.ChatCompletionRequest, request: Request
) -> Response:
    """Chat completion, streamed as server-sent events when ``stream`` is true."""
    try:
        result = await _serving(request).create_chat_completion(body, request.is_disconnected)
    except ClientDisconnectedError:
        return Response(status_code=CLIENT_CLOSED_STATUS)
    return _respond(result)


@router.post("/v1/completions", responses=JSON_OR_SSE)
async def create_completion(body: protocol.CompletionRequest, request: Request) -> Response:
    """Text completion, streamed as server-sent events when ``stream`` is true."""
    try:
        result = await _serving(request).create_completion(body, request.is_disconnected)
    except ClientDisconnectedError:
        return Response(status_code=CLIENT_CLOSED_STATUS)
    return _respond(result)


@router.post("/tokenize")
async def tokenize(body: protocol.TokenizeRequest, request: Request) -> JSONResponse:
    """Tokenise a prompt or a conversation (vLLM's endpoint; the legacy front uses it)."""
    return JSONResponse(await _serving(request).tokenize(body))


@router.post("/v1/load_lora_adapter", responses=PLAIN_TEXT)
async def load_lora_adapter(body: protocol.LoadLoRAAdapterRequest, request: Request) -> Response:
    """Load an adapter from the adapters folder or an allowed registry as ``lora_name``.

    ``lora_path`` is checked by :class:`~kaito.runtime.inference.adapters.AdapterSources`.
    """
    serving = _serving(request)
    sources: AdapterSources = request.app.state.adapter_sources
    directory = await sources.locate(body.lora_path)
    await serving.engine.load_adapter(body.lora_name, str(directory))
    return Response(
        f"Success: LoRA adapter '{body.lora_name}' added successfully.", media_type="text/plain"
    )


@router.post("/v1/unload_lora_adapter", responses=PLAIN_TEXT)
async def unload_lora_adapter(
    body: protocol.UnloadLoRAAdapterRequest, request: Request
) -> Response:
    """Stop serving an adapter."""
    await _serving(request).engine.unload_adapter(body.lora_name)
    return Response(
        f"Success: LoRA adapter '{body.lora_name}' removed successfully.", media_type="text/plain"
    )


def attach_router(app: FastAPI) -> None:
    """Add the OpenAI routes to ``app``."""
    app.include_router(router)
