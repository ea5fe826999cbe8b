"""Wire models of the legacy ``/chat`` endpoint (§4.3), field names and defaults as upstream's.

Wrong JSON types are answered with FastAPI's own 422 body, as upstream's server did, so these models
keep strict types; ``generate_kwargs`` accepts extra keys like the transformers pipeline did.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from kaito.runtime.inference.text_fields import UnicodeTextModel


class GenerateKwargs(UnicodeTextModel):
    """Generation settings merged over the model's defaults (ranges as ``transformers`` checks)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    max_length: int = Field(default=200, ge=1)
    """Total length (prompt plus output) in tokens, as in ``transformers``."""
    max_new_tokens: int | None = Field(default=None, ge=1)
    """Output tokens; wins over ``max_length`` when given."""
    min_length: int = Field(default=0, ge=0)
    do_sample: bool = True
    early_stopping: bool = False
    num_beams: int = Field(default=1, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    top_k: int = Field(default=10, ge=0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    typical_p: float = Field(default=1.0, gt=0.0, le=1.0)
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    pad_token_id: int | None = None
    eos_token_id: int | None = None


class LegacyMessage(UnicodeTextModel):
    """A conversational message."""

    role: str
    content: str


class UnifiedRequestModel(UnicodeTextModel):
    """``POST /chat`` body."""

    prompt: str | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: str | None = None
    handle_long_generation: str | None = None
    generate_kwargs: GenerateKwargs = GenerateKwargs()
    messages: list[LegacyMessage] | None = None
