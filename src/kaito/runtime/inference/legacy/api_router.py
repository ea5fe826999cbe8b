"""The legacy ``POST /chat`` route."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kaito.runtime.inference import errors
from kaito.runtime.inference.legacy.protocol import UnifiedRequestModel
from kaito.runtime.inference.legacy.serving import LegacyBackend, LegacyHTTPError, serve_legacy_chat


class LegacyError(BaseModel):
    """Upstream's error body: ``{"detail": message}``."""

    detail: str


router = APIRouter(
    responses={status: {"model": LegacyError} for status in (400, 401, 404, 413, 429, 500, 503)}
)


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
