"""Parse and validate upstream's ``training_config.yaml`` before anything heavy happens.

The file is a ``training_config`` map with six sections (reference §5). Upstream silently drops
keys its dataclasses do not know, so a typo such as ``learning_rte`` trains with the default and
nobody notices; here every key is checked against the real classes it configures (TRL's
``SFTConfig``, PEFT's ``LoraConfig``, transformers' ``BitsAndBytesConfig`` and data collator, and
our ``DatasetConfig``/``ModelConfig``) and an unknown one is an error that names it. The upstream
default files (``lora-params``/``qlora-params``) load unchanged.

Invalid combinations carry upstream's meaning (reference §1.5): 4-bit and 8-bit together, QLoRA
without quantization, LoRA with quantization, and an ``output_dir`` outside the allowed root.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kaito.runtime.tuning.errors import ConfigError, InputUnreadableError

TOP_LEVEL_KEY = "training_config"
MODEL_SECTION = "ModelConfig"
QUANTIZATION_SECTION = "QuantizationConfig"
LORA_SECTION = "LoraConfig"
TRAINING_SECTION = "TrainingArguments"
DATASET_SECTION = "DatasetConfig"
COLLATOR_SECTION = "DataCollator"
SECTIONS: tuple[str, ...] = (
    MODEL_SECTION,
    QUANTIZATION_SECTION,
    LORA_SECTION,
    TRAINING_SECTION,
    DATASET_SECTION,
    COLLATOR_SECTION,
)

METHOD_LORA = "lora"
METHOD_QLORA = "qlora"
METHODS: tuple[str, ...] = (METHOD_LORA, METHOD_QLORA)

# Upstream's ModelConfig fields (reference §5) plus the transformers 5 spellings.
MODEL_KEYS: frozenset[str] = frozenset(
    {
        "pretrained_model_name_or_path",
        "state_dict",
        "cache_dir",
        "force_download",
        "proxies",
        "output_loading_info",
        "local_files_only",
        "revision",
        "trust_remote_code",
        "torch_dtype",
        "dtype",
        "device_map",
        "chat_template",
        "attn_implementation",
    }
)
# Keys the collator section may hold besides the data collator's own fields.
_COLLATOR_EXCLUDED = frozenset({"tokenizer"})


@dataclass(frozen=True)
class DatasetConfig:
    """Where the dataset is and how to prepare it (upstream ``DatasetConfig`` fields)."""

    dataset_path: str | None = None
    """A file or folder; relative paths resolve against the output root (upstream: /mnt)."""
    dataset_extension: str | None = None
    """Force the file format (parquet, json, jsonl, csv, arrow) instead of the file suffix."""
    shuffle_dataset: bool = True
    """Shuffle the rows before splitting."""
    shuffle_seed: int = 42
    """Seed of the shuffle."""
    context_column: str | None = None
    """With ``response_column``: build prompt/completion pairs from these two columns."""
    response_column: str = "text"
    """The text column (or, with ``context_column``, the completion column)."""
    messages_column: str | None = None
    """A column holding OpenAI-style message lists (default ``messages``)."""
    train_test_split: float = 0.8
    """Fraction of rows used for training, in (0, 1]; the rest becomes the eval set."""


DATASET_KEYS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(DatasetConfig))


@dataclass(frozen=True)
class TuningConfig:
    """A validated ``training_config`` with one plain mapping per section."""

    model: dict[str, Any] = field(default_factory=dict)
    quantization: dict[str, Any] = field(default_factory=dict)
    lora: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    collator: dict[str, Any] = field(default_factory=dict)

    @property
    def quantized(self) -> bool:
        """Whether the base model is loaded in 4 or 8 bits (that is, QLoRA)."""
        return bool(self.quantization.get("load_in_4bit") or self.quantization.get("load_in_8bit"))

    @property
    def method(self) -> str:
        """``qlora`` when quantized, else ``lora``."""
        return METHOD_QLORA if self.quantized else METHOD_LORA


def load_config(
    path: Path,
    *,
    overrides: Iterable[str] = (),
    method: str | None = None,
) -> TuningConfig:
    """Read, override and validate a ``training_config.yaml`` file.

    Args:
        path: the YAML file.
        overrides: ``Section.key=value`` strings (values parsed as YAML) applied before validation.
        method: ``lora`` or ``qlora`` when the caller knows it (the Workspace's ``tuning.method``);
            the quantization section must agree with it.

    Raises:
        InputUnreadableError: the file is missing or is not YAML.
        ConfigError: an unknown section or key, a bad value or an invalid combination.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputUnreadableError(f"cannot read training config {path}: {exc.strerror}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputUnreadableError(f"training config {path} is not valid YAML: {exc}") from exc
    return parse_config(document, source=str(path), overrides=overrides, method=method)


def parse_config(
    document: Any,
    *,
    source: str = "training config",
    overrides: Iterable[str] = (),
    method: str | None = None,
) -> TuningConfig:
    """Validate an already-parsed YAML document; see :func:`load_config`."""
    if not isinstance(document, Mapping) or not isinstance(
        document.get(TOP_LEVEL_KEY), Mapping | None
    ):
        raise ConfigError(f"{source}: expected a mapping with a top-level '{TOP_LEVEL_KEY}' map")
    unknown_top = sorted(str(k) for k in document if k != TOP_LEVEL_KEY)
    if unknown_top:
        raise ConfigError(f"{source}: unknown top-level key '{unknown_top[0]}'")
    raw = document.get(TOP_LEVEL_KEY) or {}
    sections: dict[str, dict[str, Any]] = {}
    for name, body in raw.items():
        if name not in SECTIONS:
            raise ConfigError(
                f"Unrecognized section: {name} (expected one of {', '.join(SECTIONS)})"
            )
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise ConfigError(f"section {name} must be a mapping, not {type(body).__name__}")
        sections[str(name)] = {str(k): v for k, v in body.items()}
    for override in overrides:
        _apply_override(sections, override)
    for name, body in sections.items():
        allowed = _allowed_keys(name)
        for key in body:
            if key not in allowed:
                raise ConfigError(f"unknown key '{key}' in section {name}")
    config = TuningConfig(
        model=sections.get(MODEL_SECTION, {}),
        quantization=sections.get(QUANTIZATION_SECTION, {}),
        lora=sections.get(LORA_SECTION, {}),
        training=sections.get(TRAINING_SECTION, {}),
        dataset=_build_dataset_config(sections.get(DATASET_SECTION, {})),
        collator=sections.get(COLLATOR_SECTION, {}),
    )
    _validate_quantization(config, QUANTIZATION_SECTION in sections, method)
    output_dir = config.training.get("output_dir")
    if output_dir is not None and not isinstance(output_dir, str):
        raise ConfigError(f"{TRAINING_SECTION}.output_dir must be a string, not {output_dir!r}")
    return config


def resolve_output_dir(output_dir: str | Path, root: Path) -> Path:
    """Return ``output_dir`` as an absolute path that must lie strictly inside ``root``.

    A relative ``output_dir`` is taken relative to ``root``, as upstream joins it onto ``/mnt``.

    Raises:
        ConfigError: the folder is ``root`` itself or outside it (after normalising ``..``).
    """
    root_abs = Path(os.path.normpath(os.path.abspath(root)))
    candidate = Path(output_dir)
    joined = candidate if candidate.is_absolute() else root_abs / candidate
    resolved = Path(os.path.normpath(joined))
    if resolved == root_abs or root_abs not in resolved.parents:
        raise ConfigError(
            f"{TRAINING_SECTION}.output_dir '{output_dir}' must be a sub-directory of the allowed "
            f"root {root_abs} (change the root with --output-root or $KAITO_TUNING_OUTPUT_ROOT)"
        )
    return resolved


def _apply_override(sections: dict[str, dict[str, Any]], override: str) -> None:
    target, sep, raw_value = override.partition("=")
    section, dot, key = target.strip().partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"override '{override}' must look like Section.key=value")
    if section not in SECTIONS:
        raise ConfigError(f"Unrecognized section: {section} (in override '{override}')")
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{override}': value is not valid YAML") from exc
    sections.setdefault(section, {})[key] = value


def _build_dataset_config(body: dict[str, Any]) -> DatasetConfig:
    split = body.get("train_test_split", DatasetConfig.train_test_split)
    if isinstance(split, bool) or not isinstance(split, int | float) or not 0 < split <= 1:
        raise ConfigError(
            f"{DATASET_SECTION}.train_test_split must be a number in (0, 1], not {split!r}"
        )
    for flag in ("shuffle_dataset",):
        if flag in body and not isinstance(body[flag], bool):
            raise ConfigError(f"{DATASET_SECTION}.{flag} must be true or false, not {body[flag]!r}")
    seed = body.get("shuffle_seed", DatasetConfig.shuffle_seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{DATASET_SECTION}.shuffle_seed must be an integer, not {seed!r}")
    for name in ("dataset_path", "dataset_extension", "context_column", "messages_column"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ConfigError(f"{DATASET_SECTION}.{name} must be a string, not {body[name]!r}")
    if not isinstance(body.get("response_column", "text"), str):
        raise ConfigError(f"{DATASET_SECTION}.response_column must be a string")
    values = dict(body)
    values["train_test_split"] = float(split)
    return DatasetConfig(**values)


def _validate_quantization(config: TuningConfig, present: bool, method: str | None) -> None:
    quant = config.quantization
    for flag in ("load_in_4bit", "load_in_8bit"):
        value = quant.get(flag)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{QUANTIZATION_SECTION}.{flag} must be true or false, not {value!r}")
    if quant.get("load_in_4bit") and quant.get("load_in_8bit"):
        raise ConfigError(
            f"{QUANTIZATION_SECTION}: load_in_4bit and load_in_8bit cannot both be true"
        )
    if method is None:
        return
    if method not in METHODS:
        raise ConfigError(f"tuning method '{method}' is not one of {', '.join(METHODS)}")
    if method == METHOD_QLORA and not present:
        raise ConfigError(
            f"method qlora requires a {QUANTIZATION_SECTION} section with load_in_4bit or "
            "load_in_8bit set to true"
        )
    if method == METHOD_QLORA and not config.quantized:
        raise ConfigError(
            f"method qlora requires {QUANTIZATION_SECTION}.load_in_4bit or load_in_8bit to be true"
        )
    if method == METHOD_LORA and config.quantized:
        raise ConfigError(
            f"method lora cannot load the model quantized: set {QUANTIZATION_SECTION}.load_in_4bit "
            "and load_in_8bit to false, or use method qlora"
        )


def _allowed_keys(section: str) -> frozenset[str]:
    if section == MODEL_SECTION:
        return MODEL_KEYS
    if section == DATASET_SECTION:
        return DATASET_KEYS
    return _library_keys()[section]


@functools.cache
def _library_keys() -> dict[str, frozenset[str]]:
    """Field names of the library classes each section configures (imports them once)."""
    import peft
    import transformers
    import trl

    bnb_params = inspect.signature(transformers.BitsAndBytesConfig.__init__).parameters
    bnb = {
        name
        for name, p in bnb_params.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    bnb.add("quant_method")
    collator = {
        f.name for f in dataclasses.fields(transformers.DataCollatorForLanguageModeling)
    } - _COLLATOR_EXCLUDED
    sft_config = trl.SFTConfig
    return {
        QUANTIZATION_SECTION: frozenset(bnb),
        LORA_SECTION: frozenset(f.name for f in dataclasses.fields(peft.LoraConfig)),
        TRAINING_SECTION: frozenset(f.name for f in dataclasses.fields(sft_config)),
        COLLATOR_SECTION: frozenset(collator),
    }
