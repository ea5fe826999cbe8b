"""Request text that the tokenizer can take: no lone UTF-16 surrogates (issue 16, item 7).

JSON may escape a high surrogate (``ud800``) without its pair; Python decodes that to a ``str``
no UTF-8 encoder accepts, and the tokenizer then failed inside Rust, answered as a 500.
Request models inherit :class:`UnicodeTextModel`, so such text is refused while parsing, with the
field's location, as a 400 (OpenAI routes) or FastAPI's 422 (legacy ``/chat``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

LONE_SURROGATE_MESSAGE = "text must be valid Unicode (it holds a lone surrogate)"


def has_lone_surrogate(value: Any) -> bool:
    """Whether ``value`` (a string, or lists and dicts of them) holds a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list | tuple):
        return any(has_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    return False


class UnicodeTextModel(BaseModel):
    """Base of request models: strings must encode as UTF-8; floats must be finite."""

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        if has_lone_surrogate(value):
            raise ValueError(LONE_SURROGATE_MESSAGE)
        return value
