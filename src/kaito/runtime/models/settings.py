"""Environment settings for model resolution: where materialised models are cached, the hub token.

Kept apart so that ``os.environ`` is read in exactly one place (STYLE.md §7); both the inference
and the tuning runtimes resolve models through :mod:`kaito.runtime.models` and share this cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR_ENV = "KAITO_CACHE_DIR"
HF_TOKEN_ENV = "HF_TOKEN"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
HF_ENDPOINT_ENV = "HF_ENDPOINT"
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_CACHE_DIR = Path("~/.cache/kaito")
_TRUTHY = frozenset({"1", "true", "yes", "on"})


def offline_flag(value: str | None) -> bool:
    """``$HF_HUB_OFFLINE`` as huggingface_hub reads it: these spellings are on, all else off."""
    return (value or "").strip().lower() in _TRUTHY


@dataclass(frozen=True)
class ModelSettings:
    """Settings read from the environment once per call of :func:`load_model_settings`."""

    cache_dir: Path
    """Root of the model cache (``$KAITO_CACHE_DIR``, default ``~/.cache/kaito``)."""
    hf_token: str | None
    """Token for gated or private Hugging Face repositories (``$HF_TOKEN``)."""
    hf_offline: bool
    """Whether ``$HF_HUB_OFFLINE`` forbids any hub access."""
    hf_endpoint: str = DEFAULT_HF_ENDPOINT
    """The hub to ask (``$HF_ENDPOINT``, default https://huggingface.co)."""


def load_model_settings() -> ModelSettings:
    """Read the model settings from the environment."""
    raw_cache = os.environ.get(CACHE_DIR_ENV) or str(DEFAULT_CACHE_DIR)
    offline = offline_flag(os.environ.get(HF_OFFLINE_ENV))
    return ModelSettings(
        cache_dir=Path(raw_cache).expanduser(),
        hf_token=os.environ.get(HF_TOKEN_ENV) or None,
        hf_offline=offline,
        hf_endpoint=os.environ.get(HF_ENDPOINT_ENV) or DEFAULT_HF_ENDPOINT,
    )
