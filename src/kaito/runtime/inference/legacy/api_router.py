"""The legacy ``POST /chat`` route."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from kaito.runtime.inference import errors
from kaito.runtime.inference.legacy.protocol import UnifiedRequestModel
from kaito.runtime.inference.legacy.serving import LegacyBackend, LegacyHTTPError, serve_legacy_chat

router = APIRouter()


@router.post("/chat")
async def chat(body: UnifiedRequestModel, request: Request) -> JSONResponse:
    """Upstream's legacy text-generation / conversational endpoint."""
    backend: LegacyBackend | None = request.app.state.legacy_backend
    if backend is None:
        raise errors.NotReadyError("the model is still loading")
    try:
        return JSONResponse(await serve_legacy_chat(body, backend))
    except LegacyHTTPError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def attach_router(app: FastAPI) -> None:
    """Add ``/chat`` to ``app``."""
    app.include_router(router)
