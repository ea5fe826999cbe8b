"""One fine-tuning run: config and data checks, model loading, LoRA/QLoRA training, resume, output.

This is what ``kaito-tune`` (and ``kaito run`` in local mode) calls. The order matters:

1. the config and every dataset row are validated before the model is loaded, so mistakes cost
   seconds, not a GPU start-up;
2. a previous run's newest complete checkpoint is picked up (``resuming from step N``), so a
   killed pod loses little work and finishes with the same number of steps;
3. training uses TRL's ``SFTTrainer`` with PEFT (with the plain LM head on small CPU batches,
   see ``trainer``); QLoRA loads the base model in 4-bit NF4 (or
   8-bit) with bitsandbytes, on CUDA or on CPU; the compute dtype follows the hardware (float32 on
   CPU, bfloat16 where the GPU supports it, else float16) whatever the config asks for;
4. the adapter is written into ``output_dir`` and only then the sentinel
   ``fine_tuning_completed.txt`` that the pusher sidecar waits for (reference §2.10).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import pickle
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kaito.runtime import host
from kaito.runtime.tuning import checkpoints, dataset, profiles, settings
from kaito.runtime.tuning.config import TuningConfig, load_config, resolve_output_dir
from kaito.runtime.tuning.errors import (
    ConfigError,
    DatasetError,
    ModelLoadError,
    TrainingInterruptedError,
    TuningError,
)
from kaito.runtime.tuning.metrics import ThroughputMeter, TuningMetrics, format_progress_line
from kaito.runtime.tuning.trainer import sft_trainer_class

logger = logging.getLogger(__name__)

SENTINEL_FILENAME = "fine_tuning_completed.txt"
ADAPTER_CONFIG_FILENAME = "adapter_config.json"
ADAPTER_WEIGHTS_FILENAME = "adapter_model.safetensors"
ADAPTER_FILES: tuple[str, ...] = (ADAPTER_CONFIG_FILENAME, ADAPTER_WEIGHTS_FILENAME)
# Upstream's code default when the config names no output_dir (reference §2.10).
DEFAULT_OUTPUT_SUBDIR = "output"
DEFAULT_LOGGING_STEPS = 10
DEFAULT_CHECKPOINT_SECONDS = 300.0
PROGRESS_AUTO = "auto"
PROGRESS_BAR = "bar"
PROGRESS_JSON = "json"
PROGRESS_NONE = "none"
PROGRESS_MODES: tuple[str, ...] = (PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_JSON, PROGRESS_NONE)
_ADAPTER_STAGING = ".kaito-adapter-staging"
_TOKENIZER_PREFIXES = ("tokenizer", "special_tokens_map", "chat_template", "added_tokens")
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


@dataclass(frozen=True)
class TuningResult:
    """What a run produced."""

    output_dir: Path
    adapter_files: tuple[Path, ...]
    method: str
    global_step: int
    """Total optimizer steps of the run, including steps done before a resume."""
    resumed_from_step: int | None = None
    already_completed: bool = False
    """The sentinel was already there: nothing was trained."""
    train_loss: float | None = None
    """Mean training loss over the steps this process ran."""
    last_loss: float | None = None
    """Loss at the last logging step."""
    tokens_seen: int = 0
    """Non-padding training tokens processed by this process."""
    train_seconds: float = 0.0
    """Wall-clock seconds spent in ``trainer.train`` by this process."""
    losses: tuple[tuple[int, float], ...] = field(default_factory=tuple)
    """``(step, loss)`` at every logging step of this process."""


def run_tuning(
    config_path: Path,
    data_dir: Path,
    model: str | None = None,
    output_dir: Path | None = None,
    options: TuningOptions | None = None,
) -> TuningResult:
    """Fine-tune ``model`` on the data in ``data_dir`` as ``config_path`` says.

    Args:
        config_path: upstream-format ``training_config.yaml``.
        data_dir: folder searched for dataset files (``DatasetConfig.dataset_path`` may narrow it).
        model: a model directory, GGUF file, preset name or hub id; default
            ``ModelConfig.pretrained_model_name_or_path`` (upstream: ``/workspace/tfs/weights``).
        output_dir: where the adapter goes; default ``TrainingArguments.output_dir``.
        options: runtime knobs (allowed root, metrics, checkpoints, progress).

    Raises:
        TuningError: a config, dataset or model problem (message names the culprit).
    """
    opts = options or TuningOptions()
    try:
        profile = profiles.check_profile(opts.profile)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    overrides = (*profiles.profile_overrides(profile), *opts.overrides)
    config = load_config(config_path, overrides=overrides, method=opts.method)
    target = output_dir or config.training.get("output_dir") or DEFAULT_OUTPUT_SUBDIR
    out = resolve_output_dir(target, opts.output_root)
    if opts.progress not in PROGRESS_MODES:
        raise ConfigError(f"progress mode '{opts.progress}' is not one of {PROGRESS_MODES}")

    sentinel = out / SENTINEL_FILENAME
    completed = opts.resume and sentinel.is_file()
    if completed and (problem := _adapter_problem(out)):
        logger.warning(
            "%s exists but the adapter in %s does not load (%s): training again",
            sentinel,
            out,
            problem,
        )
        completed = False
    if completed:
        logger.info("%s exists: fine-tuning already completed, nothing to do", sentinel)
        return TuningResult(
            output_dir=out,
            adapter_files=tuple(out / f for f in ADAPTER_FILES),
            method=config.method,
            global_step=_read_sentinel_step(sentinel),
            already_completed=True,
        )
    if not opts.resume:
        checkpoints.remove_checkpoints(out)
    sentinel.unlink(missing_ok=True)

    prepared = dataset.prepare_dataset(data_dir, config.dataset, opts.output_root)
    model_dir = _resolve_model(model or config.model.get("pretrained_model_name_or_path"))
    out.mkdir(parents=True, exist_ok=True)
    root = checkpoints.checkpoint_root(out)
    fingerprint = _run_fingerprint(config, prepared, model_dir)
    if checkpoints.read_fingerprint(root) not in (None, fingerprint):
        logger.info("checkpoints in %s belong to another configuration: starting over", root)
        checkpoints.remove_checkpoints(out)
    checkpoints.write_fingerprint(root, fingerprint)
    latest = checkpoints.usable_checkpoint(root)
    if latest and checkpoints.is_final(latest[1]):
        # Killed after the last step but before the adapter was written: training again would
        # run one step too many, so the adapter is taken from the final checkpoint instead.
        logger.info("resuming from step %d (%s): training already finished", *latest)
        return _finish_from_checkpoint(config, latest, out)
    return _train(config, prepared, model_dir, out, opts)


def _run_fingerprint(config: TuningConfig, prepared: dataset.PreparedDataset, model: Path) -> str:
    """Identify a run so that checkpoints of a different config, dataset or model are not reused."""
    identity = {
        "config": dataclasses.asdict(config),
        "files": [(str(p), p.stat().st_size) for p in prepared.files],
        "model": str(model),
    }
    encoded = json.dumps(identity, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def _finish_from_checkpoint(
    config: TuningConfig, latest: tuple[int, Path], out: Path
) -> TuningResult:
    step, folder = latest
    names = list(ADAPTER_FILES)
    if config.model.get("chat_template"):
        names += [p.name for p in folder.iterdir() if p.name.startswith(_TOKENIZER_PREFIXES)]
    written = []
    for name in names:
        source = folder / name
        if not source.is_file():
            raise TuningError(f"checkpoint {folder} lacks {name}")
        partial = out / f".{name}.tmp"
        shutil.copyfile(source, partial)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, out / name)
        written.append(out / name)
    _require_loadable_adapter(out)
    _write_sentinel(out, step)
    checkpoints.remove_checkpoints(out)
    return TuningResult(
        output_dir=out,
        adapter_files=tuple(written),
        method=config.method,
        global_step=step,
        resumed_from_step=step,
    )


def _train(
    config: TuningConfig,
    prepared: dataset.PreparedDataset,
    model_dir: Path,
    out: Path,
    opts: TuningOptions,
) -> TuningResult:
    import torch
    from transformers import PrinterCallback

    cuda = torch.cuda.is_available()
    if _progress_mode(opts) != PROGRESS_BAR:
        _quiet_library_progress_bars()
    tokenizer, template_changed = _load_tokenizer(config, model_dir)
    if prepared.kind == dataset.KIND_MESSAGES and not getattr(tokenizer, "chat_template", None):
        raise DatasetError(
            f"the dataset holds chat messages but the tokenizer of {model_dir} has no chat "
            "template; set ModelConfig.chat_template"
        )
    base = _load_model(config, model_dir, cuda)
    peft_model = _wrap_with_lora(config, base, opts)
    sft_config = _build_sft_config(config, out, opts, cuda)

    try:
        trainer = sft_trainer_class()(
            model=peft_model,
            args=sft_config,
            train_dataset=prepared.train,
            eval_dataset=prepared.eval,
            processing_class=tokenizer,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise TuningError(f"cannot prepare training: {exc}") from exc
    if _progress_mode(opts) != PROGRESS_BAR:
        trainer.remove_callback(PrinterCallback)

    root = checkpoints.checkpoint_root(out)
    saver = _make_checkpoint_callback(trainer, root, opts)
    metrics = TuningMetrics()
    reporter = _make_progress_callback(metrics, opts)
    trainer.add_callback(saver)
    trainer.add_callback(reporter)

    latest = checkpoints.usable_checkpoint(root)
    resumed_from = latest[0] if latest else None
    if latest:
        logger.info("resuming from step %d (%s)", latest[0], latest[1])
    metrics.serve(opts.metrics_port)
    started = time.monotonic()
    try:
        with _stop_on_sigterm(saver):
            output = trainer.train(resume_from_checkpoint=str(latest[1]) if latest else None)
    except (RuntimeError, ValueError, OSError, EOFError, KeyError, pickle.UnpicklingError) as exc:
        step = int(trainer.state.global_step)
        hint = f" (resuming from {latest[1]}; --no-resume starts afresh)" if latest else ""
        raise TuningError(f"training failed at step {step}: {exc}{hint}") from exc
    finally:
        metrics.close()
    train_seconds = time.monotonic() - started
    if saver.stop_requested:
        raise TrainingInterruptedError(
            f"stopped by SIGTERM at step {trainer.state.global_step}; a checkpoint was saved and "
            "the next start resumes from it"
        )

    global_step = int(trainer.state.global_step)
    files = _save_adapter(trainer, tokenizer if template_changed else None, out)
    _require_loadable_adapter(out)
    _write_sentinel(out, global_step)
    checkpoints.remove_checkpoints(out)
    losses = tuple(reporter.losses)
    return TuningResult(
        output_dir=out,
        adapter_files=files,
        method=config.method,
        global_step=global_step,
        resumed_from_step=resumed_from,
        train_loss=float(output.training_loss) if output.training_loss is not None else None,
        last_loss=losses[-1][1] if losses else None,
        tokens_seen=int(trainer.state.num_input_tokens_seen) - reporter.start_tokens,
        train_seconds=train_seconds,
        losses=losses,
    )


def _quiet_library_progress_bars() -> None:
    """Keep non-terminal logs to our JSON lines: no tqdm bars from datasets or transformers."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def _resolve_model(source: str | None) -> Path:
    from kaito.runtime import models

    name = source or settings.DEFAULT_MODEL_DIR
    try:
        return models.materialize_model(name)
    except models.ModelSourceError as exc:
        raise ModelLoadError(f"cannot use model '{name}': {exc}") from exc


