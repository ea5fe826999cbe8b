"""``kaito validate``: check Workspace manifests offline with the webhook's own rules.

Reads one or more files (or directories, or ``-`` for stdin), each possibly holding several YAML
documents. Workspace documents are validated with :func:`kaito.api.validation.check_workspace`;
ConfigMap documents in the same inputs (and under ``--configmap-dir``) are used to check the
``inference.config`` / ``tuning.config`` they name; other kinds are skipped with a note. Checks that
need a cluster (nodes of bring-your-own pools, ConfigMaps not given) are reported as "not checked"
warnings, never as errors.

Exit codes: 0 every Workspace is valid; 1 at least one is invalid; 2 a file cannot be read or is
not YAML, or no Workspace was found, or bad usage.

InferenceSet documents are validated as the webhook does (:mod:`kaito.cli.inferenceset`).

``-o json`` / ``-o yaml`` print a list with one entry per Workspace or InferenceSet document:
``{"file", "document" (1-based index in the file), "kind", "name", "apiVersion", "operation"
(CREATE, or UPDATE with ``--old``), "valid", "errors": [{"field", "message"}], "warnings":
[{"field", "message"}], "estimate"}``.
"""

from __future__ import annotations

import enum
import json
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kaito.api import constants, documents
from kaito.api.validation import StaticClusterLookup, ValidationContext, check_workspace
from kaito.api.validation.config_files import inference_config_max_model_len
from kaito.api.workspace import (
    AnyWorkspace,
    WorkspaceParseError,
    parse_workspace,
    workspace_runtime,
)
from kaito.cli import inferenceset as cli_inferenceset
from kaito.presets import catalog, estimator, mig, skus
from kaito.presets.errors import PresetError
from kaito.runtime.models.hub_config import HubConfigReader
from kaito.runtime.models.settings import load_model_settings

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
_YAML_SUFFIXES = (".yaml", ".yml", ".json")


class OutputFormat(enum.StrEnum):
    """How results are printed."""

    TEXT = "text"
    JSON = "json"
    YAML = "yaml"


class NodeProvisionerMode(enum.StrEnum):
    """The cluster's node provisioner; ``auto`` infers it from each manifest."""

    AUTO = "auto"
    AZURE_GPU_PROVISIONER = constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER
    GPU_PROVISIONER = constants.NODE_PROVISIONER_GPU_PROVISIONER
    KARPENTER = constants.NODE_PROVISIONER_KARPENTER
    BYO = constants.NODE_PROVISIONER_BYO


class CloudName(enum.StrEnum):
    """Clouds with a SKU table."""

    AZURE = constants.CLOUD_AZURE
    AWS = constants.CLOUD_AWS
    ARC = constants.CLOUD_ARC


