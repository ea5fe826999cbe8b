"""Wire models of the OpenAI-compatible API (and vLLM's LoRA endpoints) that we serve.

Requests list OpenAI's fields in the order of the API reference
(https://platform.openai.com/docs/api-reference/chat/create), then the vLLM extras we honour.
Unknown fields are accepted, as OpenAI clients send new ones all the time, but logged by name so
that a typo is still visible in the server log.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kaito.runtime.inference.text_fields import UnicodeTextModel

logger = logging.getLogger(__name__)

MAX_CHOICES = 16
#: ``seed`` fits a signed 64-bit integer, as in vLLM (torch seeds are 64-bit).
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1


class OpenAIBaseModel(UnicodeTextModel):
    """Base for request models: extra fields allowed and logged; valid Unicode, finite floats."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    @model_validator(mode="after")
    def _log_extra_fields(self) -> OpenAIBaseModel:
        if self.model_extra:
            logger.warning(
                "%s: ignoring unsupported fields %s",
                type(self).__name__,
                sorted(self.model_extra),
            )
        return self


class ErrorInfo(BaseModel):
    """The inner object of the OpenAI error envelope."""

    message: str
    type: str
    param: str | None = None
    code: str | int | None = None


class ErrorResponse(BaseModel):
    """``{"error": {...}}``: the one error body of every ``/v1`` endpoint."""

    error: ErrorInfo


class StreamOptions(OpenAIBaseModel):
    """Streaming options."""

    include_usage: bool = False


class TextPart(OpenAIBaseModel):
    """A ``{"type": "text", "text": ...}`` content part."""

    type: Literal["text"]
    text: str


class ChatMessage(OpenAIBaseModel):
    """One message of the conversation."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """Content as one string (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class SamplingFields(OpenAIBaseModel):
    """Sampling fields shared by chat and completions."""

    model: str
    frequency_penalty: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=MAX_CHOICES)
    presence_penalty: float | None = None
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    user: str | None = None
    # vLLM extras
    top_k: int | None = Field(default=None, ge=-1, description="Keep the k most likely tokens.")
    ignore_eos: bool = Field(default=False, description="Generate past end-of-sequence tokens.")

    def stop_strings(self) -> tuple[str, ...]:
        """``stop`` as a tuple."""
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(SamplingFields):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)


class CompletionRequest(SamplingFields):
    """``POST /v1/completions``."""

    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(default=16, ge=1)
    echo: bool = False


class UsageInfo(BaseModel):
    """Token counts of one response."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def new_id(prefix: str) -> str:
    """A response id like OpenAI's (``chatcmpl-...``, ``cmpl-...``)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    """Creation timestamp in seconds."""
    return int(time.time())


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=now)
    owned_by: str = "kaito"
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class TokenizeRequest(OpenAIBaseModel):
    """``POST /tokenize`` (vLLM's shape): a completion ``prompt`` or chat ``messages``."""

    model: str | None = None
    prompt: str | None = None
    messages: list[ChatMessage] | None = None

    @model_validator(mode="after")
    def _one_input(self) -> TokenizeRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt and messages")
        return self


class LoadLoRAAdapterRequest(OpenAIBaseModel):
    """``POST /v1/load_lora_adapter`` (vLLM's shape); ``lora_path`` may be an OCI reference."""

    lora_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    lora_path: str = Field(min_length=1)


class UnloadLoRAAdapterRequest(OpenAIBaseModel):
    """``POST /v1/unload_lora_adapter`` (vLLM's shape)."""

    lora_name: str = Field(min_length=1)
    lora_int_id: int | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict of a response model."""
    return model.model_dump(mode="json")
