"""``kaito presets list|show|skus`` and ``kaito estimate``: the catalog and sizing, offline.

Users pick a preset and an instance type before writing a Workspace; these commands answer "which
models exist, what do they need, and how many nodes of this GPU would one take" with the same code
the operator runs (``kaito.presets``). Every command prints a table by default and a stable
camelCase schema with ``-o json`` or ``-o yaml``. Exit codes: 0 success, 1 unknown preset or
instance type or a model that does not fit, 2 bad usage.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
import yaml

from kaito.presets import catalog, engine_args, estimator, mig, parallelism, skus
from kaito.presets.errors import PresetError, UnknownInstanceTypeError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class OutputFormat(enum.StrEnum):
    """How a command prints its result."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


class CloudName(enum.StrEnum):
    """Clouds with a SKU table."""

    AZURE = "azure"
    AWS = "aws"
    ARC = "arc"


_OUTPUT_HELP = "Output format: table, json or yaml."

OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", case_sensitive=False, help=_OUTPUT_HELP),
]
CloudOption = Annotated[
    CloudName,
    typer.Option("--cloud", case_sensitive=False, help="Cloud whose SKU table to use."),
]


def register(app: typer.Typer) -> None:
    """Add ``kaito presets`` (list, show, skus) and ``kaito estimate`` to the main app."""
    presets_app = typer.Typer(
        name="presets",
        help="Browse the model catalog and the GPU instance types.",
        no_args_is_help=True,
    )

    @presets_app.command("list")
    def list_command(
        tuning: Annotated[
            bool, typer.Option("--tuning", help="Only presets that support LoRA/QLoRA tuning.")
        ] = False,
        include_deprecated: Annotated[
            bool, typer.Option("--all", help="Also list deprecated presets.")
        ] = False,
        output: OutputOption = OutputFormat.TABLE,
    ) -> None:
        """List the presets of the model catalog."""
        raise typer.Exit(run_list(tuning, include_deprecated, output))

    @presets_app.command("show")
    def show_command(
        name: Annotated[str, typer.Argument(help="Preset name or Hugging Face repo id.")],
        output: OutputOption = OutputFormat.TABLE,
    ) -> None:
        """Show everything kaito knows about one preset."""
        raise typer.Exit(run_show(name, output))

    @presets_app.command("skus")
    def skus_command(
        cloud: CloudOption = CloudName.AZURE,
        output: OutputOption = OutputFormat.TABLE,
    ) -> None:
        """List the GPU instance types of a cloud."""
        raise typer.Exit(run_skus(cloud.value, output))

    app.add_typer(presets_app)

    @app.command("estimate")
    def estimate_command(
        preset: Annotated[
            str, typer.Option("--preset", help="Preset name or Hugging Face repo id.")
        ],
        instance_type: Annotated[
            str | None,
            typer.Option("--instance-type", help="Instance type (SKU) of the GPU nodes."),
        ] = None,
        max_model_len: Annotated[
            int | None,
            typer.Option(
                "--max-model-len",
                min=1,
                help=f"Context length to size the KV cache for (default "
                f"{estimator.DEFAULT_MAX_MODEL_LEN}).",
            ),
        ] = None,
        cloud: CloudOption = CloudName.AZURE,
        gpus: Annotated[
            int | None,
            typer.Option(
                "--gpus", min=1, help="GPUs per node, for nodes not in the SKU table (BYO)."
            ),
        ] = None,
        gpu_memory_gib: Annotated[
            float | None,
            typer.Option(
                "--gpu-memory-gib", min=0.1, help="Memory of ONE GPU in GiB, with --gpus."
            ),
        ] = None,
        mig_profile: Annotated[
            str | None,
            typer.Option(
                "--mig-profile", help="Size for one MIG instance of this profile (e.g. 1g.10gb)."
            ),
        ] = None,
        output: OutputOption = OutputFormat.TABLE,
    ) -> None:
        """Estimate the nodes, GPUs and parallelism a preset needs on an instance type."""
        raise typer.Exit(
            run_estimate(
                preset,
                instance_type,
                max_model_len=max_model_len,
                cloud=cloud.value,
                gpus=gpus,
                gpu_memory_gib=gpu_memory_gib,
                mig_profile=mig_profile,
                output=output,
            )
        )


# ---- commands (parse done; print and choose the exit code) ----


def run_list(tuning: bool, include_deprecated: bool, output: OutputFormat) -> int:
    """Print the catalog; return the exit code."""
    models = catalog.list_models(tuning_only=tuning, include_deprecated=include_deprecated)
    if output is not OutputFormat.TABLE:
        _emit([spec.to_dict() for spec in models], output)
        return EXIT_OK
    rows = [
        [
            spec.name,
            _gib(spec.weights_gib),
            _count(spec.token_limit),
            ",".join(spec.to_dict()["runtimes"]),
            _gib(spec.tuning_memory_gib) if spec.supports_tuning else "-",
            ",".join(_flags(spec)) or "-",
        ]
        for spec in models
    ]
    typer.echo(_table(["NAME", "WEIGHTS", "CONTEXT", "RUNTIMES", "TUNING", "NOTES"], rows))
    return EXIT_OK


