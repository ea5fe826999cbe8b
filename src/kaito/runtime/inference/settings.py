"""Environment variables the inference runtime reads, all in one place (STYLE.md §7).

``KAITO_API_KEY`` is the fallback for ``--api-key``; ``KAITO_COMPILE_DECODE`` sets
``--compile-decode``'s default. Adapter strengths follow upstream's
transformers runtime (§2.6, §4.3): the operator sets an environment variable named after each
adapter whose value is the adapter's weight, 1.0 when unset.

That convention lets an adapter's *name* pick a variable, so it is fenced in (issue 16, item 1):
only names a Workspace adapter may have (lower-case DNS-1123 subdomains, never ``HF_TOKEN`` or
``KAITO_API_KEY``) are looked up, only for adapters found in the adapters folder at start-up
(hot-loaded ones, whose names callers choose, always get 1.0), and a bad value is reported by
the variable's name only.
"""

from __future__ import annotations

import math
import os
import re

API_KEY_ENV = "KAITO_API_KEY"
COMPILE_DECODE_ENV = "KAITO_COMPILE_DECODE"
DEFAULT_ADAPTER_STRENGTH = 1.0
_ADAPTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_ADAPTER_NAME = 253


def get_api_key() -> str | None:
    """The API key from ``$KAITO_API_KEY``, or ``None`` when unset or empty."""
    return os.environ.get(API_KEY_ENV) or None


def compile_decode_default() -> bool:
    """``--compile-decode``'s default: on unless ``$KAITO_COMPILE_DECODE`` is 0, false or no.

    For runs that serve a handful of requests (tests, the demo), where a minute of compiling
    costs more than it saves.

    Raises:
        ValueError: any other value (named, with the accepted ones).
    """
    raw = os.environ.get(COMPILE_DECODE_ENV, "").strip().lower()
    if raw in {"", "1", "true", "yes"}:
        return True
    if raw in {"0", "false", "no"}:
        return False
    raise ValueError(f"{COMPILE_DECODE_ENV}={raw!r} is not one of 1, true, yes, 0, false, no")


def is_strength_variable_name(adapter_name: str) -> bool:
    """Whether ``adapter_name`` may name a strength variable (a Workspace adapter's name)."""
    return len(adapter_name) <= _MAX_ADAPTER_NAME and bool(_ADAPTER_NAME.match(adapter_name))


def get_adapter_strength(adapter_name: str) -> float:
    """The strength for ``adapter_name`` from the variable of that name (default 1.0).

    Names no Workspace adapter may have are not looked up (see the module docstring).

    Raises:
        ValueError: the variable is set but is not a finite number (the value is not shown).
    """
    if not is_strength_variable_name(adapter_name):
        return DEFAULT_ADAPTER_STRENGTH
    raw = os.environ.get(adapter_name)
    if raw is None or not raw.strip():
        return DEFAULT_ADAPTER_STRENGTH
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        # ``from None``: float()'s own message would quote the value.
        raise ValueError(
            f"the strength variable of adapter {adapter_name} is not a finite number"
        ) from None
    return value


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, for a child process (vLLM)."""
    return {**os.environ, **extra}
