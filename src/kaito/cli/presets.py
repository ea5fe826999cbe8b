"""``kaito presets list|show|schema|skus`` and ``kaito estimate``: the catalog and sizing, offline.

Users pick a preset and an instance type before writing a Workspace; these commands answer "which
models exist, what do they need, and how many nodes of this GPU would one take" with the same code
the operator runs (``kaito.presets``). Every command prints a table by default and camelCase JSON
or YAML with ``-o json`` or ``-o yaml``. For presets that is ``ModelSpec``'s own dump, and
``kaito presets schema`` prints the JSON Schema generated from the same model, so this module
restates no catalog key. Exit codes: 0 success, 1 unknown preset or instance type or a model that
does not fit, 2 bad usage.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from kaito.cli import output as out
from kaito.cli.output import CloudName
from kaito.presets import catalog, estimator, sizing, skus
from kaito.presets.errors import PresetError


class OutputFormat(enum.StrEnum):
    """How a command prints its result."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


class SchemaFormat(enum.StrEnum):
    """How ``kaito presets schema`` prints the schema (it has no table form)."""

    JSON = "json"
    YAML = "yaml"


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
    """Add ``kaito presets`` (list, show, schema, skus) and ``kaito estimate`` to the main app."""
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

    @presets_app.command("schema")
    def schema_command(
        output: Annotated[
            SchemaFormat,
            typer.Option("--output", "-o", case_sensitive=False, help="json or yaml."),
        ] = SchemaFormat.JSON,
    ) -> None:
        """Print the JSON Schema of a catalog entry as 'presets list|show -o json' print it."""
        raise typer.Exit(run_schema(output))

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
        cloud: Annotated[
            CloudName | None,
            typer.Option(
                "--cloud",
                case_sensitive=False,
                help="Cloud whose SKU table to use (default: the one cloud listing the "
                "instance type, else azure).",
            ),
        ] = None,
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
                cloud=cloud.value if cloud is not None else None,
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
        out.emit([spec.to_dict() for spec in models], output.value)
        return out.EXIT_OK
    rows = [
        [
            spec.name,
            out.gib(spec.weights_gib),
            _count(spec.token_limit),
            ",".join(spec.runtimes),
            out.gib(spec.tuning_memory_gib) if spec.supports_tuning else "-",
            ",".join(_flags(spec)) or "-",
        ]
        for spec in models
    ]
    typer.echo(out.table(["NAME", "WEIGHTS", "CONTEXT", "RUNTIMES", "TUNING", "NOTES"], rows))
    return out.EXIT_OK


def run_show(name: str, output: OutputFormat) -> int:
    """Print one preset; return the exit code."""
    try:
        spec = catalog.get_model(name)
    except PresetError as error:
        return out.fail(error)
    if output is not OutputFormat.TABLE:
        out.emit(spec.to_dict(), output.value)
        return out.EXIT_OK
    pairs = [
        ("Name", spec.name),
        ("Hugging Face repo", f"{spec.hf_repo} ({spec.hf_url})"),
        ("Aliases", ", ".join(spec.aliases) or "-"),
        ("Weights", out.gib(spec.weights_gib)),
        ("Disk", f"{spec.disk_gib} GiB"),
        ("Architectures", ", ".join(spec.architectures) or "unknown"),
        ("Context length", _count(spec.token_limit)),
        (
            "KV cache per token",
            "unknown" if spec.bytes_per_token is None else f"{spec.bytes_per_token} bytes",
        ),
        ("Runtimes", ", ".join(spec.runtimes)),
        ("Multi-node", out.yes(spec.supports_distributed)),
        (
            "Tuning",
            f"yes ({out.gib(spec.tuning_memory_gib)} GPU memory)" if spec.supports_tuning else "no",
        ),
        ("Gated (needs HF_TOKEN)", out.yes(spec.gated)),
        ("Quantization", spec.quant_method or "-"),
        ("License", spec.license or "-"),
        ("vLLM dtype", spec.vllm.dtype),
        ("Tool-call parser", spec.vllm.tool_call_parser or "-"),
        ("Reasoning parser", spec.vllm.reasoning_parser or "-"),
        ("Readiness timeout", f"{spec.readiness_timeout_seconds // 60} min"),
    ]
    if spec.local_file is not None:
        pairs.append(("Local file", f"{spec.local_file[1]} (Python package {spec.local_file[0]})"))
    if spec.best_effort:
        pairs.append(("Note", "not in the catalog: served best effort with vLLM, size unknown"))
    typer.echo(out.pairs(pairs))
    return out.EXIT_OK


