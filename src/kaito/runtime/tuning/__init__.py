"""The fine-tuning runtime: LoRA/QLoRA on upstream's ``training_config.yaml``, with resume.

``kaito-tune`` (the CLI) and local mode call :func:`run_tuning`; the module imports no heavy
library until training starts, so importing it is cheap.
"""

from __future__ import annotations

from kaito.api.constants import TUNING_SENTINEL_FILE as SENTINEL_FILENAME
from kaito.runtime.tuning.errors import (
    ConfigError,
    DatasetError,
    InputUnreadableError,
    ModelLoadError,
    TuningError,
)
from kaito.runtime.tuning.options import TuningOptions
from kaito.runtime.tuning.training import (
    TuningResult,
    run_tuning,
)

__all__ = [
    "SENTINEL_FILENAME",
    "ConfigError",
    "DatasetError",
    "InputUnreadableError",
    "ModelLoadError",
    "TuningError",
    "TuningOptions",
    "TuningResult",
    "run_tuning",
]
