"""``kaito-serve`` / ``kaito serve``: the inference server (built in the inference runtime issue)."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    """Add ``kaito serve`` to the main app."""

    @app.command(
        "serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )
    def serve(ctx: typer.Context) -> None:
        """Run the OpenAI-compatible inference server."""
        raise typer.Exit(run(list(ctx.args)))


def run(argv: list[str]) -> int:
    """Run the server with ``argv``; return an exit code."""
    print("kaito-serve: not implemented yet", file=sys.stderr)
    return 2


def main() -> None:
    """Console-script entry point for ``kaito-serve``."""
    sys.exit(run(sys.argv[1:]))
