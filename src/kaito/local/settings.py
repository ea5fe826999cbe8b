"""Environment settings of local mode, read in this one place.

``kaito run`` keeps its state (Workspaces with their status, process ids, logs, adapters) under a
state directory that survives restarts: ``$KAITO_STATE_DIR`` or ``~/.kaito``. Flags override these
values; tests point them at a temporary folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kaito.runtime.models.settings import load_model_settings

STATE_DIR_ENV = "KAITO_STATE_DIR"
DEVICE_ENV = "KAITO_LOCAL_DEVICE"
DEFAULT_STATE_DIR = Path("~/.kaito")


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
    hub = load_model_settings()  # the hub variables are the runtime's; read them the same way
    return LocalSettings(
        state_dir=Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR).expanduser(),
        hf_offline=hub.hf_offline,
        hf_endpoint=hub.hf_endpoint,
        device=raw_device or None,
    )
