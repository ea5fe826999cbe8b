"""``--engine vllm``: vLLM's OpenAI server as a child process behind a thin front (ADR 0002).

vLLM listens on loopback at an internal port; this app owns the public port. It forwards the
OpenAI routes byte for byte (streaming included), answers upstream's legacy ``/chat`` by calling
vLLM's completion and chat APIs, pulls OCI adapter references before forwarding
``/v1/load_lora_adapter``, reports ``/health`` from vLLM's and appends vLLM's ``/metrics`` to ours.
If the child exits, the server stops with an error so Kubernetes restarts the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from kaito.runtime import models
from kaito.runtime.inference import config_file, errors, settings
from kaito.runtime.inference.adapters import AdapterSources, HotLoadPolicy
from kaito.runtime.inference.engines.vllm_command import (
    RUNTIME_LORA_ENV,
    build_vllm_command,
    discover_adapters,
)
from kaito.runtime.inference.frontend import install_common
from kaito.runtime.inference.legacy import api_router as legacy_router
from kaito.runtime.inference.legacy.serving import LegacyParams
from kaito.runtime.inference.metrics import ServerMetrics
from kaito.runtime.inference.options import ServeOptions

logger = logging.getLogger(__name__)

PROXIED_PREFIXES = ("v1/",)
PROXIED_PATHS = frozenset({"tokenize", "detokenize", "version"})
_HOP_HEADERS = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "authorization", "keep-alive"}
)
_POLL_S = 1.0
_STOP_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resolve_vllm_model(source: str) -> str:
    """What vLLM should load: dirs and hub repo ids as given, presets and GGUF files converted."""
    path = Path(source).expanduser()
    if path.is_dir():
        return str(path)
    if not path.exists() and "/" in source and not models.is_local_source(source):
        return source  # a hub repo id: vLLM downloads it (and honours HF_TOKEN) itself
    return str(models.materialize_model(source))


class VllmProcess:
    """The child process and what the front knows about it."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.port = options.vllm_port or _free_port()
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}", timeout=httpx.Timeout(None, connect=10)
        )
        self.process: asyncio.subprocess.Process | None = None
        self.healthy = False
        self.failed = False

    async def start(self) -> None:
        """Resolve the model, build the argv and start vLLM."""
        options = self.options
        entries: dict[str, Any] = {}
        if options.config_file is not None:
            entries = config_file.load_inference_config(options.config_file).vllm
        model = await asyncio.to_thread(resolve_vllm_model, options.model)
        argv = build_vllm_command(
            options,
            python=options.vllm_python or sys.executable,
            model=model,
            port=self.port,
            adapters=discover_adapters(options.adapters_dir),
            config_entries=entries,
        )
        logger.info("starting vLLM: %s", " ".join(argv))
        self.process = await asyncio.create_subprocess_exec(
            *argv, env=settings.child_environment(RUNTIME_LORA_ENV)
        )

    async def watch(self) -> None:
        """Poll vLLM's ``/health`` until the child exits."""
        assert self.process is not None
        while self.process.returncode is None:
            try:
                response = await self.client.get("/health", timeout=5)
                self.healthy = response.status_code == 200
            except httpx.HTTPError:
                self.healthy = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), _POLL_S)
        self.healthy = False
        self.failed = True
        logger.error("vLLM exited with code %s", self.process.returncode)

    async def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 30 s)."""
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self.client.aclose()

    async def metrics(self) -> bytes:
        """VLLM's own Prometheus text (empty while it is down)."""
        if not self.healthy:
            return b""
        try:
            response = await self.client.get("/metrics", timeout=5)
        except httpx.HTTPError:
            return b""
        return response.content if response.status_code == 200 else b""

    async def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to vLLM; its OpenAI error becomes an :class:`~errors.InferenceError`."""
        if not self.healthy:
            raise errors.NotReadyError("the model is still loading")
        response = await self.client.post(path, json=body)
        data: dict[str, Any] = response.json()
        if response.status_code != 200:
            error = errors.InferenceError(_error_message(data))
            error.status_code = response.status_code
            raise error
        return data


def _error_message(data: Any) -> str:
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
    return json.dumps(data)


class VllmLegacyBackend:
    """Legacy ``/chat`` over vLLM's completion and chat APIs."""

    def __init__(self, vllm: VllmProcess) -> None:
        self._vllm = vllm
        self._model = vllm.options.model_name

    def _sampling(self, params: LegacyParams, max_tokens: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "max_tokens": max(1, max_tokens),
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.top_k > 0:
            body["top_k"] = params.top_k
        return body

    async def _budget(self, params: LegacyParams, body: dict[str, Any]) -> int:
        if params.max_new_tokens is not None:
            return params.max_new_tokens
        counted = await self._vllm.post_json("/tokenize", {"model": self._model, **body})
        return params.max_length - int(counted.get("count", 0))

    async def complete_prompt(self, prompt: str, params: LegacyParams) -> str:
        """Continue ``prompt`` with ``/v1/completions``."""
        budget = await self._budget(params, {"prompt": prompt})
        body = {**self._sampling(params, budget), "prompt": prompt}
        data = await self._vllm.post_json("/v1/completions", body)
        return str(data["choices"][0]["text"])

    async def complete_messages(self, messages: list[dict[str, str]], params: LegacyParams) -> str:
        """Answer ``messages`` with ``/v1/chat/completions``."""
        budget = await self._budget(params, {"messages": messages})
        body = {**self._sampling(params, budget), "messages": messages}
        data = await self._vllm.post_json("/v1/chat/completions", body)
        return str(data["choices"][0]["message"]["content"] or "")


def build_vllm_app(options: ServeOptions) -> FastAPI:
    """The public app in front of a vLLM child process."""
    vllm = VllmProcess(options)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher: asyncio.Task[None] | None = None
        try:
            await vllm.start()
            watcher = asyncio.create_task(_watch_and_stop(app, vllm))
        except Exception as exc:
            logger.exception("cannot start vLLM")
            app.state.load_error = str(exc)
            stop = getattr(app.state, "request_shutdown", None)
            if stop is not None:
                stop()
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            await vllm.stop()

    app = FastAPI(title="kaito-serve (vLLM)", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.options = options
    app.state.engine = None
    app.state.serving = None
    app.state.vllm = vllm
    app.state.ready = lambda: vllm.healthy
    app.state.legacy_backend = VllmLegacyBackend(vllm)
    app.state.metrics = ServerMetrics(lambda: None)
    app.state.extra_metrics = vllm.metrics
    sources = AdapterSources(HotLoadPolicy.from_options(options))
    app.state.adapter_sources = sources
    legacy_router.attach_router(app)

    @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
    async def proxy(path: str, request: Request) -> Response:
        """Forward OpenAI and vLLM routes to the child, streaming the answer back."""
        if not (path.startswith(PROXIED_PREFIXES) or path in PROXIED_PATHS):
            raise errors.RouteNotFoundError(f"no route /{path}")
        if not vllm.healthy:
            raise errors.NotReadyError("the model is still loading")
        body = await request.body()
        if path == "v1/load_lora_adapter":
            body = await _localise_adapter(body, sources)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = vllm.client.build_request(
            request.method, "/" + path, params=request.query_params, content=body, headers=headers
        )
        response = await vllm.client.send(upstream, stream=True)
        reply_headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_HEADERS}
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            headers=reply_headers,
            background=BackgroundTask(response.aclose),
        )

    install_common(app, options)
    # The catch-all proxy must come after /health, /metrics and / to not shadow them.
    app.router.routes.sort(key=lambda route: getattr(route, "path", "") == "/{path:path}")
    return app


async def _watch_and_stop(app: FastAPI, vllm: VllmProcess) -> None:
    await vllm.watch()
    app.state.load_error = "vLLM exited"
    stop = getattr(app.state, "request_shutdown", None)
    if stop is not None:
        stop()


async def _localise_adapter(body: bytes, sources: AdapterSources) -> bytes:
    """Point the request at the checked local folder of its ``lora_path`` (pulled if OCI).

    vLLM would load any path it is given, so every ``lora_path`` goes through the same
    :class:`AdapterSources` checks as on the transformers engine.
    """
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise errors.BadRequestError("The request body is not valid JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("lora_path"), str):
        return body
    local = await sources.locate(data["lora_path"])
    return json.dumps({**data, "lora_path": str(local)}).encode()
