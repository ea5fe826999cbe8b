"""What vLLM can serve, by model architecture: generated data, read once.

Upstream Kaito refuses a Hugging Face ``org/repo`` preset whose config names no architecture vLLM
supports, and refuses LoRA adapters on vLLM for models whose vLLM implementation does not take
them. Both facts come from vLLM's model registry; ``scripts/gen_vllm_architectures.py`` extracts
them into ``data/vllm_architectures.yaml`` (regenerate when the runtime image's vLLM changes).
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable, Mapping
from typing import Any

import yaml


@functools.cache
def _table() -> tuple[str, Mapping[str, bool | None]]:
    text = importlib.resources.files("kaito.presets").joinpath("data/vllm_architectures.yaml")
    document: dict[str, Any] = yaml.safe_load(text.read_text(encoding="utf-8"))
    archs = document.get("architectures") or {}
    table = {str(name): (facts or {}).get("lora") for name, facts in archs.items()}
    return str(document.get("vllmVersion", "unknown")), table


def vllm_version() -> str:
    """The vLLM release the table was generated from."""
    return _table()[0]


def vllm_serves(architectures: Iterable[str]) -> bool | None:
    """Whether vLLM serves any of ``architectures``; None when none are given (unknown)."""
    names = tuple(architectures)
    if not names:
        return None
    table = _table()[1]
    return any(name in table for name in names)


def vllm_lora_support(architectures: Iterable[str]) -> bool | None:
    """Whether vLLM takes LoRA adapters for the model; None when that cannot be told.

    True if any served architecture supports LoRA, False only when every architecture vLLM
    serves is known not to, None when no architecture is known (nothing to refuse on).
    """
    table = _table()[1]
    known = [table[name] for name in architectures if name in table]
    if any(value is True for value in known):
        return True
    if known and all(value is False for value in known):
        return False
    return None
