"""``kaito-tune`` / ``kaito tune``: the fine-tuning runtime (built in the tuning runtime issue)."""

from __future__ import annotations

import sys

import typer


def register(app: typer.Typer) -> None:
    """Add ``kaito tune`` to the main app."""

    @app.command(
        "tune", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )
    def tune(ctx: typer.Context) -> None:
        """Fine-tune a model with LoRA or QLoRA."""
        raise typer.Exit(run(list(ctx.args)))


def run(argv: list[str]) -> int:
    """Run tuning with ``argv``; return an exit code."""
    print("kaito-tune: not implemented yet", file=sys.stderr)
    return 2


def main() -> None:
    """Console-script entry point for ``kaito-tune``."""
    sys.exit(run(sys.argv[1:]))
