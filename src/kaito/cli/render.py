"""``kaito render``: print every object the operator would create for a Workspace, offline.

For an InferenceSet it prints the child Workspaces (and KEDA ScaledObject) the operator creates
(:mod:`kaito.cli.inferenceset`).

Users review a change before applying it; the operator's own builders produce the output, so what is
printed is what the operator will create (apart from owner references, which need the Workspace's
uid). Exit codes follow ``kaito validate``: 0 rendered, 1 the Workspace cannot be rendered (invalid
fields, unknown preset, model does not fit), 2 unreadable input or bad usage.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kaito.api import constants, documents, gates
from kaito.api.workspace import WorkspaceParseError, parse_workspace, to_v1beta1
from kaito.cli import inferenceset as cli_inferenceset
from kaito.cli import inputs
from kaito.cli import output as out
from kaito.manifests import render
from kaito.manifests.plan import ManifestSettings, default_runtime_image

_PROVISIONERS = (
    constants.NODE_PROVISIONER_GPU_PROVISIONER,
    constants.NODE_PROVISIONER_AZURE_GPU_PROVISIONER,
    constants.NODE_PROVISIONER_KARPENTER,
    constants.NODE_PROVISIONER_BYO,
)


class _UsageError(Exception):
    """The input cannot be read or is not a Workspace (exit 2)."""


def register(app: typer.Typer) -> None:
    """Add ``kaito render`` to the main app."""

    @app.command("render")
    def render_command(
        files: Annotated[
            list[Path],
            typer.Option(
                "--file",
                "-f",
                help="Workspace YAML file (multi-document allowed; '-' reads stdin).",
            ),
        ],
        nodes: Annotated[
            int | None,
            typer.Option("--nodes", min=1, help="Node count to render; default: the estimator's."),
        ] = None,
        node_provisioner: Annotated[
            str | None,
            typer.Option(
                "--node-provisioner",
                help="gpu-provisioner, karpenter or byo; default: byo when the Workspace has no "
                "instanceType, else gpu-provisioner.",
            ),
        ] = None,
        cloud: Annotated[
            str,
            typer.Option("--cloud", help="azure, aws or arc: the SKU table and node classes."),
        ] = constants.DEFAULT_CLOUD_PROVIDER,
        namespace: Annotated[
            str | None,
            typer.Option("--namespace", "-n", help="Namespace for Workspaces that name none."),
        ] = None,
        runtime_image: Annotated[
            str,
            typer.Option("--runtime-image", help="Image running kaito-serve / kaito-tune in pods."),
        ] = default_runtime_image(),
        feature_gates: Annotated[
            str,
            typer.Option("--feature-gates", help="The operator's feature gates, e.g. vLLM=false."),
        ] = "",
    ) -> None:
        """Print the objects the operator would create for each Workspace, as YAML."""
        raise typer.Exit(
            run(
                files,
                nodes=nodes,
                node_provisioner=node_provisioner,
                cloud=cloud,
                namespace=namespace,
                runtime_image=runtime_image,
                feature_gates=feature_gates,
            )
        )


def _read_documents(path: Path) -> list[Any]:
    read, problems = inputs.read_manifests([str(path)])
    if problems:
        raise _UsageError(problems[0])
    return [doc for manifest in read for doc in manifest.docs]


def run(
    files: list[Path],
    *,
    nodes: int | None = None,
    node_provisioner: str | None = None,
    cloud: str = constants.DEFAULT_CLOUD_PROVIDER,
    namespace: str | None = None,
    runtime_image: str | None = None,
    feature_gates: str = "",
) -> int:
    """Render every Workspace in ``files`` to stdout; return the exit code.

    ConfigMaps among the documents stand in for the cluster's: the ``max-model-len`` of an inference
    config sizes the deployment and a training config's ``output_dir`` places the results volume.
    Other kinds are skipped with a note on stderr.
    """
    if node_provisioner is not None and node_provisioner not in _PROVISIONERS:
        typer.echo(
            f"error: --node-provisioner must be one of gpu-provisioner, karpenter, byo; "
            f"got {node_provisioner!r}",
            err=True,
        )
        return out.EXIT_USAGE
    if cloud not in constants.CLOUD_PROVIDERS:
        typer.echo(
            f"error: --cloud must be one of {', '.join(constants.CLOUD_PROVIDERS)}; got {cloud!r}",
            err=True,
        )
        return out.EXIT_USAGE
    try:
        gate_values = gates.parse_feature_gates(feature_gates)
    except gates.FeatureGateError as exc:
        typer.echo(f"error: --feature-gates: {exc}", err=True)
        return out.EXIT_USAGE
    objects: list[dict[str, Any]] = []
    try:
        inputs = [(path, i, doc) for path in files for i, doc in enumerate(_read_documents(path))]
        configmaps = documents.collect_configmaps(doc for _, _, doc in inputs)
        workspaces = 0
        for path, index, doc in inputs:
            where = f"{path}" if index == 0 else f"{path} (document {index + 1})"
            kind = documents.document_kind(doc)
            if kind == documents.KIND_CONFIGMAP:
                continue
            if kind == constants.KIND_INFERENCESET:
                workspaces += 1
                try:
                    children, notes = cli_inferenceset.render_objects(
                        doc, provisioner=node_provisioner, namespace=namespace
                    )
                except WorkspaceParseError as exc:
                    raise ValueError(f"{where}: {exc}") from exc
                objects += children
                for note in notes:
                    typer.echo(f"note: {where}: {note}", err=True)
                continue
            if kind != constants.KIND_WORKSPACE:
                typer.echo(f"note: {where}: kind {kind!r} skipped (not a Workspace)", err=True)
                continue
            workspaces += 1
            # The operator reads the storage version, whatever version was applied.
            ws = to_v1beta1(parse_workspace(doc))
            if namespace and not ws.metadata.namespace:
                ws.metadata.namespace = namespace
            provisioner = node_provisioner or (
                constants.NODE_PROVISIONER_GPU_PROVISIONER
                if ws.resource.instance_type
                else constants.NODE_PROVISIONER_BYO
            )
            settings = ManifestSettings(
                runtime_image=runtime_image or default_runtime_image(),
                cloud=cloud,
                node_provisioner=provisioner,
                feature_gates=gate_values,
            )
            max_model_len, output_dir = render.config_inputs(ws, configmaps)
            plan = render.plan_workload(ws, settings, node_count=nodes, max_model_len=max_model_len)
            if output_dir:
                plan = dataclasses.replace(plan, tuning_output_dir=output_dir)
            objects += render.build_all(ws, settings, plan)
        if workspaces == 0:
            raise _UsageError(f"no Workspace found in {', '.join(str(f) for f in files)}")
    except _UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        return out.EXIT_USAGE
    except ValueError as exc:
        # WorkspaceParseError, PresetError (unknown preset, model too large) and builder errors.
        typer.echo(f"error: {exc}", err=True)
        return out.EXIT_FAILURE
    sys.stdout.write(render.dump_yaml(objects))
    return out.EXIT_OK
