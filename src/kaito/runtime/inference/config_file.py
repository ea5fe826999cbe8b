"""Upstream's ``inference_config.yaml`` (the ConfigMap key mounted at ``/mnt/config``).

Shape (§4.2): ``{vllm: {<vllm flag name>: value, ...}, max_probe_steps: 6,
kv_cache_cpu_memory_utilization: 0.5}``, the keys upstream's vLLM wrapper reads. Only the ``vllm``
entries change what we run: they become ``--<name> <value>`` after every other flag so a user's
value wins over the preset's; the two upstream knobs are checked and otherwise kept for logging.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

VLLM_SECTION = "vllm"
# Upstream's KaitoConfig keys besides ``vllm`` (its wrapper reads them; we accept and check them).
MAX_PROBE_STEPS = "max_probe_steps"
KV_CACHE_CPU_MEMORY_UTILIZATION = "kv_cache_cpu_memory_utilization"


class ConfigFileError(ValueError):
    """The config file cannot be read or has the wrong shape; the message names the file."""


@dataclasses.dataclass(frozen=True)
class InferenceConfigFile:
    """The parsed file."""

    vllm: dict[str, Any] = dataclasses.field(default_factory=dict)
    """vLLM flag name (without dashes) to value."""
    other: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Everything else (kept for logging; upstream's legacy knobs)."""


def load_inference_config(path: Path) -> InferenceConfigFile:
    """Read and check ``path``.

    Raises:
        ConfigFileError: unreadable file, invalid YAML, or a ``vllm`` section that is not a map.
    """
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigFileError(f"cannot read inference config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"inference config {path} is not valid YAML: {exc}") from exc
    if document is None:
        return InferenceConfigFile()
    if not isinstance(document, dict):
        raise ConfigFileError(f"inference config {path} must be a mapping at the top level")
    section = document.get(VLLM_SECTION) or {}
    if not isinstance(section, dict):
        raise ConfigFileError(f"inference config {path}: '{VLLM_SECTION}' must be a mapping")
    other = {k: v for k, v in document.items() if k != VLLM_SECTION}
    _check_upstream_keys(path, other)
    return InferenceConfigFile(vllm={str(k): v for k, v in section.items()}, other=other)


def _check_upstream_keys(path: Path, other: dict[str, Any]) -> None:
    steps = other.get(MAX_PROBE_STEPS)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ConfigFileError(
            f"inference config {path}: {MAX_PROBE_STEPS} must be a positive integer, got {steps!r}"
        )
    ratio = other.get(KV_CACHE_CPU_MEMORY_UTILIZATION)
    if ratio is not None and (
        isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1
    ):
        raise ConfigFileError(
            f"inference config {path}: {KV_CACHE_CPU_MEMORY_UTILIZATION} must be a number from 0 "
            f"to 1, got {ratio!r}"
        )


def build_flag_args(entries: dict[str, Any]) -> list[str]:
    """Render config entries as vLLM argv: ``true`` → ``--flag``, ``false``/``null`` dropped."""
    argv: list[str] = []
    for key, value in entries.items():
        flag = "--" + key.lstrip("-").replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, dict | list):
            argv += [flag, json.dumps(value)]
        else:
            argv += [flag, str(value)]
    return argv
