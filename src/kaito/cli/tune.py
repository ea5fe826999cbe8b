"""``kaito-tune`` / ``kaito tune``: fine-tune a model with LoRA or QLoRA.

Every input can come from a flag or from the environment variables an upstream tuning pod sets
(``YAML_FILE_PATH``, ``DATASET_FOLDER_PATH``), so the same image runs with or without arguments.
The work happens in :mod:`kaito.runtime.tuning`; this module parses, prints and maps errors to
exit codes (0 done, 1 invalid config/dataset or failed training, 2 unreadable input).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from kaito.runtime.tuning import settings
from kaito.runtime.tuning.compiled_layers import AUTO_MIN_ROWS

_HELP = (
    "Fine-tune a model with LoRA or QLoRA from an upstream-format training_config.yaml.\n\n"
    "Writes adapter_config.json and adapter_model.safetensors into the output folder, then "
    "fine_tuning_completed.txt. A killed run started again resumes from its newest checkpoint."
)


def tune(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            envvar=settings.CONFIG_PATH_ENV,
            help="training_config.yaml (sections ModelConfig, QuantizationConfig, LoraConfig, "
            "TrainingArguments, DatasetConfig, DataCollator).",
        ),
    ] = settings.DEFAULT_CONFIG_PATH,
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            "-d",
            envvar=settings.DATA_DIR_ENV,
            help="Folder searched for parquet, jsonl, json, csv or arrow files.",
        ),
    ] = settings.DEFAULT_DATA_DIR,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model directory, GGUF file, preset name or hub id "
            "(default: ModelConfig.pretrained_model_name_or_path, else /workspace/tfs/weights).",
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Where the adapter goes (default: TrainingArguments.output_dir); must be inside "
            "--output-root.",
        ),
    ] = None,
    output_root: Annotated[
        Path,
        typer.Option(
            "--output-root",
            envvar=settings.OUTPUT_ROOT_ENV,
            help="The folder output_dir must lie in (upstream: /mnt).",
        ),
    ] = settings.DEFAULT_OUTPUT_ROOT,
    method: Annotated[
        str | None,
        typer.Option("--method", help="lora or qlora; the QuantizationConfig section must agree."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a config value, e.g. --set TrainingArguments.max_steps=100 (repeatable; "
            "values are YAML).",
        ),
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            "--metrics-port",
            envvar=settings.METRICS_PORT_ENV,
            help="Serve Prometheus metrics on this port; 0 disables.",
        ),
    ] = settings.DEFAULT_METRICS_PORT,
    checkpoint_steps: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-steps", min=1, help="Save the rolling checkpoint every N steps."
        ),
    ] = None,
    checkpoint_seconds: Annotated[
        float,
        typer.Option(
            "--checkpoint-seconds",
            min=1.0,
            help="Save the rolling checkpoint at least this often (seconds).",
        ),
    ] = 300.0,
    no_resume: Annotated[
        bool,
        typer.Option("--no-resume", help="Discard earlier checkpoints and start from step 0."),
    ] = False,
    progress: Annotated[
        str,
        typer.Option(
            "--progress",
            help="auto (bar on a terminal, JSON lines otherwise), bar, json or none.",
        ),
    ] = "auto",
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="default: the config as written; on CPU its torch_dtype bfloat16 is followed "
            "where the CPU computes bf16 natively (AVX512-BF16, AMX; losses differ in the "
            "2nd-3rd digit from float32), float32 elsewhere. fast: padding-free batches of 8, "
            "learning rate 6e-4, no gradient checkpointing (about twice the peak memory), and bf16 "
            "weights wherever bf16 is native; --set values still win (e.g. "
            "ModelConfig.torch_dtype=float32 for float32).",
        ),
    ] = "default",
    compile_layers: Annotated[
        str,
        typer.Option(
            "--compile",
            envvar=settings.COMPILE_ENV,
            help="Compile the decoder layers of a CPU run with bf16 or float32 weights "
            "(torch.compile): each step about 0.66x the time for SmolLM2-135M on two AMX cores in "
            "bf16 (0.85x in float32 under AVX2 emulation), after 11-21 s of compiling at the "
            "start (about 4 s when inductor's cache has the code). "
            f"auto (default): when the run trains at least {AUTO_MIN_ROWS} rows (epochs "
            "counted); on; off.",
        ),
    ] = "auto",
) -> None:
    """Fine-tune a model with LoRA or QLoRA (see --help for every input)."""
    from kaito.runtime.tuning import TuningError, TuningOptions, run_tuning

    _configure_logging()
    env = settings.load_tuning_settings()
    options = TuningOptions(
        output_root=output_root,
        overrides=tuple(overrides or ()),
        method=method,
        metrics_port=metrics_port,
        checkpoint_steps=checkpoint_steps,
        checkpoint_seconds=checkpoint_seconds,
        resume=not no_resume,
        progress=progress,
        default_target_modules=env.default_target_modules,
        profile=profile,
        compile=compile_layers,
    )
    try:
        result = run_tuning(config, data_dir, model, output_dir, options)
    except TuningError as exc:
        print(f"kaito-tune: error: {exc}", file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    summary = {
        "event": "completed",
        "output_dir": str(result.output_dir),
        "method": result.method,
        "global_step": result.global_step,
        "resumed_from_step": result.resumed_from_step,
        "already_completed": result.already_completed,
        "train_loss": result.train_loss,
        "files": [p.name for p in result.adapter_files],
    }
    print(json.dumps(summary, separators=(",", ":")), flush=True)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def register(app: typer.Typer) -> None:
    """Add ``kaito tune`` to the main app."""
    app.command("tune", help=_HELP)(tune)


def main() -> None:
    """Console-script entry point for ``kaito-tune``."""
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    standalone.command(help=_HELP)(tune)
    standalone(prog_name="kaito-tune")
