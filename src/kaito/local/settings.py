"""Environment settings of local mode, read in this one place.

``kaito run`` keeps its state (Workspaces with their status, process ids, logs, adapters) under a
state directory that survives restarts: ``$KAITO_STATE_DIR`` or ``~/.kaito``. Flags override these
values; tests point them at a temporary folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_ENV = "KAITO_STATE_DIR"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
HF_ENDPOINT_ENV = "HF_ENDPOINT"
DEVICE_ENV = "KAITO_LOCAL_DEVICE"
DEFAULT_STATE_DIR = Path("~/.kaito")
DEFAULT_HF_ENDPOINT = "https://huggingface.co"
_TRUTHY = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class LocalSettings:
    """What the environment says about local mode."""

    state_dir: Path
    """Root of the local state (``$KAITO_STATE_DIR``, default ``~/.kaito``)."""
    hf_offline: bool
    """``$HF_HUB_OFFLINE`` forbids any hub access, so hub-only models are refused up front."""
    hf_endpoint: str
    """The hub probed for reachability (``$HF_ENDPOINT``, default https://huggingface.co)."""
    device: str | None
    """``cpu`` or ``cuda`` to override GPU detection (``$KAITO_LOCAL_DEVICE``); None detects."""


def load_local_settings() -> LocalSettings:
    """Read the local-mode settings from the environment."""
    raw_device = (os.environ.get(DEVICE_ENV) or "").strip().lower()
    return LocalSettings(
        state_dir=Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser(),
        hf_offline=(os.environ.get(HF_OFFLINE_ENV) or "").strip().lower() in _TRUTHY,
        hf_endpoint=os.environ.get(HF_ENDPOINT_ENV) or DEFAULT_HF_ENDPOINT,
        device=raw_device or None,
    )
