"""Wire models of the legacy ``/chat`` endpoint (§4.3), field names and defaults as upstream's.

Wrong JSON types are answered with FastAPI's own 422 body, as upstream's server did, so these models
keep strict types; ``generate_kwargs`` accepts extra keys like the transformers pipeline did.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GenerateKwargs(BaseModel):
    """Generation settings merged over the model's defaults."""

    model_config = ConfigDict(extra="allow")

    max_length: int = 200
    """Total length (prompt plus output) in tokens, as in ``transformers``."""
    max_new_tokens: int | None = None
    """Output tokens; wins over ``max_length`` when given."""
    min_length: int = 0
    do_sample: bool = True
    early_stopping: bool = False
    num_beams: int = 1
    temperature: float = 1.0
    top_k: int = 10
    top_p: float = 1.0
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    pad_token_id: int | None = None
    eos_token_id: int | None = None


class LegacyMessage(BaseModel):
    """A conversational message."""

    role: str
    content: str


class UnifiedRequestModel(BaseModel):
    """``POST /chat`` body."""

    prompt: str | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: str | None = None
    handle_long_generation: str | None = None
    generate_kwargs: GenerateKwargs = GenerateKwargs()
    messages: list[LegacyMessage] | None = None
