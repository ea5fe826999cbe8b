"""``kaito operator``: run the Workspace operator (the same as ``python -m kaito.operator``).

Flags carry upstream's names (``--node-provisioner``, ``--feature-gates``,
``--metrics-bind-address``, ``--health-probe-bind-address``); any flag not given falls back to the
environment (``KAITO_*``, ``CLOUD_PROVIDER``, ``RELEASE_NAMESPACE``). Bad values exit with 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer


def operator(
    node_provisioner: Annotated[
        str | None,
        typer.Option(help="azure-gpu-provisioner (alias gpu-provisioner), karpenter or byo."),
    ] = None,
    feature_gates: Annotated[
        str | None, typer.Option(help="Feature gates as NAME=true|false,... (upstream's names).")
    ] = None,
    metrics_bind_address: Annotated[
        str | None, typer.Option(help="Where /metrics listens, e.g. :8080 (0 disables).")
    ] = None,
    health_probe_bind_address: Annotated[
        str | None, typer.Option(help="Where /healthz and /readyz listen, e.g. :8081.")
    ] = None,
    webhook: Annotated[
        bool | None, typer.Option("--webhook/--no-webhook", help="Serve the admission webhook.")
    ] = None,
    webhook_port: Annotated[int | None, typer.Option(help="Webhook port (9443).")] = None,
    webhook_cert_dir: Annotated[
        str | None,
        typer.Option(help="Directory holding tls.crt/tls.key; without it the webhook is HTTP."),
    ] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Watch only this namespace (repeatable)."),
    ] = None,
    leader_elect: Annotated[
        bool | None,
        typer.Option("--leader-elect/--no-leader-elect", help="Act only while holding the Lease."),
    ] = None,
    server: Annotated[
        str | None, typer.Option(help="API server URL; default: in-cluster or kubeconfig.")
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(help="Kubeconfig file; default: in-cluster credentials or $KUBECONFIG."),
    ] = None,
    runtime_image: Annotated[
        str | None, typer.Option(help="Image running kaito-serve and kaito-tune in pods.")
    ] = None,
) -> None:
    """Run the Workspace operator: reconcile Workspaces into nodes, servers and tuning jobs."""
    import pydantic

    from kaito.operator.settings import OperatorSettings, SettingsError

    flags: dict[str, Any] = {
        "node_provisioner": node_provisioner,
        "feature_gates": feature_gates,
        "metrics_bind_address": metrics_bind_address,
        "health_probe_bind_address": health_probe_bind_address,
        "webhook": webhook,
        "webhook_port": webhook_port,
        "webhook_cert_dir": webhook_cert_dir,
        "namespaces": namespace or None,
        "leader_elect": leader_elect,
        "server": server,
        "kubeconfig": kubeconfig,
        "runtime_image": runtime_image,
    }
    try:
        settings = OperatorSettings(**{k: v for k, v in flags.items() if v is not None})
        settings.gates()
    except pydantic.ValidationError as exc:
        for err in exc.errors(include_url=False):
            field = ".".join(str(part) for part in err["loc"]).replace("_", "-")
            typer.echo(f"error: --{field}: {err['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from exc
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if settings.kubeconfig:
        from pathlib import Path

        from kaito.operator.login import KubeconfigError, connection_info

        try:
            connection_info(Path(settings.kubeconfig))
        except KubeconfigError as exc:
            typer.echo(f"error: --kubeconfig: {exc}", err=True)
            raise typer.Exit(2) from exc
    from kaito.operator.runner import run_forever

    run_forever(settings)


def register(app: typer.Typer) -> None:
    """Add ``kaito operator``."""
    app.command("operator")(operator)