@dataclass
class DocumentResult:
    """The outcome for one Workspace document."""

    file: str
    document: int
    name: str | None
    api_version: str | None
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    estimate: dict[str, Any] | None = None
    update: bool = False
    kind: str = constants.KIND_WORKSPACE

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape."""
        return {
            "file": self.file,
            "document": self.document,
            "kind": self.kind,
            "name": self.name,
            "apiVersion": self.api_version,
            "operation": "UPDATE" if self.update else "CREATE",
            "valid": not self.errors,
            "errors": self.errors,
            "warnings": self.warnings,
            "estimate": self.estimate,
        }


@dataclass
class _Input:
    label: str
    docs: list[Any]


def register(app: typer.Typer) -> None:
    """Add ``kaito validate`` to the main app."""

    @app.command("validate")
    def validate_command(
        filenames: Annotated[
            list[str],
            typer.Option(
                "--filename",
                "-f",
                help="Manifest file, directory of manifests, or - for stdin (repeatable).",
            ),
        ],
        output: Annotated[
            OutputFormat,
            typer.Option("--output", "-o", case_sensitive=False, help="text, json or yaml."),
        ] = OutputFormat.TEXT,
        cloud: Annotated[
            CloudName,
            typer.Option("--cloud", case_sensitive=False, help="Cloud whose SKU table applies."),
        ] = CloudName.AZURE,
        node_provisioner: Annotated[
            NodeProvisionerMode,
            typer.Option(
                "--node-provisioner",
                case_sensitive=False,
                help=(
                    "The cluster's node provisioner. 'auto' treats a Workspace without "
                    "instanceType as bring-your-own nodes and one with it as auto-provisioned."
                ),
            ),
        ] = NodeProvisionerMode.AUTO,
        configmap_dir: Annotated[
            Path | None,
            typer.Option(
                "--configmap-dir",
                help="Directory of ConfigMap manifests that Workspaces may reference.",
            ),
        ] = None,
        feature_gates: Annotated[
            str,
            typer.Option(
                "--feature-gates", help="Operator feature gates, e.g. vLLM=false,enableMIG=true."
            ),
        ] = "",
        namespace: Annotated[
            str,
            typer.Option("--namespace", "-n", help="Namespace of Workspaces that name none."),
        ] = "default",
        release_namespace: Annotated[
            str,
            typer.Option("--release-namespace", help="Namespace of the default tuning ConfigMaps."),
        ] = constants.DEFAULT_RELEASE_NAMESPACE,
        karpenter_node_classes: Annotated[
            str,
            typer.Option(
                "--karpenter-node-classes",
                help="Comma-separated node classes allowed in kaito.sh/node-class-name.",
            ),
        ] = "",
        resolve_dns: Annotated[
            bool,
            typer.Option(
                "--resolve-dns/--no-resolve-dns",
                help="Resolve host names of tuning URLs and refuse private addresses.",
            ),
        ] = False,
        check_hub: Annotated[
            bool,
            typer.Option(
                "--check-hub/--no-check-hub",
                help=(
                    "Ask the Hugging Face hub ($HF_ENDPOINT, token $HF_TOKEN) for the "
                    "architectures of org/repo presets the catalog does not list."
                ),
            ),
        ] = False,
        old: Annotated[
            Path | None,
            typer.Option(
                "--old",
                help=(
                    "Manifest of the Workspaces as currently stored: each input Workspace with "
                    "the same namespace and name is validated as an UPDATE of it."
                ),
            ),
        ] = None,
    ) -> None:
        """Validate Workspace manifests with the admission webhook's rules, offline."""
        raise typer.Exit(
            run_validate(
                filenames,
                output=output,
                cloud=cloud.value,
                node_provisioner=node_provisioner.value,
                configmap_dir=configmap_dir,
                feature_gates=feature_gates,
                namespace=namespace,
                release_namespace=release_namespace,
                karpenter_node_classes=karpenter_node_classes,
                resolve_dns=resolve_dns,
                check_hub=check_hub,
                old=old,
            )
        )


def parse_feature_gates(text: str) -> dict[str, bool]:
    """``"vLLM=false,enableMIG=true"`` → dict; unknown names or values raise ValueError."""
    gates: dict[str, bool] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if name not in constants.DEFAULT_FEATURE_GATES:
            known = ", ".join(sorted(constants.DEFAULT_FEATURE_GATES))
            raise ValueError(f"unknown feature gate {name!r} (known: {known})")
        lowered = value.strip().lower() if sep else "true"
        if lowered not in ("true", "false"):
            raise ValueError(f"feature gate {name} must be true or false, got {value!r}")
        gates[name] = lowered == "true"
    return gates


def _hub_reader() -> HubConfigReader:
    model_settings = load_model_settings()
    return HubConfigReader(endpoint=model_settings.hf_endpoint, token=model_settings.hf_token)


