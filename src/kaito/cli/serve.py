"""``kaito-serve`` / ``kaito serve``: the OpenAI-compatible inference server.

Only parses the command line and reports errors; the server lives in
:mod:`kaito.runtime.inference.server`. Flags follow vLLM's names so the operator's command line
works with either engine; unknown flags go to vLLM (run ``kaito-serve --help`` for ours).
"""

from __future__ import annotations

import sys

import typer

from kaito.runtime.inference import options as serve_options

EXIT_USAGE = 2


def register(app: typer.Typer) -> None:
    """Add ``kaito serve`` to the main app."""

    @app.command(
        "serve",
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "help_option_names": [],
        },
        add_help_option=False,
    )
    def serve(ctx: typer.Context) -> None:
        """Run the OpenAI-compatible inference server (same flags as kaito-serve)."""
        raise typer.Exit(run(list(ctx.args)))


def run(argv: list[str]) -> int:
    """Run the server with ``argv``; return an exit code."""
    if any(arg in ("-h", "--help") for arg in argv):
        serve_options.build_parser().print_help()
        return 0
    try:
        parsed = serve_options.parse_serve_args(argv)
    except serve_options.ServeArgsError as exc:
        print(f"kaito-serve: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from kaito.runtime.inference import server

    return server.run_server(parsed)


def main() -> None:
    """Console-script entry point for ``kaito-serve``."""
    sys.exit(run(sys.argv[1:]))
