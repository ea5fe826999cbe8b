"""``kaito render``: print every object the operator would create for a Workspace, offline.

Users review a change before applying it; the operator's own builders produce the output, so what is
printed is what the operator will create (apart from owner references, which need the Workspace's
uid). Exit codes follow ``kaito validate``: 0 rendered, 1 the Workspace cannot be rendered (invalid
fields, unknown preset, model does not fit), 2 unreadable input or bad usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace, parse_workspace
from kaito.manifests import render
from kaito.manifests.plan import ManifestSettings, default_runtime_image

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
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
            )
        )


def _read_documents(path: Path) -> list[Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise _UsageError(f"{path}: not valid YAML: {exc}") from exc


def _parse(path: Path, index: int, doc: Any, namespace: str | None) -> AnyWorkspace:
    where = f"{path}" if index == 0 else f"{path} (document {index + 1})"
    if not isinstance(doc, dict) or doc.get("kind") != constants.KIND_WORKSPACE:
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise _UsageError(f"{where}: not a Workspace (kind {kind!r})")
    ws = parse_workspace(doc)
    if namespace and not ws.metadata.namespace:
        ws.metadata.namespace = namespace
    return ws


def run(
    files: list[Path],
    *,
    nodes: int | None = None,
    node_provisioner: str | None = None,
    cloud: str = constants.DEFAULT_CLOUD_PROVIDER,
    namespace: str | None = None,
    runtime_image: str | None = None,
) -> int:
    """Render every Workspace in ``files`` to stdout; return the exit code."""
    if node_provisioner is not None and node_provisioner not in _PROVISIONERS:
        typer.echo(
            f"error: --node-provisioner must be one of gpu-provisioner, karpenter, byo; "
            f"got {node_provisioner!r}",
            err=True,
        )
        return EXIT_USAGE
    if cloud not in constants.CLOUD_PROVIDERS:
        typer.echo(
            f"error: --cloud must be one of {', '.join(constants.CLOUD_PROVIDERS)}; got {cloud!r}",
            err=True,
        )
        return EXIT_USAGE
    objects: list[dict[str, Any]] = []
    try:
        for path in files:
            for index, doc in enumerate(_read_documents(path)):
                ws = _parse(path, index, doc, namespace)
                provisioner = node_provisioner or (
                    constants.NODE_PROVISIONER_GPU_PROVISIONER
                    if ws.resource.instance_type
                    else constants.NODE_PROVISIONER_BYO
                )
                settings = ManifestSettings(
                    runtime_image=runtime_image or default_runtime_image(),
                    cloud=cloud,
                    node_provisioner=provisioner,
                )
                plan = render.plan_workload(ws, settings, node_count=nodes)
                objects += render.build_all(ws, settings, plan)
    except _UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    except ValueError as exc:
        # WorkspaceParseError, PresetError (unknown preset, model too large) and builder errors.
        typer.echo(f"error: {exc}", err=True)
        return EXIT_INVALID
    sys.stdout.write(render.dump_yaml(objects))
    return EXIT_OK
