"""Loading the base model and tokenizer for a tuning run, and wrapping the model with LoRA.

Split from :mod:`kaito.runtime.tuning.training` so that the run's order (validate, resume, train,
write) reads in one module and the library details of loading (dtype per device, 4/8-bit QLoRA,
device maps, keys passed through to ``from_pretrained``) in another.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kaito.runtime.tuning import cpu_lora, profiles, settings
from kaito.runtime.tuning.config import TuningConfig
from kaito.runtime.tuning.errors import (
    ConfigError,
    ModelLoadError,
)
from kaito.runtime.tuning.options import (
    TuningOptions,
)

logger = logging.getLogger(__name__)

# ModelConfig keys passed straight to ``from_pretrained``.
_PASSTHROUGH_MODEL_KEYS = (
    "revision",
    "trust_remote_code",
    "local_files_only",
    "cache_dir",
    "attn_implementation",
    "force_download",
    "proxies",
)


def quiet_library_progress_bars() -> None:
    """Keep non-terminal logs to our JSON lines: no tqdm bars from datasets or transformers."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def resolve_model(source: str | None) -> Path:
    """The local folder of the base model named by ``source`` (a path or a packaged model)."""
    from kaito.runtime import models

    name = source or settings.DEFAULT_MODEL_DIR
    try:
        return models.materialize_model(name)
    except models.ModelSourceError as exc:
        raise ModelLoadError(f"cannot use model '{name}': {exc}") from exc


def torch_dtype(name: Any, cuda: bool, cpu_bf16: bool = False) -> Any:
    """The dtype to compute in.

    On CPU float32, or bf16 where ``cpu_bf16`` (``profiles.cpu_precision`` decided it); on CUDA
    bf16 if supported, else fp16, unless float32 is asked for.
    """
    import torch

    requested = profiles.dtype_name(name)
    if not cuda:
        return torch.bfloat16 if cpu_bf16 else torch.float32
    if requested in {"float32", "fp32"}:
        return torch.float32
    if requested in {"float16", "fp16", "half"}:
        return torch.float16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def load_tokenizer(config: TuningConfig, model_dir: Path) -> tuple[Any, bool]:
    """The tokenizer, and whether the config replaced its chat template."""
    from transformers import AutoTokenizer

    kwargs = {k: config.model[k] for k in ("revision", "trust_remote_code") if k in config.model}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load the tokenizer from {model_dir}: {exc}") from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = config.model.get("chat_template")
    changed = False
    if template:
        path = Path(str(template))
        tokenizer.chat_template = (
            path.read_text(encoding="utf-8") if path.is_file() else str(template)
        )
        changed = True
    return tokenizer, changed


def load_model(config: TuningConfig, model_dir: Path, cuda: bool, cpu_bf16: bool = False) -> Any:
    """The base model in the dtype the device supports, quantized for QLoRA when asked.

    ``cpu_bf16``: bf16 weights on CPU; attention then computes in float32
    (``cpu_lora.FLOAT32_ATTENTION``) unless the config names an implementation.
    """
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    cpu_bf16 = cpu_bf16 and not cuda
    dtype = torch_dtype(
        config.model.get("dtype") or config.model.get("torch_dtype"), cuda, cpu_bf16
    )
    kwargs: dict[str, Any] = {
        k: config.model[k] for k in _PASSTHROUGH_MODEL_KEYS if k in config.model
    }
    kwargs["dtype"] = dtype
    if cpu_bf16:
        kwargs.setdefault("attn_implementation", cpu_lora.register_float32_attention())
    if cuda:
        kwargs["device_map"] = device_map(config.model.get("device_map", "auto"))
    if config.quantized:
        quant = {k: v for k, v in config.quantization.items() if k != "quant_method"}
        if quant.get("load_in_4bit"):
            quant["bnb_4bit_compute_dtype"] = torch_dtype(quant.get("bnb_4bit_compute_dtype"), cuda)
        try:
            kwargs["quantization_config"] = BitsAndBytesConfig(**quant)  # type: ignore[no-untyped-call]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"QuantizationConfig: {exc}") from exc
    logger.info("loading %s (%s, %s)", model_dir, config.method, str(dtype).removeprefix("torch."))
    try:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise ModelLoadError(f"cannot load the model from {model_dir}: {exc}") from exc
    model.config.use_cache = False
    return model


def device_map(value: Any) -> Any:
    """``auto`` for one process; one device per rank under ``accelerate launch``."""
    from accelerate import PartialState

    state = PartialState()
    if state.num_processes > 1:
        return {"": state.process_index}
    return value


def wrap_with_lora(config: TuningConfig, model: Any, opts: TuningOptions) -> Any:
    """The model with the config's LoRA adapter attached (every linear layer when none named)."""
    import peft

    lora = dict(config.lora)
    if not lora.get("target_modules"):
        lora["target_modules"] = list(opts.default_target_modules) or "all-linear"
    lora.setdefault("task_type", "CAUSAL_LM")
    try:
        lora_config = peft.LoraConfig(**lora)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"LoraConfig: {exc}") from exc
    if config.quantized:
        model = peft.prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            model,
            use_gradient_checkpointing=bool(config.training.get("gradient_checkpointing", False)),
        )
    try:
        return peft.get_peft_model(model, lora_config)
    except ValueError as exc:
        raise ConfigError(f"LoraConfig.target_modules {lora['target_modules']!r}: {exc}") from exc
