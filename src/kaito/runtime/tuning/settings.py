"""Environment settings of the tuning runtime, read in this one place.

A tuning pod built the upstream way passes its inputs only through the environment
(``YAML_FILE_PATH``, ``DATASET_FOLDER_PATH``, ``DEFAULT_TARGET_MODULES``); our own knobs use the
``KAITO_`` prefix. The CLI shows these names in ``--help`` and falls back to them when a flag is
not given, so the same container works with or without arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONFIG_PATH_ENV = "YAML_FILE_PATH"
DATA_DIR_ENV = "DATASET_FOLDER_PATH"
TARGET_MODULES_ENV = "DEFAULT_TARGET_MODULES"
OUTPUT_ROOT_ENV = "KAITO_TUNING_OUTPUT_ROOT"
METRICS_PORT_ENV = "KAITO_METRICS_PORT"
COMPILE_ENV = "KAITO_TUNING_COMPILE"

# Upstream's in-pod layout (reference §2.10, §5).
DEFAULT_CONFIG_PATH = Path("/mnt/config/training_config.yaml")
DEFAULT_DATA_DIR = Path("/mnt/data")
DEFAULT_OUTPUT_ROOT = Path("/mnt")
DEFAULT_MODEL_DIR = "/workspace/tfs/weights"
DEFAULT_METRICS_PORT = 5000


@dataclass(frozen=True)
class TuningSettings:
    """What the environment says about a tuning run; flags override each field."""

    config_path: Path
    """The ``training_config.yaml`` file (``$YAML_FILE_PATH``)."""
    data_dir: Path
    """Folder searched for dataset files (``$DATASET_FOLDER_PATH``)."""
    output_root: Path
    """``output_dir`` must lie inside this folder (``$KAITO_TUNING_OUTPUT_ROOT``, default /mnt)."""
    metrics_port: int
    """Prometheus port (``$KAITO_METRICS_PORT``, default 5000; 0 disables)."""
    default_target_modules: tuple[str, ...]
    """LoRA target modules when the config names none (``$DEFAULT_TARGET_MODULES``, comma list)."""


def load_tuning_settings() -> TuningSettings:
    """Read the tuning settings from the environment (defaults are upstream's pod layout)."""
    raw_port = os.environ.get(METRICS_PORT_ENV, "").strip()
    try:
        port = int(raw_port) if raw_port else DEFAULT_METRICS_PORT
    except ValueError:
        port = DEFAULT_METRICS_PORT
    modules = tuple(
        m.strip() for m in os.environ.get(TARGET_MODULES_ENV, "").split(",") if m.strip()
    )
    return TuningSettings(
        config_path=Path(os.environ.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH),
        data_dir=Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR),
        output_root=Path(os.environ.get(OUTPUT_ROOT_ENV) or DEFAULT_OUTPUT_ROOT),
        metrics_port=port,
        default_target_modules=modules,
    )
