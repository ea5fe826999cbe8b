"""The ``kaito`` command: registers every command group's Typer app.

Each command group lives in its own module under ``kaito.cli`` and exposes ``register(app)``; this
module only wires them together, so adding a command never touches another command's code.
"""

from __future__ import annotations

import importlib

import typer

import kaito

app = typer.Typer(
    name="kaito",
    help="kaito-py: fine-tune and serve LLMs on Kubernetes (or one machine) from one YAML file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command-group modules, each exposing ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "kaito.cli.serve",
    "kaito.cli.tune",
    "kaito.cli.data",
    "kaito.cli.oci",
    "kaito.cli.render",
    "kaito.cli.presets",
    "kaito.cli.local",
    "kaito.cli.validate",
    "kaito.cli.crds",
    "kaito.cli.operator",
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    """kaito-py command line."""
    if version:
        typer.echo(kaito.__version__)
        raise typer.Exit(0)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()