def _torch_dtype(name: Any, cuda: bool) -> Any:
    """The dtype to compute in: float32 on CPU; on CUDA bf16 if supported, else fp16."""
    import torch

    requested = str(name or "auto").removeprefix("torch.").lower()
    if requested in {"float32", "fp32"} or not cuda:
        return torch.float32
    if requested in {"float16", "fp16", "half"}:
        return torch.float16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _load_tokenizer(config: TuningConfig, model_dir: Path) -> tuple[Any, bool]:
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


def _load_model(config: TuningConfig, model_dir: Path, cuda: bool) -> Any:
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = _torch_dtype(config.model.get("dtype") or config.model.get("torch_dtype"), cuda)
    kwargs: dict[str, Any] = {
        k: config.model[k] for k in _PASSTHROUGH_MODEL_KEYS if k in config.model
    }
    kwargs["dtype"] = dtype
    if cuda:
        kwargs["device_map"] = _device_map(config.model.get("device_map", "auto"))
    if config.quantized:
        quant = {k: v for k, v in config.quantization.items() if k != "quant_method"}
        if quant.get("load_in_4bit"):
            quant["bnb_4bit_compute_dtype"] = _torch_dtype(
                quant.get("bnb_4bit_compute_dtype"), cuda
            )
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


def _device_map(value: Any) -> Any:
    """``auto`` for one process; one device per rank under ``accelerate launch``."""
    from accelerate import PartialState

    state = PartialState()
    if state.num_processes > 1:
        return {"": state.process_index}
    return value


