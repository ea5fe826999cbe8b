"""``kaito validate``: check Workspace manifests offline with the webhook's own rules.

Reads one or more files (or directories, or ``-`` for stdin), each possibly holding several YAML
documents. Workspace documents are validated with :func:`kaito.validation.check_workspace`;
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
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from kaito.api import constants, documents, gates
from kaito.api.workspace import (
    AnyWorkspace,
    WorkspaceParseError,
    parse_workspace,
)
from kaito.cli import inferenceset as cli_inferenceset
from kaito.cli import inputs as inputs_mod
from kaito.cli import output as out
from kaito.cli.output import CloudName
from kaito.cli.validate_report import DocumentResult, OutputFormat, print_results
from kaito.manifests import render
from kaito.manifests.plan import ManifestSettings
from kaito.runtime.models.hub_config import HubConfigReader
from kaito.runtime.models.settings import load_model_settings
from kaito.validation import StaticClusterLookup, ValidationContext, check_workspace


class NodeProvisionerMode(enum.StrEnum):
    """The cluster's node provisioner; ``auto`` infers it from each manifest."""

    AUTO = "auto"
    AZURE_GPU_PROVISIONER = constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER
    GPU_PROVISIONER = constants.NODE_PROVISIONER_GPU_PROVISIONER
    KARPENTER = constants.NODE_PROVISIONER_KARPENTER
    BYO = constants.NODE_PROVISIONER_BYO


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
                    "The cluster's node provisioner; the default is the operator's (node "
                    "auto-provisioning on, so instanceType is required). 'byo' for "
                    "bring-your-own nodes; 'auto' judges each Workspace by whether it names "
                    "an instanceType."
                ),
            ),
        ] = NodeProvisionerMode.AZURE_GPU_PROVISIONER,
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


def _hub_reader() -> HubConfigReader:
    model_settings = load_model_settings()
    return HubConfigReader(endpoint=model_settings.hf_endpoint, token=model_settings.hf_token)


def _system_resolver(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def run_validate(
    filenames: Sequence[str],
    *,
    output: OutputFormat = OutputFormat.TEXT,
    cloud: str = constants.CLOUD_AZURE,
    node_provisioner: str = constants.DEFAULT_NODE_PROVISIONER,
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
        gate_values = gates.parse_feature_gates(feature_gates)
    except gates.FeatureGateError as exc:
        return out.usage(f"--feature-gates: {exc}")
    if not filenames:
        return out.usage("give at least one manifest with -f")
    inputs, problems = inputs_mod.read_manifests(filenames)
    cm_inputs: list[inputs_mod.Manifest] = []
    if configmap_dir is not None:
        if not configmap_dir.is_dir():
            return out.usage(f"--configmap-dir {configmap_dir}: not a directory")
        cm_inputs, cm_problems = inputs_mod.read_manifests([str(configmap_dir)])
        problems.extend(cm_problems)
    configmaps = documents.collect_configmaps(
        doc for item in (*cm_inputs, *inputs) for doc in item.docs
    )
    classes = tuple(filter(None, (c.strip() for c in karpenter_node_classes.split(","))))
    ctx = ValidationContext(
        lookup=StaticClusterLookup(configmaps, release_namespace=release_namespace),
        feature_gates=gate_values,
        node_provisioner=None if node_provisioner == NodeProvisionerMode.AUTO else node_provisioner,
        cloud_provider=cloud,
        release_namespace=release_namespace,
        default_namespace=namespace,
        karpenter_node_classes=classes or None,
        resolver=_system_resolver if resolve_dns else None,
        hub=_hub_reader() if check_hub else None,
    )
    settings = ManifestSettings(cloud=cloud, feature_gates=gate_values)
    results: list[DocumentResult] = []
    notes: list[str] = []
    stored: dict[tuple[str, str], AnyWorkspace] = {}
    if old is not None:
        old_inputs, old_problems = inputs_mod.read_manifests([str(old)])
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
                result = _validate_one(item.label, index, doc, ctx, configmaps, stored, settings)
                if stored and not result.update:
                    notes.append(
                        f"{where}: no stored Workspace of that name in --old; validated as a create"
                    )
                results.append(result)
            elif kind == constants.KIND_INFERENCESET:
                results.append(
                    _validate_inferenceset(item.label, index, doc, ctx, configmaps, settings)
                )
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
        out.error(problem)
    print_results(results, output)
    if problems:
        return out.EXIT_USAGE
    return out.EXIT_FAILURE if any(r.errors for r in results) else out.EXIT_OK


def _result_for(label: str, index: int, doc: Any, kind: str) -> DocumentResult:
    """An empty result naming the document (its name and apiVersion, when they are strings)."""
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    api_version = doc.get("apiVersion")
    return DocumentResult(
        file=label,
        document=index,
        name=name if isinstance(name, str) else None,
        api_version=api_version if isinstance(api_version, str) else None,
        kind=kind,
    )


def _validate_one(
    label: str,
    index: int,
    doc: Any,
    ctx: ValidationContext,
    configmaps: dict[tuple[str | None, str], dict[str, str]],
    stored: dict[tuple[str, str], AnyWorkspace],
    settings: ManifestSettings,
) -> DocumentResult:
    result = _result_for(label, index, doc, constants.KIND_WORKSPACE)
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
        result.estimate = render.node_estimate(ws, settings, configmaps)
    return result


def _validate_inferenceset(
    label: str,
    index: int,
    doc: Any,
    ctx: ValidationContext,
    configmaps: dict[tuple[str | None, str], dict[str, str]],
    settings: ManifestSettings,
) -> DocumentResult:
    result = _result_for(label, index, doc, constants.KIND_INFERENCESET)
    result.errors, result.warnings, result.estimate = cli_inferenceset.validate_document(
        doc, ctx, lambda child: render.node_estimate(child, settings, configmaps)
    )
    return result