def run_schema(output: SchemaFormat) -> int:
    """Print the catalog entry's JSON Schema, generated from ``ModelSpec``; return the exit code."""
    out.emit(catalog.ModelSpec.json_schema(), output.value)
    return out.EXIT_OK


def run_skus(cloud: str, output: OutputFormat) -> int:
    """Print a cloud's SKU table; return the exit code."""
    configs = skus.list_skus(cloud)
    if output is not OutputFormat.TABLE:
        out.emit([config.to_dict() for config in configs], output.value)
        return out.EXIT_OK
    rows = [
        [
            config.sku,
            str(config.gpu_count),
            config.gpu_model,
            out.gib(config.total_memory_gib),
            out.gib(config.per_gpu_memory_gib),
            _cc(config),
            out.yes(config.supports_bf16),
            out.yes(config.nvme),
            "legacy" if config.legacy else "",
        ]
        for config in configs
    ]
    headers = ["SKU", "GPUS", "GPU", "MEMORY", "PER GPU", "CC", "BF16", "NVME", "NOTES"]
    typer.echo(out.table(headers, rows))
    return out.EXIT_OK


def run_estimate(
    preset: str,
    instance_type: str | None,
    *,
    max_model_len: int | None,
    cloud: str | None,
    gpus: int | None,
    gpu_memory_gib: float | None,
    output: OutputFormat,
    mig_profile: str | None = None,
) -> int:
    """Estimate and print; return the exit code."""
    described = gpus is not None or gpu_memory_gib is not None
    if not described and instance_type is None:
        return out.usage("missing --instance-type (or --gpus with --gpu-memory-gib for BYO nodes)")
    if described and instance_type is not None:
        return out.usage("give either --instance-type or --gpus with --gpu-memory-gib, not both")
    if described and (gpus is None or gpu_memory_gib is None):
        return out.usage("--gpus and --gpu-memory-gib go together")
    try:
        if gpus is not None and gpu_memory_gib is not None:
            cloud = cloud or skus.DEFAULT_CLOUD
            gpu = sizing.described_gpus(gpus, gpu_memory_gib)
        else:
            assert instance_type is not None
            cloud = skus.cloud_for(instance_type, cloud)
            gpu = sizing.instance_gpus(instance_type, cloud)
        sized = sizing.size_preset(
            preset, gpu, cloud=cloud, max_model_len=max_model_len, mig_profile=mig_profile
        )
    except PresetError as error:
        return out.fail(error)
    if output is not OutputFormat.TABLE:
        out.emit(sized.to_dict(), output.value)
        return out.EXIT_OK
    typer.echo(_estimate_text(sized))
    return out.EXIT_OK


def _estimate_text(sized: sizing.Sizing) -> str:
    model, gpu, cloud, estimate, plan = (
        sized.model,
        sized.gpu,
        sized.cloud,
        sized.estimate,
        sized.plan,
    )
    backend = f" over {plan.distributed_backend}" if plan.distributed_backend else ""
    head = out.pairs(
        [
            ("Preset", f"{model.name} ({model.hf_repo})"),
            (
                "Instance type",
                f"{gpu.sku}: {gpu.gpu_count} x {gpu.gpu_model}, {out.gib(gpu.total_memory_gib)} "
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
    memory = out.pairs(
        [
            ("GPU memory", out.gib(estimate.per_gpu_memory_gib)),
            (f"usable (x{estimator.USABLE_MEMORY_FRACTION})", out.gib(estimate.usable_per_gpu_gib)),
            ("runtime overhead", out.gib(estimate.runtime_overhead_gib)),
            ("KV cache", out.gib(estimate.kv_cache_per_gpu_gib)),
            ("left for weights", out.gib(estimate.weights_budget_per_gpu_gib)),
            ("weights held", out.gib(estimate.weights_per_gpu_gib)),
        ],
        indent="  ",
    )
    lines = [
        head,
        "",
        "Memory per GPU:",
        memory,
        "",
        f"Model weights: {out.gib(estimate.weights_gib)}",
    ]
    lines += [f"Note: {note}" for note in estimate.notes]
    lines += ["", "vLLM flags:", *(f"  {flag}" for flag in sized.vllm_args)]
    return "\n".join(lines)


# ---- printing helpers ----


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


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
