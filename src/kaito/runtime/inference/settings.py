"""Environment variables the inference runtime reads, all in one place (STYLE.md §7).

``KAITO_API_KEY`` is the fallback for ``--api-key``. Adapter strengths follow upstream's
transformers runtime (§2.6, §4.3): the operator sets an environment variable named after each
adapter whose value is the adapter's weight, 1.0 when unset.
"""

from __future__ import annotations

import os

API_KEY_ENV = "KAITO_API_KEY"
DEFAULT_ADAPTER_STRENGTH = 1.0


def get_api_key() -> str | None:
    """The API key from ``$KAITO_API_KEY``, or ``None`` when unset or empty."""
    return os.environ.get(API_KEY_ENV) or None


def get_adapter_strength(adapter_name: str) -> float:
    """The strength for ``adapter_name`` from the variable of that name (default 1.0).

    Raises:
        ValueError: the variable is set but is not a number.
    """
    raw = os.environ.get(adapter_name)
    if raw is None or not raw.strip():
        return DEFAULT_ADAPTER_STRENGTH
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(
            f"adapter strength variable {adapter_name}={raw!r} is not a number"
        ) from exc


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, for a child process (vLLM)."""
    return {**os.environ, **extra}