def _wrap_with_lora(config: TuningConfig, model: Any, opts: TuningOptions) -> Any:
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


def _build_sft_config(config: TuningConfig, out: Path, opts: TuningOptions, cuda: bool) -> Any:
    from trl import SFTConfig

    args = dict(config.training)
    args["output_dir"] = str(out)
    args.setdefault("report_to", "none")
    args.setdefault("logging_steps", DEFAULT_LOGGING_STEPS)
    args.setdefault("include_num_input_tokens_seen", "non_padding")
    args["disable_tqdm"] = _progress_mode(opts) != PROGRESS_BAR
    if args.get("push_to_hub"):
        raise ConfigError("TrainingArguments.push_to_hub is not supported: use kaito push")
    if not cuda:
        # On CPU the weights stay float32; fp16 is never used, and bf16 autocast only where the
        # CPU computes bf16 natively and the profile or the config asks (profiles module).
        cpu = host.host_cpu()
        args["fp16"] = False
        args["bf16"] = profiles.cpu_autocast_bf16(
            profiles.check_profile(opts.profile), config.training, cpu
        )
        if args["bf16"]:
            args["use_cpu"] = True  # transformers refuses bf16 without a GPU unless told so
        args.setdefault("dataloader_pin_memory", False)
        logger.info(
            "%s; computing in %s", cpu.describe(), "bf16 autocast" if args["bf16"] else "float32"
        )
    if config.collator.get("mlm"):
        logger.info("DataCollator.mlm is ignored: causal language models train without masking")
    pad_multiple = config.collator.get("pad_to_multiple_of")
    if pad_multiple is not None:
        args.setdefault("pad_to_multiple_of", pad_multiple)
    try:
        return SFTConfig(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"TrainingArguments: {exc}") from exc


