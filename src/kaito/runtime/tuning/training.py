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

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaito.api.constants import ADAPTER_FILES as ADAPTER_FILES
from kaito.api.constants import TUNING_SENTINEL_FILE as SENTINEL_FILENAME
from kaito.runtime import host
from kaito.runtime.tuning import (
    activation_memory,
    adapter_output,
    callbacks,
    checkpoints,
    compiled_layers,
    cpu_lora,
    dataset,
    model_loading,
    profiles,
)
from kaito.runtime.tuning.config import TuningConfig, load_config, resolve_output_dir
from kaito.runtime.tuning.errors import (
    ConfigError,
    DatasetError,
    TrainingInterruptedError,
    TuningError,
)
from kaito.runtime.tuning.metrics import TuningMetrics
from kaito.runtime.tuning.options import (
    DEFAULT_LOGGING_STEPS,
    DEFAULT_OUTPUT_SUBDIR,
    PROGRESS_BAR,
    PROGRESS_MODES,
    TuningOptions,
)
from kaito.runtime.tuning.trainer import sft_trainer_class

logger = logging.getLogger(__name__)


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
        compiled_layers.check_mode(opts.compile)
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
    if completed and (problem := adapter_output.adapter_problem(out)):
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
            global_step=adapter_output.read_sentinel_step(sentinel),
            already_completed=True,
        )
    if not opts.resume:
        checkpoints.remove_checkpoints(out)
    sentinel.unlink(missing_ok=True)

    prepared = dataset.prepare_dataset(data_dir, config.dataset, opts.output_root)
    model_dir = model_loading.resolve_model(
        model or config.model.get("pretrained_model_name_or_path")
    )
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
        names += [
            p.name for p in folder.iterdir() if p.name.startswith(adapter_output.TOKENIZER_PREFIXES)
        ]
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
    adapter_output.require_loadable_adapter(out)
    adapter_output.write_sentinel(out, step)
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
    if callbacks.progress_mode(opts) != PROGRESS_BAR:
        model_loading.quiet_library_progress_bars()
    tokenizer, template_changed = model_loading.load_tokenizer(config, model_dir)
    if prepared.kind == dataset.KIND_MESSAGES and not getattr(tokenizer, "chat_template", None):
        raise DatasetError(
            f"the dataset holds chat messages but the tokenizer of {model_dir} has no chat "
            "template; set ModelConfig.chat_template"
        )
    precision = None if cuda else _cpu_precision(config, opts)
    cpu_bf16 = precision == "bfloat16"  # never for QLoRA (_cpu_precision)
    base = model_loading.load_model(config, model_dir, cuda, cpu_bf16)
    peft_model = model_loading.wrap_with_lora(config, base, opts)
    if cpu_bf16:
        cpu_lora.accelerate(peft_model)
    checkpointing = (
        None
        if cuda
        else activation_memory.cpu_checkpointing(
            config.training,
            prepared.train,
            tokenizer,
            base,
            extra_weight_bytes=cpu_lora.packed_bytes(peft_model),
        )
    )
    sft_config = _build_sft_config(
        config, out, opts, cuda, checkpointing, autocast=precision == "bf16-autocast"
    )
    # Not under autocast: compiled graphs were measured with bf16 or float32 weights only.
    compiling = precision in {"bfloat16", "float32"} and _compile_layers(
        prepared, opts, sft_config, peft_model
    )

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
    if callbacks.progress_mode(opts) != PROGRESS_BAR:
        trainer.remove_callback(PrinterCallback)

    root = checkpoints.checkpoint_root(out)
    saver = callbacks.make_checkpoint_callback(trainer, root, opts)
    metrics = TuningMetrics()
    reporter = callbacks.make_progress_callback(metrics, opts)
    trainer.add_callback(saver)
    trainer.add_callback(reporter)
    if compiling:
        # After the reporter: the compiling is part of the timed training.
        trainer.add_callback(callbacks.make_compile_callback(trainer))

    latest = checkpoints.usable_checkpoint(root)
    resumed_from = latest[0] if latest else None
    if latest:
        logger.info("resuming from step %d (%s)", latest[0], latest[1])
    metrics.serve(opts.metrics_port)
    started = time.monotonic()
    try:
        with callbacks.stop_on_sigterm(saver):
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
    files = adapter_output.save_adapter(trainer, tokenizer if template_changed else None, out)
    adapter_output.require_loadable_adapter(out)
    adapter_output.write_sentinel(out, global_step)
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


