"""The logic behind the OpenAI routes: requests to engine calls, events to responses and SSE.

Routers stay thin (they only translate HTTP); this module validates what the schema cannot (model
names, context length), builds the :class:`GenerationRequest`, records metrics, and shapes
``chat.completion`` / ``text_completion`` objects and their streaming chunks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines.base import (
    EventStream,
    GenerationEngine,
    GenerationRequest,
    SamplingParams,
    SequenceEvent,
)
from kaito.runtime.inference.metrics import ServerMetrics
from kaito.runtime.inference.openai import protocol

DEFAULT_TEMPERATURE = 1.0
_DISCONNECT_POLL_S = 0.25

Disconnected = Callable[[], Awaitable[bool]]


class ClientDisconnectedError(Exception):
    """The client went away before a non-streaming response was ready."""


def error_body(exc: errors.InferenceError) -> dict[str, Any]:
    """The OpenAI error envelope for ``exc``."""
    info = protocol.ErrorInfo(
        message=exc.message, type=exc.error_type, param=exc.param, code=exc.code
    )
    return protocol.dump(protocol.ErrorResponse(error=info))


def sse(payload: dict[str, Any] | str) -> str:
    """One server-sent event."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


SSE_DONE = sse("[DONE]")


class _Chunker:
    """One SSE event of a streamed response; chat and text completions share the envelope."""

    def __init__(
        self, obj: str, response_id: str, created: int, model: str, include_usage: bool
    ) -> None:
        self._head = {"id": response_id, "object": obj, "created": created, "model": model}
        self._include_usage = include_usage

    def __call__(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {**self._head, "choices": choices}
        if self._include_usage:
            body["usage"] = usage
        return sse(body)


class _Tracker:
    """Per-request timing and token counts for the metrics."""

    def __init__(self, metrics: ServerMetrics, model: str, prompt_tokens: int) -> None:
        self.metrics = metrics
        self.model = model
        self.started = time.monotonic()
        self.first = False
        self.completion_tokens: dict[int, int] = {}
        metrics.prompt_tokens.labels(model).inc(prompt_tokens)

    def see(self, offset: int, event: SequenceEvent) -> None:
        if not self.first and event.completion_tokens > 0:
            self.first = True
            self.metrics.time_to_first_token.labels(self.model).observe(
                time.monotonic() - self.started
            )
        self.completion_tokens[offset + event.index] = event.completion_tokens

    def done(self) -> None:
        total = sum(self.completion_tokens.values())
        self.metrics.completion_tokens.labels(self.model).inc(total)
        self.metrics.request_latency.labels(self.model).observe(time.monotonic() - self.started)


class OpenAIServing:
    """Serves chat and completion requests from a :class:`GenerationEngine`."""

    def __init__(self, engine: GenerationEngine, metrics: ServerMetrics) -> None:
        self.engine = engine
        self.metrics = metrics

    # -- models ---------------------------------------------------------------------------------

    def list_models(self) -> dict[str, Any]:
        """``GET /v1/models``: the base model, then every adapter."""
        base = self.engine.base_model_name
        cards = [protocol.ModelCard(id=base, root=base, max_model_len=self.engine.max_model_len)]
        cards += [
            protocol.ModelCard(id=name, root=name, parent=base)
            for name in self.engine.adapter_names()
        ]
        return protocol.dump(protocol.ModelList(data=cards))

    def _check_model(self, model: str) -> None:
        if model != self.engine.base_model_name and model not in self.engine.adapter_names():
            raise errors.ModelNotFoundError(f"The model `{model}` does not exist.", param="model")

    def build_params(
        self, fields: protocol.SamplingFields, max_tokens: int | None, prompt_len: int
    ) -> SamplingParams:
        """Sampling parameters after checking the context window (413, then 400)."""
        limit = self.engine.max_model_len
        if prompt_len >= limit:
            raise errors.PromptTooLongError(
                f"This model's maximum context length is {limit} tokens, but the prompt has "
                f"{prompt_len} tokens.",
                param="messages",
            )
        if max_tokens is not None and prompt_len + max_tokens > limit:
            raise errors.BadRequestError(
                f"max_tokens={max_tokens} is too large: the prompt has {prompt_len} tokens and "
                f"the context window is {limit} tokens.",
                param="max_tokens",
            )
        top_k = fields.top_k if fields.top_k and fields.top_k > 0 else 0
        return SamplingParams(
            max_tokens=max_tokens if max_tokens is not None else limit - prompt_len,
            temperature=DEFAULT_TEMPERATURE if fields.temperature is None else fields.temperature,
            top_p=1.0 if fields.top_p is None else fields.top_p,
            top_k=top_k,
            seed=fields.seed,
            stop=fields.stop_strings(),
            ignore_eos=fields.ignore_eos,
        )

    async def tokenize(self, request: protocol.TokenizeRequest) -> dict[str, Any]:
        """``POST /tokenize``: token ids and count, as vLLM answers."""
        if request.model is not None:
            self._check_model(request.model)
        if request.messages is not None:
            messages = [{"role": m.role, "content": m.text()} for m in request.messages]
            tokens = await asyncio.to_thread(self.engine.encode_chat, messages)
        else:
            tokens = await asyncio.to_thread(self.engine.encode_prompt, request.prompt or "")
        return {"count": len(tokens), "max_model_len": self.engine.max_model_len, "tokens": tokens}

    # -- chat -----------------------------------------------------------------------------------

    async def create_chat_completion(
        self, request: protocol.ChatCompletionRequest, disconnected: Disconnected
    ) -> dict[str, Any] | AsyncIterator[str]:
        """``POST /v1/chat/completions``: a response dict, or SSE lines when streaming."""
        self._check_model(request.model)
        messages = [{"role": m.role, "content": m.text()} for m in request.messages]
        prompt_ids = await asyncio.to_thread(self.engine.encode_chat, messages)
        max_tokens = request.max_completion_tokens or request.max_tokens
        params = self.build_params(request, max_tokens, len(prompt_ids))
        stream = self.engine.generate(
            GenerationRequest(request.model, tuple(prompt_ids), params, request.n)
        )
        tracker = _Tracker(self.metrics, request.model, len(prompt_ids))
        response_id, created = protocol.new_id("chatcmpl"), protocol.now()
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            return self._chat_chunks(
                stream, tracker, request, response_id, created, len(prompt_ids), include_usage
            )
        texts, finishes = await _collect([stream], [0], request.n, tracker, disconnected)
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": texts[i]},
                "logprobs": None,
                "finish_reason": finishes[i],
            }
            for i in range(request.n)
        ]
        return {
            "id": response_id,
            "object": "chat.completion",
            "created": created,
            "model": request.model,
            "choices": choices,
            "usage": _usage(len(prompt_ids), tracker),
        }

    async def _chat_chunks(
        self,
        stream: EventStream,
        tracker: _Tracker,
        request: protocol.ChatCompletionRequest,
        response_id: str,
        created: int,
        prompt_tokens: int,
        include_usage: bool,
    ) -> AsyncIterator[str]:
        chunk = _Chunker(
            "chat.completion.chunk", response_id, created, request.model, include_usage
        )

        try:
            for i in range(request.n):
                yield chunk(
                    [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ]
                )
            async for event in stream:
                tracker.see(0, event)
                if not event.text and event.finish_reason is None:
                    continue
                delta = {"content": event.text} if event.text else {}
                yield chunk(
                    [
                        {
                            "index": event.index,
                            "delta": delta,
                            "logprobs": None,
                            "finish_reason": event.finish_reason,
                        }
                    ]
                )
            tracker.done()
            if include_usage:
                yield chunk([], _usage(prompt_tokens, tracker))
        except errors.InferenceError as exc:
            yield sse(error_body(exc))
        finally:
            stream.cancel()
        yield SSE_DONE

    # -- completions ----------------------------------------------------------------------------

    async def create_completion(
        self, request: protocol.CompletionRequest, disconnected: Disconnected
    ) -> dict[str, Any] | AsyncIterator[str]:
        """``POST /v1/completions``: one choice per prompt and ``n``."""
        self._check_model(request.model)
        prompts = await asyncio.to_thread(self._tokenize_prompts, request.prompt)
        params_list = [self.build_params(request, request.max_tokens, len(p)) for p in prompts]
        streams: list[EventStream] = []
        try:
            for ids, params in zip(prompts, params_list, strict=True):
                streams.append(
                    self.engine.generate(
                        GenerationRequest(request.model, tuple(ids), params, request.n)
                    )
                )
        except BaseException:
            for stream in streams:
                stream.cancel()
            raise
        prompt_tokens = sum(len(p) for p in prompts)
        tracker = _Tracker(self.metrics, request.model, prompt_tokens)
        offsets = [i * request.n for i in range(len(prompts))]
        response_id, created = protocol.new_id("cmpl"), protocol.now()
        echoes = [self.engine.decode(list(p)) if request.echo else "" for p in prompts]
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            return self._completion_chunks(
                streams, offsets, tracker, request, response_id, created, prompt_tokens,
                include_usage, echoes,
            )  # fmt: skip
        total = len(prompts) * request.n
        texts, finishes = await _collect(streams, offsets, total, tracker, disconnected)
        choices = [
            {
                "index": i,
                "text": echoes[i // request.n] + texts[i],
                "logprobs": None,
                "finish_reason": finishes[i],
            }
            for i in range(total)
        ]
        return {
            "id": response_id,
            "object": "text_completion",
            "created": created,
            "model": request.model,
            "choices": choices,
            "usage": _usage(prompt_tokens, tracker),
        }

    def _tokenize_prompts(
        self, prompt: str | list[str] | list[int] | list[list[int]]
    ) -> list[list[int]]:
        if isinstance(prompt, str):
            return [self.engine.encode_prompt(prompt)]
        if not prompt:
            raise errors.BadRequestError("prompt must not be empty", param="prompt")
        if all(isinstance(p, int) for p in prompt):
            return [[int(t) for t in prompt]]  # type: ignore[arg-type]
        if all(isinstance(p, str) for p in prompt):
            return [self.engine.encode_prompt(str(p)) for p in prompt]
        if all(isinstance(p, list) for p in prompt):
            return [list(p) for p in prompt]  # type: ignore[arg-type]
        raise errors.BadRequestError("prompt mixes strings and token ids", param="prompt")

    async def _completion_chunks(
        self,
        streams: list[EventStream],
        offsets: list[int],
        tracker: _Tracker,
        request: protocol.CompletionRequest,
        response_id: str,
        created: int,
        prompt_tokens: int,
        include_usage: bool,
        echoes: list[str],
    ) -> AsyncIterator[str]:
        chunk = _Chunker("text_completion", response_id, created, request.model, include_usage)

        try:
            for prompt_index, (stream, offset) in enumerate(zip(streams, offsets, strict=True)):
                if request.echo:
                    for i in range(request.n):
                        text = echoes[prompt_index]
                        yield chunk([_text_choice(offset + i, text, None)])
                async for event in stream:
                    tracker.see(offset, event)
                    if event.text or event.finish_reason is not None:
                        index = offset + event.index
                        yield chunk([_text_choice(index, event.text, event.finish_reason)])
            tracker.done()
            if include_usage:
                yield chunk([], _usage(prompt_tokens, tracker))
        except errors.InferenceError as exc:
            yield sse(error_body(exc))
        finally:
            for stream in streams:
                stream.cancel()
        yield SSE_DONE


def _text_choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}


def _usage(prompt_tokens: int, tracker: _Tracker) -> dict[str, int]:
    completion = sum(tracker.completion_tokens.values())
    return protocol.dump(
        protocol.UsageInfo(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion,
            total_tokens=prompt_tokens + completion,
        )
    )


async def _collect(
    streams: list[EventStream],
    offsets: list[int],
    total: int,
    tracker: _Tracker,
    disconnected: Disconnected,
) -> tuple[list[str], list[str | None]]:
    """Drain ``streams`` into full texts, cancelling them if the client disconnects."""
    texts = [""] * total
    finishes: list[str | None] = [None] * total

    async def drain() -> None:
        for stream, offset in zip(streams, offsets, strict=True):
            async for event in stream:
                tracker.see(offset, event)
                texts[offset + event.index] += event.text
                if event.finish_reason is not None:
                    finishes[offset + event.index] = event.finish_reason

    task = asyncio.ensure_future(drain())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=_DISCONNECT_POLL_S)
            if done:
                task.result()
                break
            if await disconnected():
                raise ClientDisconnectedError
    finally:
        if not task.done():
            task.cancel()
            for stream in streams:
                stream.cancel()
    tracker.done()
    return texts, finishes
