"""Turns a legacy ``/chat`` request into one generation on whichever engine serves.

The text-generation pipeline continued a raw ``prompt`` (and returned it with the continuation
unless ``return_full_text`` was false); the conversational pipeline answered ``messages``. Both
engines provide the same two operations through :class:`LegacyBackend`, so this rule lives once.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines.base import GenerationEngine, GenerationRequest, SamplingParams
from kaito.runtime.inference.legacy.protocol import GenerateKwargs, UnifiedRequestModel

PROMPT_REQUIRED = "Text generation parameter prompt required"


class LegacyHTTPError(Exception):
    """An error answered as upstream did: ``{"detail": message}`` with ``status_code``."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class LegacyParams:
    """Engine-neutral generation settings derived from ``generate_kwargs``."""

    max_new_tokens: int | None
    """Output tokens; ``None`` means ``max_length`` minus the prompt."""
    max_length: int
    temperature: float
    top_k: int
    top_p: float


class LegacyBackend(Protocol):
    """What the legacy endpoint needs from an engine."""

    async def complete_prompt(self, prompt: str, params: LegacyParams) -> str:
        """Continue a raw prompt; return the generated text only."""
        ...

    async def complete_messages(self, messages: list[dict[str, str]], params: LegacyParams) -> str:
        """Answer a conversation; return the assistant's text."""
        ...


def build_legacy_params(kwargs: GenerateKwargs) -> LegacyParams:
    """Map ``generate_kwargs`` to sampling settings (``do_sample: false`` means greedy)."""
    return LegacyParams(
        max_new_tokens=kwargs.max_new_tokens,
        max_length=kwargs.max_length,
        temperature=kwargs.temperature if kwargs.do_sample else 0.0,
        top_k=kwargs.top_k if kwargs.do_sample else 0,
        top_p=kwargs.top_p,
    )


async def serve_legacy_chat(body: UnifiedRequestModel, backend: LegacyBackend) -> dict[str, str]:
    """Answer ``POST /chat`` with ``{"Result": ...}``.

    Raises:
        LegacyHTTPError: 400 when neither ``prompt`` nor ``messages`` is given, or the engine
            refused the request; 500 when generation failed.
    """
    params = build_legacy_params(body.generate_kwargs)
    try:
        if body.prompt is not None:
            text = await backend.complete_prompt(body.prompt, params)
            return {"Result": body.prompt + text if body.return_full_text else text}
        if body.messages:
            messages = [{"role": m.role, "content": m.content} for m in body.messages]
            return {"Result": await backend.complete_messages(messages, params)}
    except errors.InferenceError as exc:
        status = 500 if exc.status_code >= 500 and exc.status_code != 503 else exc.status_code
        raise LegacyHTTPError(status, exc.message) from exc
    raise LegacyHTTPError(400, PROMPT_REQUIRED)


class EngineLegacyBackend:
    """:class:`LegacyBackend` over an in-process :class:`GenerationEngine`."""

    def __init__(self, engine: GenerationEngine) -> None:
        self._engine = engine

    async def complete_prompt(self, prompt: str, params: LegacyParams) -> str:
        """Continue the raw prompt (no chat template), like the text-generation pipeline."""
        return await self._generate(self._engine.encode_prompt(prompt), params)

    async def complete_messages(self, messages: list[dict[str, str]], params: LegacyParams) -> str:
        """Answer with the chat template applied, like the conversational pipeline."""
        return await self._generate(self._engine.encode_chat(messages), params)

    async def _generate(self, prompt_ids: list[int], params: LegacyParams) -> str:
        room = self._engine.max_model_len - len(prompt_ids)
        if room <= 0:
            raise errors.PromptTooLongError(
                f"the prompt has {len(prompt_ids)} tokens; the context window is "
                f"{self._engine.max_model_len}"
            )
        wanted = params.max_new_tokens or params.max_length - len(prompt_ids)
        sampling = SamplingParams(
            max_tokens=max(1, min(wanted, room)),
            temperature=params.temperature,
            top_k=params.top_k,
            top_p=params.top_p,
        )
        request = GenerationRequest(self._engine.base_model_name, tuple(prompt_ids), sampling)
        stream = self._engine.generate(request)
        try:
            return "".join([event.text async for event in stream])
        finally:
            stream.cancel()
