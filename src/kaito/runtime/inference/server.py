"""The ``kaito-serve`` application: app factory, lifespan, error envelope and process entry.

:func:`build_app` wires routes, middleware and exception handlers onto a FastAPI app whose
lifespan loads the engine in the background, so ``/health`` answers 503 while the model loads and
200 afterwards (Kubernetes' startup probe waits on it). :func:`run_server` runs the app with
uvicorn and returns an exit code; the CLI and the local mode call it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import FastAPI

from kaito.runtime import host, models
from kaito.runtime.inference import benchmark
from kaito.runtime.inference.adapters import AdapterSources, HotLoadPolicy
from kaito.runtime.inference.engines import vllm_frontend
from kaito.runtime.inference.engines.base import EngineStats, GenerationEngine
from kaito.runtime.inference.frontend import install_common
from kaito.runtime.inference.legacy import api_router as legacy_router
from kaito.runtime.inference.legacy.serving import EngineLegacyBackend
from kaito.runtime.inference.metrics import ServerMetrics
from kaito.runtime.inference.openai import api_router as openai_router
from kaito.runtime.inference.openai.serving import OpenAIServing
from kaito.runtime.inference.options import ServeOptions

logger = logging.getLogger(__name__)


def build_app(options: ServeOptions) -> FastAPI:
    """Build the server for ``options`` (the engine starts in the app's lifespan)."""
    app = _build_engine_app(options)
    if options.benchmark is not None:
        host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
        benchmark.install(
            app, f"http://{host}:{options.port}", options.model_name, options.benchmark,
            options.api_key,
        )  # fmt: skip
    return app


def _build_engine_app(options: ServeOptions) -> FastAPI:
    if options.engine == "vllm":
        return vllm_frontend.build_vllm_app(options)
    app = FastAPI(
        title="kaito-serve",
        lifespan=_transformers_lifespan(options),
        docs_url=None,
        redoc_url=None,
    )
    app.state.options = options
    app.state.engine = None
    app.state.serving = None
    app.state.legacy_backend = None
    app.state.adapter_sources = AdapterSources(HotLoadPolicy.from_options(options))
    app.state.metrics = ServerMetrics(lambda: _engine_stats(app))
    openai_router.attach_router(app)
    legacy_router.attach_router(app)
    install_common(app, options)
    return app


def _engine_stats(app: FastAPI) -> EngineStats | None:
    engine: GenerationEngine | None = app.state.engine
    return engine.stats() if engine is not None else None


def _transformers_lifespan(options: ServeOptions) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_start_transformers(app, options))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            if app.state.engine is not None:
                await app.state.engine.stop()

    return lifespan


_T = TypeVar("_T")


async def in_own_thread(function: Callable[[], _T]) -> _T:
    """Run ``function`` on a thread that ends with it, not on the event loop's shared executor.

    Why: torch work there (converting a GGUF file) leaves that long-lived thread an idle OpenMP
    team, and once a process holds more OpenMP threads than CPUs, libgomp lets the engine's
    workers sleep between parallel regions: decoding measured 1.35x slower. A thread that ends
    releases its team.
    """
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="kaito-model-source", daemon=True).start()
    return await asyncio.wrap_future(future)


async def _start_transformers(app: FastAPI, options: ServeOptions) -> None:
    from kaito.runtime.inference.engines.transformers_engine import (
        TransformersEngine,
        TransformersEngineConfig,
    )

    try:
        if options.passthrough:
            logger.warning(
                "the transformers engine ignores these flags: %s", " ".join(options.passthrough)
            )
        model_dir = await in_own_thread(lambda: models.materialize_model(options.model))
        engine = TransformersEngine(
            TransformersEngineConfig(
                model_dir=model_dir,
                served_model_name=options.model_name,
                max_model_len=options.max_model_len,
                dtype=options.dtype,
                device=options.device,
                max_batch_size=options.max_batch_size,
                max_queue=options.max_queue,
                threads=options.threads,
                cpu_prepack=options.cpu_prepack,
                fast_decode=options.fast_decode,
                compile_decode=options.compile_decode,
                adapters_dir=options.adapters_dir,
            )
        )
        await engine.start()
    except models.ModelSourceError as exc:
        logger.error("cannot load model: %s", exc)
        app.state.load_error = str(exc)
        _request_shutdown(app)
        return
    except Exception as exc:
        logger.exception("cannot load model %s", options.model)
        app.state.load_error = str(exc)
        _request_shutdown(app)
        return
    app.state.engine = engine
    app.state.serving = OpenAIServing(engine, app.state.metrics)
    app.state.legacy_backend = EngineLegacyBackend(engine)
    logger.info("serving %s on %s:%s", options.model_name, options.host, options.port)


def _request_shutdown(app: FastAPI) -> None:
    """Ask uvicorn to stop (set by :func:`run_server`; absent under a test client)."""
    stop = getattr(app.state, "request_shutdown", None)
    if stop is not None:
        stop()


# -- process entry ---------------------------------------------------------------------------------


def run_server(options: ServeOptions) -> int:
    """Serve until interrupted; 0 on a clean stop, 1 when the model could not load."""
    import uvicorn

    logging.basicConfig(
        level=options.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One line per health poll of the vLLM child would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    host.host_cpu()  # detect the CPU once, and log it, before any default is derived from it
    app = build_app(options)
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)

    def request_shutdown() -> None:
        server.should_exit = True

    app.state.request_shutdown = request_shutdown
    server.run()
    return 1 if getattr(app.state, "load_error", None) else 0
