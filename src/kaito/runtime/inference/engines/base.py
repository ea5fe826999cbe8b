"""What the server asks of a generation engine, independent of how it batches or where it runs.

The OpenAI and legacy routes build a :class:`GenerationRequest` from token ids and sampling
parameters and consume :class:`SequenceEvent` objects; the engine owns tokenisation (the chat
template lives with the tokenizer), scheduling, adapters and cancellation.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "abort"]


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens for one request (OpenAI semantics)."""

    max_tokens: int
    """Upper bound on generated tokens per choice."""
    temperature: float = 1.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass; 1.0 keeps the whole distribution."""
    top_k: int = 0
    """Keep only the ``top_k`` most likely tokens; 0 disables it."""
    seed: int | None = None
    """Makes sampling reproducible per request (choice ``i`` uses ``seed + i``)."""
    stop: tuple[str, ...] = ()
    """Strings that end a choice; they are not part of the returned text."""
    ignore_eos: bool = False
    """Keep generating past the end-of-sequence token (benchmarks)."""

    @property
    def greedy(self) -> bool:
        """Whether decoding is deterministic argmax."""
        return self.temperature <= 0.0 or self.top_k == 1


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """One prompt to continue, possibly several times (``n`` choices)."""

    model: str
    """The served base model name or an adapter name."""
    prompt_ids: tuple[int, ...]
    """The tokenised prompt (chat template already applied)."""
    params: SamplingParams
    """Sampling parameters shared by every choice."""
    n: int = 1
    """Number of independent choices."""


@dataclasses.dataclass(frozen=True)
class SequenceEvent:
    """New output for one choice; the last event of a choice carries ``finish_reason``."""

    index: int
    """Choice index within the request."""
    text: str
    """Text added since the previous event of this choice."""
    completion_tokens: int
    """Tokens generated so far for this choice."""
    finish_reason: FinishReason | None = None
    """Set on the choice's final event."""


@dataclasses.dataclass(frozen=True)
class EngineStats:
    """A snapshot for ``/metrics``."""

    waiting: int
    running: int


class EventStream(Protocol):
    """Events of one request, in order; :meth:`cancel` (or leaving early) stops generation."""

    def __aiter__(self) -> EventStream:
        """Iterate over the events."""
        ...

    async def __anext__(self) -> SequenceEvent:
        """The next event; raises an ``InferenceError`` if generation failed."""
        ...

    def cancel(self) -> None:
        """Stop generating for this request."""
        ...


class GenerationEngine(Protocol):
    """The interface the server's routes use; implemented by the transformers engine."""

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and requests are accepted."""
        ...

    @property
    def base_model_name(self) -> str:
        """The served name of the base model."""
        ...

    @property
    def max_model_len(self) -> int:
        """Context window in tokens (prompt plus output)."""
        ...

    def adapter_names(self) -> list[str]:
        """Names of the loaded adapters, each served as its own model."""
        ...

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Apply the chat template and tokenise."""
        ...

    def encode_prompt(self, prompt: str) -> list[int]:
        """Tokenise a plain completion prompt."""
        ...

    def decode(self, token_ids: list[int]) -> str:
        """Detokenise ids (for prompts given as token ids and for ``echo``)."""
        ...

    def generate(self, request: GenerationRequest) -> EventStream:
        """Queue ``request`` and return its events; raises at once when it cannot be queued."""
        ...

    def stats(self) -> EngineStats:
        """Current queue and batch sizes."""
        ...

    async def load_adapter(self, name: str, path: str) -> None:
        """Load a PEFT adapter directory and serve it as model ``name``."""
        ...

    async def unload_adapter(self, name: str) -> None:
        """Stop serving adapter ``name``."""
        ...

    async def start(self) -> None:
        """Load the model (and adapters); may take minutes."""
        ...

    async def stop(self) -> None:
        """Finish or abort in-flight work and release the model."""
        ...