def _progress_mode(opts: TuningOptions) -> str:
    if opts.progress != PROGRESS_AUTO:
        return opts.progress
    return PROGRESS_BAR if sys.stderr.isatty() else PROGRESS_JSON


def _make_checkpoint_callback(trainer: Any, root: Path, opts: TuningOptions) -> Any:
    from transformers import TrainerCallback

    class RollingCheckpoint(TrainerCallback):
        """Save a resumable checkpoint every N steps / T seconds and at the last step."""

        def __init__(self) -> None:
            self._last = time.monotonic()
            self.stop_requested = False

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = int(state.global_step)
            by_steps = bool(opts.checkpoint_steps) and step % (opts.checkpoint_steps or 1) == 0
            by_time = time.monotonic() - self._last >= opts.checkpoint_seconds
            if by_steps or by_time or step >= state.max_steps or self.stop_requested:
                _save_rolling_checkpoint(trainer, root, step)
                self._last = time.monotonic()
            if self.stop_requested:
                control.should_training_stop = True

    return RollingCheckpoint()


@contextlib.contextmanager
def _stop_on_sigterm(saver: Any) -> Iterator[None]:
    """On SIGTERM (pod eviction), checkpoint at the end of the current step and stop cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: Any) -> None:
        logger.warning("SIGTERM received: saving a checkpoint after the current step")
        saver.stop_requested = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _save_rolling_checkpoint(trainer: Any, root: Path, step: int) -> None:
    """Let the trainer write a full checkpoint into a staging folder, then commit it atomically."""
    staging = checkpoints.staging_dir(root, step)
    original = trainer.args.output_dir
    trainer.args.output_dir = str(staging)
    try:
        trainer._save_checkpoint(trainer.model, trial=None)
    finally:
        trainer.args.output_dir = original
    checkpoints.commit_checkpoint(staging / f"checkpoint-{step}", root, step)
    shutil.rmtree(staging, ignore_errors=True)


class _ProgressState:
    """Mutable state shared by the progress callback and the result."""

    def __init__(self) -> None:
        self.losses: list[tuple[int, float]] = []
        self.start_tokens = 0


def _make_progress_callback(metrics: TuningMetrics, opts: TuningOptions) -> Any:
    from transformers import TrainerCallback

    meter = ThroughputMeter()
    json_lines = _progress_mode(opts) == PROGRESS_JSON
    stream: Callable[[], TextIO] = lambda: opts.progress_stream or sys.stdout  # noqa: E731

    class ProgressReporter(TrainerCallback, _ProgressState):
        """Feed the meter and the gauges; print one JSON line per logging step."""

        def __init__(self) -> None:
            _ProgressState.__init__(self)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start_tokens = int(state.num_input_tokens_seen)
            meter.start(int(state.global_step), self.start_tokens)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            logs = logs or {}
            loss = logs.get("loss")
            if loss is None:
                return
            snap = meter.snapshot(
                step=int(state.global_step),
                total_steps=int(state.max_steps),
                epoch=float(state.epoch or 0.0),
                tokens_seen=int(state.num_input_tokens_seen),
                loss=loss,
                learning_rate=logs.get("learning_rate"),
            )
            self.losses.append((snap.step, float(loss)))
            metrics.record(snap)
            if json_lines:
                target = stream()
                target.write(format_progress_line(snap) + "\n")
                target.flush()

    return ProgressReporter()


def _save_adapter(trainer: Any, tokenizer: Any | None, out: Path) -> tuple[Path, ...]:
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


def _adapter_problem(out: Path) -> str | None:
    """Why the adapter in ``out`` does not load, or ``None`` once it was loaded completely.

    The config must be a JSON object and every tensor of the weights must load (safetensors,
    on the CPU): what a server does first with a pushed adapter.
    """
    for name in ADAPTER_FILES:
        if not (out / name).is_file():
            return f"{name} is missing"
    try:
        config = json.loads((out / ADAPTER_CONFIG_FILENAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        return f"{ADAPTER_CONFIG_FILENAME} is not JSON: {exc}"
    if not isinstance(config, dict):
        return f"{ADAPTER_CONFIG_FILENAME} is not a JSON object"
    weights = out / ADAPTER_WEIGHTS_FILENAME
    problem = checkpoints.safetensors_problem(weights)
    if problem:
        return f"{ADAPTER_WEIGHTS_FILENAME}: {problem}"
    try:
        from safetensors.torch import load_file

        tensors = load_file(str(weights), device="cpu")
    except Exception as exc:
        return f"{ADAPTER_WEIGHTS_FILENAME} does not load: {str(exc)[:200]}"
    if not tensors:
        return f"{ADAPTER_WEIGHTS_FILENAME} holds no tensors"
    return None


def _require_loadable_adapter(out: Path) -> None:
    """Load the adapter once before the run may be marked complete.

    Raises:
        TuningError: it does not load (no sentinel is written).
    """
    problem = _adapter_problem(out)
    if problem:
        raise TuningError(f"the adapter written to {out} does not load: {problem}")


def _write_sentinel(out: Path, step: int) -> None:
    path = out / SENTINEL_FILENAME
    tmp = out / f".{SENTINEL_FILENAME}.tmp"
    tmp.write_text(f"fine-tuning completed at step {step}\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_sentinel_step(path: Path) -> int:
    words = path.read_text(encoding="utf-8", errors="replace").split()
    return int(words[-1]) if words and words[-1].isdigit() else 0
