"""The runtime knobs of a tuning run that are not part of ``training_config.yaml``.

Its own module because the run (:mod:`~kaito.runtime.tuning.training`), the model loading and the
trainer callbacks all read these options, and none of them should import another to get them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from kaito.runtime.tuning import settings

# Upstream's code default when the config names no output_dir (reference §2.10).
DEFAULT_OUTPUT_SUBDIR = "output"
DEFAULT_LOGGING_STEPS = 10
DEFAULT_CHECKPOINT_SECONDS = 300.0
PROGRESS_AUTO = "auto"
PROGRESS_BAR = "bar"
PROGRESS_JSON = "json"
PROGRESS_NONE = "none"
PROGRESS_MODES: tuple[str, ...] = (PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_JSON, PROGRESS_NONE)

Choice = TypeVar("Choice", bound=str)


def one_of(name: str, choices: tuple[Choice, ...], what: str) -> Choice:
    """``name`` as one of ``choices`` (a knob's accepted values, typed as its ``Literal``).

    Raises:
        ValueError: not one of them (the message names ``what`` and lists them).
    """
    for choice in choices:
        if name == choice:
            return choice
    raise ValueError(f"{what} {name!r} is not one of {', '.join(choices)}")


@dataclass(frozen=True)
class TuningOptions:
    """Runtime knobs that are not part of ``training_config.yaml``."""

    output_root: Path = settings.DEFAULT_OUTPUT_ROOT
    """``output_dir`` must lie inside this folder."""
    overrides: tuple[str, ...] = ()
    """``Section.key=value`` overrides applied to the config before validation."""
    method: str | None = None
    """``lora`` or ``qlora`` when known; the config must agree."""
    metrics_port: int = settings.DEFAULT_METRICS_PORT
    """Prometheus port; 0 disables it."""
    checkpoint_steps: int | None = None
    """Save the rolling checkpoint every N steps (besides every ``checkpoint_seconds``)."""
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    """Save the rolling checkpoint when this much time passed since the last one."""
    resume: bool = True
    """Resume from the newest complete checkpoint; ``False`` discards earlier progress."""
    progress: str = PROGRESS_AUTO
    """``bar`` (terminal), ``json`` (one line per logging step), ``none`` or ``auto``."""
    default_target_modules: tuple[str, ...] = ()
    """LoRA target modules when the config names none (empty: every linear layer)."""
    progress_stream: TextIO | None = None
    """Where JSON progress lines go (default: standard output)."""
    profile: str = "default"
    """``default`` or ``fast`` (:mod:`kaito.runtime.tuning.profiles`); ``overrides`` win."""
    compile: str = "auto"
    """Compile the decoder layers of a CPU run (bf16 or float32): ``auto``, ``on`` or ``off``
    (:mod:`kaito.runtime.tuning.compiled_layers`)."""