def _system_resolver(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _expand(paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in paths:
        path = Path(name)
        if name != "-" and path.is_dir():
            out.extend(str(p) for p in sorted(path.iterdir()) if p.suffix in _YAML_SUFFIXES)
        else:
            out.append(name)
    return out


def _read_inputs(paths: Sequence[str]) -> tuple[list[_Input], list[str]]:
    inputs: list[_Input] = []
    problems: list[str] = []
    for name in _expand(paths):
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
            inputs.append(_Input(name, documents.parse_yaml_documents(text)))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}")
        except documents.DocumentError as exc:
            problems.append(f"{name}: {exc}")
    return inputs, problems


def run_validate(
    filenames: Sequence[str],
    *,
    output: OutputFormat = OutputFormat.TEXT,
    cloud: str = constants.CLOUD_AZURE,
    node_provisioner: str = NodeProvisionerMode.AUTO.value,
    configmap_dir: Path | None = None,
    feature_gates: str = "",
    namespace: str = "default",
    release_namespace: str = constants.DEFAULT_RELEASE_NAMESPACE,
    karpenter_node_classes: str = "",
    resolve_dns: bool = False,
    check_hub: bool = False,
    old: Path | None = None,
) -> int:
    """Validate the manifests; print results; return the exit code."""
    try:
        gates = parse_feature_gates(feature_gates)
    except ValueError as exc:
        print(f"error: --feature-gates: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not filenames:
        print("error: give at least one manifest with -f", file=sys.stderr)
        return EXIT_USAGE
    inputs, problems = _read_inputs(filenames)
    cm_inputs: list[_Input] = []
    if configmap_dir is not None:
        if not configmap_dir.is_dir():
            print(f"error: --configmap-dir {configmap_dir}: not a directory", file=sys.stderr)
            return EXIT_USAGE
        cm_inputs, cm_problems = _read_inputs([str(configmap_dir)])
        problems.extend(cm_problems)
    configmaps = documents.collect_configmaps(
        doc for item in (*cm_inputs, *inputs) for doc in item.docs
    )
    classes = tuple(filter(None, (c.strip() for c in karpenter_node_classes.split(","))))
    ctx = ValidationContext(
        models=catalog,
        skus=skus,
        mig=mig,
        lookup=StaticClusterLookup(configmaps, release_namespace=release_namespace),
        feature_gates=gates,
        node_provisioner=None if node_provisioner == NodeProvisionerMode.AUTO else node_provisioner,
        cloud_provider=cloud,
        release_namespace=release_namespace,
        default_namespace=namespace,
        karpenter_node_classes=classes or None,
        resolver=_system_resolver if resolve_dns else None,
        hub=_hub_reader() if check_hub else None,
    )
    results: list[DocumentResult] = []
    notes: list[str] = []
    stored: dict[tuple[str, str], AnyWorkspace] = {}
    if old is not None:
        old_inputs, old_problems = _read_inputs([str(old)])
        problems.extend(f"--old {p}" for p in old_problems)
        for doc in (d for item in old_inputs for d in item.docs):
            if documents.document_kind(doc) != constants.KIND_WORKSPACE:
                continue
            try:
                previous = parse_workspace(doc)
            except WorkspaceParseError as exc:
                problems.append(f"--old {old}: stored Workspace is not valid: {exc}")
                continue
            stored[(previous.metadata.namespace or namespace, previous.metadata.name or "")] = (
                previous
            )
    for item in inputs:
        for index, doc in enumerate(item.docs, start=1):
            kind = documents.document_kind(doc)
            where = f"{item.label} (document {index})"
            if kind == constants.KIND_WORKSPACE:
                result = _validate_one(item.label, index, doc, ctx, configmaps, stored)
                if stored and not result.update:
                    notes.append(
                        f"{where}: no stored Workspace of that name in --old; validated as a create"
                    )
                results.append(result)
            elif kind == constants.KIND_INFERENCESET:
                results.append(_validate_inferenceset(item.label, index, doc, ctx, configmaps))
            elif kind == documents.KIND_CONFIGMAP:
                notes.append(f"{where}: ConfigMap used for config lookups")
            elif kind is None:
                problems.append(f"{where}: not a Kubernetes object")
            else:
                notes.append(f"{where}: kind {kind} skipped (not a Workspace)")
    if not results and not problems:
        problems.append("no Workspace or InferenceSet found in the given files")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    _print(results, output)
    if problems:
        return EXIT_USAGE
    return EXIT_INVALID if any(r.errors for r in results) else EXIT_OK


def _validate_one(
    label: str,
    index: int,
    doc: Any,
    ctx: ValidationContext,
    configmaps: dict[tuple[str | None, str], dict[str, str]],
    stored: dict[tuple[str, str], AnyWorkspace],
) -> DocumentResult:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    api_version = doc.get("apiVersion")
    result = DocumentResult(
        file=label,
        document=index,
        name=name if isinstance(name, str) else None,
        api_version=api_version if isinstance(api_version, str) else None,
    )
    try:
        ws = parse_workspace(doc)
    except WorkspaceParseError as exc:
        result.errors = [{"field": i.field, "message": i.message} for i in exc.issues]
        return result
    previous = stored.get((ws.metadata.namespace or ctx.default_namespace, ws.metadata.name or ""))
    result.update = previous is not None
    report = check_workspace(ws, ctx, previous)
    result.errors = [e.to_dict() for e in report.errors]
    result.warnings = [w.to_dict() for w in report.warnings]
    if report.valid:
        result.estimate = _estimate(ws, ctx, configmaps)
    return result


def _validate_inferenceset(
    label: str,
    index: int,
    doc: Any,
    ctx: ValidationContext,
    configmaps: dict[tuple[str | None, str], dict[str, str]],
) -> DocumentResult:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    api_version = doc.get("apiVersion")
    result = DocumentResult(
        file=label,
        document=index,
        name=name if isinstance(name, str) else None,
        api_version=api_version if isinstance(api_version, str) else None,
        kind=constants.KIND_INFERENCESET,
    )
    result.errors, result.warnings, result.estimate = cli_inferenceset.validate_document(
        doc, ctx, lambda child: _estimate(child, ctx, configmaps)
    )
    return result


def _estimate(
    ws: AnyWorkspace,
    ctx: ValidationContext,
    configmaps: dict[tuple[str | None, str], dict[str, str]],
) -> dict[str, Any] | None:
    """Nodes the operator would target: 1 for tuning, count for transformers, else the estimator."""
    preset = ws.tuning.preset if ws.tuning is not None else None
    if ws.inference is not None:
        preset = ws.inference.preset
    instance_type = ws.resource.instance_type
    base: dict[str, Any] = {"instanceType": instance_type}
    if ws.tuning is not None:
        return {**base, "nodes": 1, "basis": "tuning runs on one node"}
    runtime = workspace_runtime(ws, ctx.gate(constants.FEATURE_VLLM))
    if runtime == constants.RUNTIME_TRANSFORMERS or preset is None:
        return {**base, "nodes": ws.resource.count, "basis": "resource.count"}
    if not instance_type:
        return {**base, "nodes": None, "error": "bring-your-own nodes: sized from their GPU labels"}
    gpu = skus.get_sku(instance_type, ctx.cloud_provider)
    if gpu is None:
        return {**base, "nodes": None, "error": f"{instance_type} is not in the SKU table"}
    max_model_len = estimator.DEFAULT_MAX_MODEL_LEN
    config_name = ws.inference.config if ws.inference is not None else None
    if config_name:
        namespace = ws.metadata.namespace or ctx.default_namespace
        data = configmaps.get((namespace, config_name)) or configmaps.get((None, config_name))
        explicit = inference_config_max_model_len(data) if data else None
        max_model_len = explicit or max_model_len
    try:
        result = estimator.estimate_nodes(
            catalog.get_model(preset.name), gpu, max_model_len, default_nodes=ws.resource.count
        )
    except PresetError as exc:
        return {**base, "nodes": None, "error": str(exc)}
    return {
        **base,
        "nodes": result.nodes,
        "gpusPerNode": result.gpus_per_node,
        "maxModelLen": result.max_model_len,
        "basis": "node estimator" if result.size_known else "resource.count (model size unknown)",
    }


def _print(results: list[DocumentResult], output: OutputFormat) -> None:
    data = [r.to_dict() for r in results]
    if output == OutputFormat.JSON:
        print(json.dumps(data, indent=2))
        return
    if output == OutputFormat.YAML:
        print(yaml.safe_dump(data, sort_keys=False), end="")
        return
    for result in results:
        title = f"{result.file} (document {result.document})"
        if result.name:
            title += f": {result.kind} {result.name}"
        print(f"{title}: {'valid' if not result.errors else 'INVALID'}")
        for error in result.errors:
            print(f"  error: {_field_message(error)}")
        for warning in result.warnings:
            print(f"  warning: {_field_message(warning)}")
        if result.estimate is not None:
            print(f"  estimate: {_estimate_text(result.estimate)}")


def _field_message(item: dict[str, str]) -> str:
    return f"{item['field']}: {item['message']}" if item["field"] else item["message"]


def _estimate_text(estimate: dict[str, Any]) -> str:
    if estimate.get("nodes") is None:
        return f"not available ({estimate.get('error', 'unknown')})"
    nodes = estimate["nodes"]
    text = f"{nodes} node{'s' if nodes != 1 else ''}"
    if "replicas" in estimate:
        text += f" ({estimate['replicas']} replicas of {estimate['nodesPerReplica']})"
    if estimate.get("instanceType"):
        text += f" of {estimate['instanceType']}"
    if estimate.get("gpusPerNode"):
        text += f" ({estimate['gpusPerNode']} GPU(s) each)"
    return f"{text}; {estimate['basis']}"
