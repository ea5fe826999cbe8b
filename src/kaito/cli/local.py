"""``kaito run``, ``kaito get``, ``kaito logs``, ``kaito delete``: Workspaces on this machine.

These commands only parse and print; the work is in :mod:`kaito.local`. Exit codes: 0 success, 1
invalid Workspace, refusal or failed run, 2 unreadable input or bad usage, 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from kaito.api import gates
from kaito.cli import output as out
from kaito.local import launch, listing, logs, settings
from kaito.local import plan as local_plan
from kaito.local import runner as local_runner
from kaito.local import store as local_store

_RESOURCE_NAMES = frozenset({"workspace", "workspaces", "wk", "wks", "workspace.kaito.sh"})
_OUTPUTS = ("table", "json", "yaml")

StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help=f"Where local Workspaces are recorded (default ${settings.STATE_DIR_ENV} or "
        f"{settings.DEFAULT_STATE_DIR}).",
    ),
]


def _store(state_dir: Path | None) -> local_store.StateStore:
    return local_store.StateStore(state_dir or settings.load_local_settings().state_dir)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _checked_name(value: str) -> str:
    """``value`` if it is a Workspace name; else exit 2 naming it (it never becomes a path)."""
    try:
        return local_store.check_name(value)
    except local_store.InvalidNameError as exc:
        raise _fail(str(exc), 2) from None


def _split_target(args: list[str]) -> str | None:
    """``[workspace] NAME`` or ``[workspaces]`` → the name, if any."""
    if args and args[0].lower() in _RESOURCE_NAMES:
        args = args[1:]
    if len(args) > 1:
        raise _fail(f"expected at most one name, got {' '.join(args)}", 2)
    return _checked_name(args[0]) if args else None


def run(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="The Workspace YAML (with its ConfigMaps).")
    ],
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Tuning: after training, serve the base model with the new adapter.",
        ),
    ] = False,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=1, max=65535, help="Server port (default: first free from 5000)."
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option("--detach", "-d", help="Run in the background; follow with kaito logs -f."),
    ] = False,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
            help="Use this local model folder instead of the preset's weights (same preset "
            "rules otherwise).",
        ),
    ] = None,
    feature_gates: Annotated[
        str,
        typer.Option(
            "--feature-gates",
            help="Operator feature gates, e.g. vLLM=true (kaito run defaults vLLM to false).",
        ),
    ] = "",
    state_dir: StateDirOption = None,
) -> None:
    """Run a Workspace on this machine: tune, or serve on localhost, as supervised processes."""
    local = settings.load_local_settings()
    store = _store(state_dir)
    try:
        gate_values = gates.parse_feature_gates(feature_gates)
    except gates.FeatureGateError as exc:
        raise _fail(f"--feature-gates: {exc}", 2) from None
    request = launch.RunRequest(
        path=file, serve=serve, port=port, model_dir=model_dir, feature_gates=gate_values
    )
    # The run lock of the Workspace is held from before its record is read until the run ends
    # (a detached runner inherits it), so two kaito run of one name cannot both start.
    with contextlib.ExitStack() as hold:
        try:
            prepared = launch.prepare_run(store, request, local=local, hold=hold)
        except launch.RunError as exc:
            raise _fail(str(exc), exc.exit_code) from None
        except local_store.StateError as exc:
            raise _fail(str(exc)) from None
        _start(store, prepared, detach=detach)


def _start(store: local_store.StateStore, prepared: launch.PreparedRun, *, detach: bool) -> None:
    for warning in prepared.warnings:
        typer.echo(f"warning: {warning}", err=True)
    verb = "resumed" if prepared.resumed else "created"
    typer.echo(f"workspace.kaito.sh/{prepared.name} {verb} (local, state in {store.root})")
    if detach:
        try:
            record = launch.start_detached(store, prepared.name, lock_fd=prepared.lock_fd)
        except launch.RunError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"cannot start the background runner: {exc}") from None
        typer.echo(f"running in the background (pid {record.pid})")
        if prepared.plan.port is not None:
            url = f"http://{local_plan.LOCAL_HOST}:{prepared.plan.port}"
            models = [prepared.plan.served_model or "", *prepared.plan.adapter_names]
            typer.echo(f"will serve {', '.join(models)} at {url} once kaito get shows it ready:")
            typer.echo(local_runner.curl_example(url, models[-1]))
        typer.echo(f"follow with: kaito logs {prepared.name} -f    status: kaito get")
        raise typer.Exit(0)
    try:
        job = local_runner.Runner(store, prepared.name, echo=typer.echo, follow_logs=True)
    except local_store.StateError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(job.run())


def get(
    target: Annotated[
        list[str] | None,
        typer.Argument(help="[workspaces] [NAME]", show_default=False),
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table, json or yaml.")] = "table",
    state_dir: StateDirOption = None,
) -> None:
    """List local Workspaces with the columns of kubectl get workspace."""
    if output not in _OUTPUTS:
        raise _fail(f"--output must be one of {', '.join(_OUTPUTS)}, not {output!r}", 2)
    name = _split_target(list(target or []))
    store = _store(state_dir)
    if name:
        try:
            workspaces = [launch.refresh_stale(store, name)]
        except local_store.StateError as exc:
            raise _fail(str(exc)) from None
        broken: list[str] = []
    else:
        # One damaged record must not hide the others: list them, show it as unreadable, exit 1.
        workspaces, broken = [], []
        for each in store.names():
            try:
                workspaces.append(launch.refresh_stale(store, each))
            except local_store.StateError as exc:
                broken.append(each)
                typer.echo(f"error: {exc}", err=True)
    if output == "table":
        now = launch.age_now()
        rows = [listing.build_row(ws, now) for ws in workspaces]
        rows += [listing.unreadable_row(each) for each in broken]
        if not rows:
            typer.echo("No resources found", err=True)
            return
        typer.echo(listing.render_table(sorted(rows, key=lambda row: row.name)))
    else:
        document = workspaces[0].to_wire() if name else listing.build_list(workspaces)
        out.emit(document, output, indent=4)
    if broken:
        raise typer.Exit(1)


def logs_command(
    name: Annotated[str, typer.Argument(help="The Workspace.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new output.")
    ] = False,
    step: Annotated[
        str | None,
        typer.Option("--step", help="Only this step (fetch-data, tune, push, serve, runner...)."),
    ] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Print the output of a local Workspace's processes."""
    name = _checked_name(name)
    store = _store(state_dir)
    try:
        logs.stream_logs(store, name, typer.echo, follow=follow, step=step)
    except local_store.StateError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def delete(
    target: Annotated[list[str], typer.Argument(help="[workspace] NAME", show_default=False)],
    state_dir: StateDirOption = None,
) -> None:
    """Stop a local Workspace's processes and remove its record."""
    name = _split_target(list(target))
    if name is None:
        raise _fail("give the name of the Workspace to delete", 2)
    store = _store(state_dir)

    def warn(message: str) -> None:
        typer.echo(f"warning: {message}", err=True)

    try:
        launch.delete_workspace(store, name, warn=warn)
    except local_store.StateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f'workspace.kaito.sh "{name}" deleted')


def register(app: typer.Typer) -> None:
    """Add ``run``, ``get``, ``logs`` and ``delete`` to the main app."""
    app.command("run")(run)
    app.command("get")(get)
    app.command("logs")(logs_command)
    app.command("delete")(delete)
