"""``kaito crds``: print or write the CustomResourceDefinitions generated from the API types.

``make crds`` writes them to ``config/crd/bases`` and ``make crds-check`` regenerates them into a
temporary directory and diffs, so the committed YAML can never drift from ``kaito.api``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kaito.api import crd, inferenceset_crd
from kaito.cli import output as out


def register(app: typer.Typer) -> None:
    """Add ``kaito crds`` to the main app."""

    @app.command("crds")
    def crds_command(
        output_dir: Annotated[
            Path | None,
            typer.Option(
                "--output-dir",
                help="Write one file per CRD into this directory instead of printing them.",
            ),
        ] = None,
    ) -> None:
        """Print the Workspace and InferenceSet CRDs (YAML), or write them to --output-dir."""
        raise typer.Exit(run_crds(output_dir))


def run_crds(output_dir: Path | None) -> int:
    """Print the CRDs, or write them to ``output_dir``; return the exit code."""
    rendered = {**crd.render_crds(), **inferenceset_crd.render_crd()}
    if output_dir is None:
        for text in rendered.values():
            sys.stdout.write(text)
        return out.EXIT_OK
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            (output_dir / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        return out.fail(f"cannot write CRDs to {output_dir}: {exc.strerror or exc}")
    for name in rendered:
        print(output_dir / name)
    return out.EXIT_OK
