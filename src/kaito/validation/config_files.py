"""Rules on the ConfigMaps a Workspace names: ``inference_config.yaml``, ``training_config.yaml``.

The files are YAML documents inside ConfigMap data. Inference (vLLM only, §1.5 item 7): a ``vllm``
map whose ``max-model-len``, when set, is an integer within the model's context window. Tuning
(§1.5 item 9): a ``training_config`` map with known sections only, quantization flags consistent
with the method (lora: none; qlora: 4- or 8-bit) and an ``output_dir`` inside ``/mnt``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

from kaito.api import constants

# libyaml's loader is ~20x faster than the pure-Python one; both accept the same safe subset.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> tuple[Any, str | None]:
    try:
        return yaml.load(text, Loader=_LOADER), None
    except yaml.YAMLError as exc:
        return None, str(exc).replace("\n", " ")


def inference_config_errors(
    data: Mapping[str, str], cm_name: str, token_limit: int | None
) -> list[str]:
    """Problems with an inference ConfigMap's data (empty list when fine)."""
    key = constants.CONFIGMAP_KEY_INFERENCE
    if key not in data:
        return [f"missing field(s): {key} in ConfigMap '{cm_name}'"]
    document, error = _load_yaml(data[key])
    if error is not None:
        return [f"Failed to parse {key}: {error}"]
    if document is None:
        return []
    if not isinstance(document, Mapping):
        return [f"Failed to parse {key}: the document must be a map"]
    vllm = document.get(constants.INFERENCE_CONFIG_VLLM_SECTION)
    if vllm is None:
        return []
    if not isinstance(vllm, Mapping):
        return [f"Failed to parse {key}: '{constants.INFERENCE_CONFIG_VLLM_SECTION}' must be a map"]
    raw = vllm.get(constants.INFERENCE_CONFIG_MAX_MODEL_LEN)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    try:
        if isinstance(raw, bool | float):
            raise ValueError(raw)
        value = int(str(raw).strip())
    except ValueError:
        return [f"max-model-len must be an integer: got {raw!r}"]
    if token_limit is not None and token_limit > 0 and value > token_limit:
        return [
            f"max-model-len {value} exceeds model's maximum supported context window "
            f"{token_limit} (ModelTokenLimit)"
        ]
    return []


def inference_config_max_model_len(data: Mapping[str, str]) -> int | None:
    """The explicit ``vllm.max-model-len`` of a valid inference ConfigMap, if any."""
    document, error = _load_yaml(data.get(constants.CONFIGMAP_KEY_INFERENCE, ""))
    if error is not None or not isinstance(document, Mapping):
        return None
    vllm = document.get(constants.INFERENCE_CONFIG_VLLM_SECTION)
    if not isinstance(vllm, Mapping):
        return None
    raw = vllm.get(constants.INFERENCE_CONFIG_MAX_MODEL_LEN)
    try:
        return int(str(raw).strip()) if raw is not None and not isinstance(raw, bool) else None
    except ValueError:
        return None


def output_dir_error(value: object) -> str | None:
    """Why ``TrainingArguments.output_dir`` is unacceptable, or None."""
    if not isinstance(value, str):
        return "output_dir is not a string"
    base = constants.PATH_MNT
    joined = value if value.startswith("/") else posixpath.join(base, value)
    clean = posixpath.normpath(joined)
    if clean == base or not clean.startswith(base + "/"):
        return f"Invalid output_dir specified: '{value}', must be a sub-directory of {base}"
    return None


def training_arguments(document: object) -> Mapping[Any, Any] | None:
    """The ``TrainingArguments`` section of a parsed ``training_config.yaml``, if it has one."""
    root = document.get(constants.TRAINING_CONFIG_ROOT) if isinstance(document, Mapping) else None
    args = (
        root.get(constants.TRAINING_SECTION_TRAINING_ARGUMENTS)
        if isinstance(root, Mapping)
        else None
    )
    return args if isinstance(args, Mapping) else None


def training_output_dir(text: str | None) -> str | None:
    """``TrainingArguments.output_dir`` of a ``training_config.yaml`` text, if it names one.

    Malformed text gives ``None``: the rules above report it; builders fall back to the default.
    """
    if not text:
        return None
    document, error = _load_yaml(text)
    args = training_arguments(document) if error is None else None
    value = args.get(constants.TRAINING_KEY_OUTPUT_DIR) if args is not None else None
    return value if isinstance(value, str) and value else None


def training_config_errors(data: Mapping[str, str], cm_name: str, method: str) -> list[str]:
    """Problems with a tuning ConfigMap's data for ``method`` (lora/qlora, lower case)."""
    key = constants.CONFIGMAP_KEY_TRAINING
    if key not in data:
        return [f"ConfigMap '{cm_name}' does not contain '{key}'"]
    document, error = _load_yaml(data[key])
    if error is not None:
        return [f"Failed to parse '{key}' in ConfigMap '{cm_name}': {error}"]
    root = document.get(constants.TRAINING_CONFIG_ROOT) if isinstance(document, Mapping) else None
    if not isinstance(root, Mapping):
        return [f"Expected '{constants.TRAINING_CONFIG_ROOT}' key to contain a map"]
    errors: list[str] = []
    for section in root:
        if not isinstance(section, str):
            errors.append("Section key must be a string")
        elif section not in constants.TRAINING_CONFIG_SECTIONS:
            errors.append(f"Unrecognized section: {section}")
    errors.extend(_quantization_errors(root, cm_name, method))
    args = root.get(constants.TRAINING_SECTION_TRAINING_ARGUMENTS)
    if args is not None and not isinstance(args, Mapping):
        errors.append(f"{constants.TRAINING_SECTION_TRAINING_ARGUMENTS} must be a map")
    elif isinstance(args, Mapping) and constants.TRAINING_KEY_OUTPUT_DIR in args:
        problem = output_dir_error(args[constants.TRAINING_KEY_OUTPUT_DIR])
        if problem is not None:
            errors.append(problem)
    return errors


def _quantization_errors(root: Mapping[Any, Any], cm_name: str, method: str) -> list[str]:
    section = root.get(constants.TRAINING_SECTION_QUANTIZATION)
    qlora_missing = (
        f"For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be true in "
        f"ConfigMap '{cm_name}'"
    )
    if section is None:
        return [qlora_missing] if method == constants.TUNING_METHOD_QLORA else []
    if not isinstance(section, Mapping):
        return [f"{constants.TRAINING_SECTION_QUANTIZATION} must be a map"]
    flags: dict[str, bool] = {}
    errors: list[str] = []
    for flag in (constants.TRAINING_KEY_LOAD_IN_4BIT, constants.TRAINING_KEY_LOAD_IN_8BIT):
        value = section.get(flag)
        if value is not None and not isinstance(value, bool):
            errors.append(
                f"{flag}: value must be either nil or a boolean, got type {type(value).__name__}"
            )
        flags[flag] = value is True
    if errors:
        return errors
    four, eight = (
        flags[constants.TRAINING_KEY_LOAD_IN_4BIT],
        flags[constants.TRAINING_KEY_LOAD_IN_8BIT],
    )
    if four and eight:
        return [
            f"Cannot set both 'load_in_4bit' and 'load_in_8bit' to true in ConfigMap '{cm_name}'"
        ]
    if method == constants.TUNING_METHOD_LORA and (four or eight):
        return [
            f"For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap '{cm_name}' must "
            "not be true"
        ]
    if method == constants.TUNING_METHOD_QLORA and not (four or eight):
        return [qlora_missing]
    return []