def _compile_layers(
    prepared: dataset.PreparedDataset,
    opts: TuningOptions,
    sft_config: Any,
    model: Any,
) -> bool:
    """Whether this CPU run compiles its decoder layers (``compiled_layers``); prepares it.

    Not with gradient checkpointing (it re-runs layers inside autograd's backward).
    """
    mode = compiled_layers.check_mode(opts.compile)
    rows = compiled_layers.planned_rows(sft_config, len(prepared.train))
    if sft_config.gradient_checkpointing or not compiled_layers.wanted(mode, rows):
        if mode != "off":
            logger.info(
                "decoder layers not compiled: %s",
                "gradient checkpointing is on"
                if sft_config.gradient_checkpointing
                else f"{rows} training rows planned, compiling pays from "
                f"{compiled_layers.AUTO_MIN_ROWS} (--compile on forces it)",
            )
        return False
    layers = compiled_layers.prepare(model)
    if not layers:
        logger.info("decoder layers not compiled: no decoder layer or LoRA linear qualifies")
    return layers > 0


def _cpu_precision(config: TuningConfig, opts: TuningOptions) -> profiles.CpuPrecision:
    """The CPU run's precision (``profiles.cpu_precision``), logged with the CPU."""
    cpu = host.host_cpu()
    profile = profiles.check_profile(opts.profile)
    precision = profiles.cpu_precision(profile, config.model, config.training, cpu)
    if config.quantized and precision == "bfloat16":
        precision = "float32"  # QLoRA keeps its float32 compute dtype on CPU
    described = {
        "float32": "float32",
        "bfloat16": "bf16 weights",
        "bf16-autocast": "bf16 autocast",
    }
    logger.info("%s; computing in %s", cpu.describe(), described[precision])
    return precision


def _build_sft_config(
    config: TuningConfig,
    out: Path,
    opts: TuningOptions,
    cuda: bool,
    checkpointing: bool | None = None,
    autocast: bool = False,
) -> Any:
    """TRL's config from the file's TrainingArguments and what the device and profile decide.

    ``checkpointing`` is the gradient-checkpointing choice made for a CPU run whose config does
    not set it (None: TRL's default); ``autocast``: bf16 autocast over float32 weights on CPU
    (``profiles.cpu_precision``).
    """
    from trl import SFTConfig

    args = dict(config.training)
    if checkpointing is not None:
        args[activation_memory.checkpointing_key()] = checkpointing
    args["output_dir"] = str(out)
    args.setdefault("report_to", "none")
    args.setdefault("logging_steps", DEFAULT_LOGGING_STEPS)
    args.setdefault("include_num_input_tokens_seen", "non_padding")
    args["disable_tqdm"] = callbacks.progress_mode(opts) != PROGRESS_BAR
    if args.get("push_to_hub"):
        raise ConfigError("TrainingArguments.push_to_hub is not supported: use kaito push")
    if not cuda:
        # On CPU fp16 is never used; bf16 weights need no autocast (the weights' dtype was chosen
        # at load, profiles.cpu_precision), float32 weights get it only where the config asks.
        args["fp16"] = False
        args["bf16"] = autocast
        if autocast:
            args["use_cpu"] = True  # transformers refuses bf16 without a GPU unless told so
        args.setdefault("dataloader_pin_memory", False)
    if config.collator.get("mlm"):
        logger.info("DataCollator.mlm is ignored: causal language models train without masking")
    pad_multiple = config.collator.get("pad_to_multiple_of")
    if pad_multiple is not None:
        args.setdefault("pad_to_multiple_of", pad_multiple)
    try:
        return SFTConfig(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"TrainingArguments: {exc}") from exc
