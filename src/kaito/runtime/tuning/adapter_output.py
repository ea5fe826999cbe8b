"""Writing the trained adapter and the completion sentinel, and checking an adapter is loadable.

The pusher sidecar uploads whatever sits in ``output_dir`` once ``fine_tuning_completed.txt``
appears (reference §2.10), so the adapter is staged, checked and moved into place before the
sentinel is written: a half-written adapter must never be pushed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from kaito.api.constants import ADAPTER_CONFIG_FILE, ADAPTER_FILES, ADAPTER_WEIGHTS_FILE
from kaito.api.constants import TUNING_SENTINEL_FILE as SENTINEL_FILENAME
from kaito.runtime.tuning import checkpoints
from kaito.runtime.tuning.errors import (
    TuningError,
)

logger = logging.getLogger(__name__)

_ADAPTER_STAGING = ".kaito-adapter-staging"
TOKENIZER_PREFIXES = ("tokenizer", "special_tokens_map", "chat_template", "added_tokens")


def save_adapter(trainer: Any, tokenizer: Any | None, out: Path) -> tuple[Path, ...]:
    """Write the adapter (and a changed tokenizer) next to each other, file by file atomically."""
    staging = out / _ADAPTER_STAGING
    shutil.rmtree(staging, ignore_errors=True)
    trainer.model.save_pretrained(str(staging), safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(staging))
    written: list[Path] = []
    for path in sorted(staging.iterdir()):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            target = out / path.name
            os.replace(path, target)
            written.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    missing = [f for f in ADAPTER_FILES if not (out / f).is_file()]
    if missing:
        raise TuningError(f"the adapter was not written completely: {', '.join(missing)} missing")
    return tuple(written)


def adapter_problem(out: Path) -> str | None:
    """Why the adapter in ``out`` does not load, or ``None`` once it was loaded completely.

    The config must be a JSON object and every tensor of the weights must load (safetensors,
    on the CPU): what a server does first with a pushed adapter.
    """
    for name in ADAPTER_FILES:
        if not (out / name).is_file():
            return f"{name} is missing"
    try:
        config = json.loads((out / ADAPTER_CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return f"{ADAPTER_CONFIG_FILE} is not JSON: {exc}"
    if not isinstance(config, dict):
        return f"{ADAPTER_CONFIG_FILE} is not a JSON object"
    weights = out / ADAPTER_WEIGHTS_FILE
    problem = checkpoints.safetensors_problem(weights)
    if problem:
        return f"{ADAPTER_WEIGHTS_FILE}: {problem}"
    try:
        from safetensors.torch import load_file

        tensors = load_file(str(weights), device="cpu")
    except Exception as exc:
        return f"{ADAPTER_WEIGHTS_FILE} does not load: {str(exc)[:200]}"
    if not tensors:
        return f"{ADAPTER_WEIGHTS_FILE} holds no tensors"
    return None


def require_loadable_adapter(out: Path) -> None:
    """Load the adapter once before the run may be marked complete.

    Raises:
        TuningError: it does not load (no sentinel is written).
    """
    problem = adapter_problem(out)
    if problem:
        raise TuningError(f"the adapter written to {out} does not load: {problem}")


def write_sentinel(out: Path, step: int) -> None:
    """Write ``fine_tuning_completed.txt`` atomically, with the last step, as the pusher expects."""
    path = out / SENTINEL_FILENAME
    tmp = out / f".{SENTINEL_FILENAME}.tmp"
    tmp.write_text(f"fine-tuning completed at step {step}\n", encoding="utf-8")
    os.replace(tmp, path)


def read_sentinel_step(path: Path) -> int:
    """The step recorded in a sentinel (0 when it names none)."""
    words = path.read_text(encoding="utf-8", errors="replace").split()
    return int(words[-1]) if words and words[-1].isdigit() else 0