def run_show(name: str, output: OutputFormat) -> int:
    """Print one preset; return the exit code."""
    try:
        spec = catalog.get_model(name)
    except PresetError as error:
        return _fail(error)
    data = spec.to_dict()
    if output is not OutputFormat.TABLE:
        data["vllm"] = {
            "dtype": spec.vllm.dtype,
            "trustRemoteCode": spec.vllm.trust_remote_code,
            "loadFormat": spec.vllm.load_format,
            "configFormat": spec.vllm.config_format,
            "tokenizerMode": spec.vllm.tokenizer_mode,
            "toolCallParser": spec.vllm.tool_call_parser,
            "chatTemplate": spec.vllm.chat_template,
            "reasoningParser": spec.vllm.reasoning_parser,
        }
        _emit(data, output)
        return EXIT_OK
    pairs = [
        ("Name", spec.name),
        ("Hugging Face repo", f"{spec.hf_repo} ({spec.hf_url})"),
        ("Aliases", ", ".join(spec.aliases) or "-"),
        ("Weights", _gib(spec.weights_gib)),
        ("Disk", f"{spec.disk_gib} GiB"),
        ("Architectures", ", ".join(spec.architectures) or "unknown"),
        ("Context length", _count(spec.token_limit)),
        (
            "KV cache per token",
            "unknown" if spec.bytes_per_token is None else f"{spec.bytes_per_token} bytes",
        ),
        ("Runtimes", ", ".join(data["runtimes"])),
        ("Multi-node", _yes(spec.supports_distributed)),
        (
            "Tuning",
            f"yes ({_gib(spec.tuning_memory_gib)} GPU memory)" if spec.supports_tuning else "no",
        ),
        ("Gated (needs HF_TOKEN)", _yes(spec.gated)),
        ("Quantization", spec.quant_method or "-"),
        ("License", spec.license or "-"),
        ("vLLM dtype", spec.vllm.dtype),
        ("Tool-call parser", spec.vllm.tool_call_parser or "-"),
        ("Reasoning parser", spec.vllm.reasoning_parser or "-"),
        ("Readiness timeout", f"{spec.readiness_timeout_s // 60} min"),
    ]
    if spec.local_file is not None:
        pairs.append(("Local file", f"{spec.local_file[1]} (Python package {spec.local_file[0]})"))
    if spec.best_effort:
        pairs.append(("Note", "not in the catalog: served best effort with vLLM, size unknown"))
    typer.echo(_pairs(pairs))
    return EXIT_OK


def run_skus(cloud: str, output: OutputFormat) -> int:
    """Print a cloud's SKU table; return the exit code."""
    configs = skus.list_skus(cloud)
    if output is not OutputFormat.TABLE:
        _emit([config.to_dict() for config in configs], output)
        return EXIT_OK
    rows = [
        [
            config.sku,
            str(config.gpu_count),
            config.gpu_model,
            _gib(config.total_memory_gib),
            _gib(config.per_gpu_memory_gib),
            _cc(config),
            _yes(config.supports_bf16),
            _yes(config.nvme),
            "legacy" if config.legacy else "",
        ]
        for config in configs
    ]
    headers = ["SKU", "GPUS", "GPU", "MEMORY", "PER GPU", "CC", "BF16", "NVME", "NOTES"]
    typer.echo(_table(headers, rows))
    return EXIT_OK


def run_estimate(
    preset: str,
    instance_type: str | None,
    *,
    max_model_len: int | None,
    cloud: str,
    gpus: int | None,
    gpu_memory_gib: float | None,
    output: OutputFormat,
    mig_profile: str | None = None,
) -> int:
    """Estimate and print; return the exit code."""
    try:
        gpu_source = _gpu_source(instance_type, gpus, gpu_memory_gib)
    except _UsageError as error:
        return _usage(str(error))
    try:
        model = catalog.get_model(preset)
        gpu = (
            gpu_source
            if isinstance(gpu_source, skus.GPUConfig)
            else _require_sku(gpu_source, cloud)
        )
        if mig_profile is not None:
            gpu = _mig_slice(gpu, mig_profile)
        length = estimator.DEFAULT_MAX_MODEL_LEN if max_model_len is None else max_model_len
        estimate = estimator.estimate_nodes(model, gpu, length)
    except PresetError as error:
        return _fail(error)
    plan = parallelism.plan_parallelism(model, gpu, estimate.nodes)
    flags = engine_args.build_vllm_args(
        model,
        gpu,
        estimate.nodes,
        served_model_name=model.name,
        max_model_len=max_model_len,
        parallelism=plan,
    )
    if output is not OutputFormat.TABLE:
        data = {
            **estimate.to_dict(),
            **plan.to_dict(),
            "cloud": cloud,
            "gpu": gpu.to_dict(),
            "vllmArgs": flags,
        }
        _emit(data, output)
        return EXIT_OK
    typer.echo(_estimate_text(model, gpu, cloud, estimate, plan, flags))
    return EXIT_OK


def _mig_slice(gpu: skus.GPUConfig, name: str) -> skus.GPUConfig:
    profile = mig.get_mig_profile(name)
    if profile is None:
        known = ", ".join(entry.name for entry in mig.list_mig_profiles())
        raise PresetError(f'unknown MIG profile "{name}"; known profiles: {known}')
    return mig.mig_gpu_config(gpu, profile)


class _UsageError(Exception):
    """The command line is contradictory or incomplete (exit 2)."""


def _gpu_source(
    instance_type: str | None, gpus: int | None, gpu_memory_gib: float | None
) -> str | skus.GPUConfig:
    """The instance type to look up, or the GPUs described on the command line."""
    if gpus is None and gpu_memory_gib is None:
        if instance_type is None:
            raise _UsageError(
                "missing --instance-type (or --gpus with --gpu-memory-gib for BYO nodes)"
            )
        return instance_type
    if instance_type is not None:
        raise _UsageError("give either --instance-type or --gpus with --gpu-memory-gib, not both")
    if gpus is None or gpu_memory_gib is None:
        raise _UsageError("--gpus and --gpu-memory-gib go together")
    return skus.GPUConfig(
        sku=f"{gpus}x{gpu_memory_gib:g}GiB",
        gpu_count=gpus,
        total_memory_gib=gpus * gpu_memory_gib,
        gpu_model="custom",
    )


def _require_sku(instance_type: str, cloud: str) -> skus.GPUConfig:
    try:
        return skus.require_sku(instance_type, cloud)
    except UnknownInstanceTypeError as error:
        if cloud == "azure" and skus.is_accepted_unknown_azure_sku(instance_type):
            raise PresetError(
                f"{error}. Azure admits {instance_type} but its GPUs are unknown to kaito; "
                "describe them with --gpus and --gpu-memory-gib"
            ) from error
        raise


def _estimate_text(
    model: catalog.ModelSpec,
    gpu: skus.GPUConfig,
    cloud: str,
    estimate: estimator.NodeEstimate,
    plan: parallelism.Parallelism,
    flags: Sequence[str],
) -> str:
    backend = f" over {plan.distributed_backend}" if plan.distributed_backend else ""
    head = _pairs(
        [
            ("Preset", f"{model.name} ({model.hf_repo})"),
            (
                "Instance type",
                f"{gpu.sku}: {gpu.gpu_count} x {gpu.gpu_model}, {_gib(gpu.total_memory_gib)} "
                f"({cloud})",
            ),
            ("Nodes", str(estimate.nodes)),
            ("GPUs per node", str(estimate.gpus_per_node)),
            ("GPUs needed", str(estimate.min_gpus)),
            (
                "Parallelism",
                f"tensor {plan.tensor}, pipeline {plan.pipeline}, data {plan.data}{backend}",
            ),
            ("Max model len", str(estimate.max_model_len)),
        ]
    )
    memory = _pairs(
        [
            ("GPU memory", _gib(estimate.per_gpu_memory_gib)),
            (f"usable (x{estimator.USABLE_MEMORY_FRACTION})", _gib(estimate.usable_per_gpu_gib)),
            ("runtime overhead", _gib(estimate.runtime_overhead_gib)),
            ("KV cache", _gib(estimate.kv_cache_per_gpu_gib)),
            ("left for weights", _gib(estimate.weights_budget_per_gpu_gib)),
            ("weights held", _gib(estimate.weights_per_gpu_gib)),
        ],
        indent="  ",
    )
    lines = [
        head,
        "",
        "Memory per GPU:",
        memory,
        "",
        f"Model weights: {_gib(estimate.weights_gib)}",
    ]
    lines += [f"Note: {note}" for note in estimate.notes]
    lines += ["", "vLLM flags:", *(f"  {flag}" for flag in flags)]
    return "\n".join(lines)


# ---- printing helpers ----


def _emit(data: Any, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip("\n"))


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return EXIT_FAILURE


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def _pairs(pairs: Sequence[tuple[str, str]], indent: str = "") -> str:
    width = max(len(key) for key, _ in pairs) + 1
    return "\n".join(f"{indent}{(key + ':').ljust(width)} {value}" for key, value in pairs)


def _gib(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f} GiB"


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _cc(config: skus.GPUConfig) -> str:
    cc = config.compute_capability
    return "-" if cc is None else f"{cc[0]}.{cc[1]}"


def _flags(spec: catalog.ModelSpec) -> list[str]:
    flags = []
    if spec.gated:
        flags.append("gated")
    if spec.local_file is not None:
        flags.append("local")
    if spec.legacy_only:
        flags.append("legacy")
    if spec.deprecated:
        flags.append("deprecated")
    if spec.quant_method:
        flags.append(spec.quant_method)
    return flags
