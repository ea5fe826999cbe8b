"""The CLI's one output kit: exit codes, ``-o json|yaml`` documents, tables, and error lines.

Every command prints through these, so ``-o json`` looks the same everywhere, errors go to stderr
as ``error: ...``, and the exit codes mean the same thing in every command: 0 done, 1 the input
was understood and refused (invalid, unknown, does not fit), 2 bad usage or unreadable input.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Sequence
from typing import Any

import typer
import yaml

from kaito.api import constants

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CloudName(enum.StrEnum):
    """Clouds with a SKU table (``--cloud``)."""

    AZURE = constants.CLOUD_AZURE
    AWS = constants.CLOUD_AWS
    ARC = constants.CLOUD_ARC


def dump(data: Any, fmt: str, *, indent: int = 2) -> str:
    """``data`` as a JSON or YAML document (keys in the order given), without a final newline."""
    if fmt == "json":
        return json.dumps(data, indent=indent)
    return yaml.safe_dump(data, sort_keys=False).rstrip("\n")


def emit(data: Any, fmt: str, *, indent: int = 2) -> None:
    """Print ``data`` as a JSON or YAML document on stdout."""
    typer.echo(dump(data, fmt, indent=indent))


def error(message: object) -> None:
    """``error: <message>`` on stderr."""
    print(f"error: {message}", file=sys.stderr)


def fail(message: object) -> int:
    """Report a refusal on stderr; the exit code 1."""
    error(message)
    return EXIT_FAILURE


def usage(message: object) -> int:
    """Report bad usage on stderr; the exit code 2."""
    error(message)
    return EXIT_USAGE


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, as ``kubectl get`` prints them."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def pairs(items: Sequence[tuple[str, str]], indent: str = "") -> str:
    """``Key:  value`` lines with the values aligned."""
    width = max(len(key) for key, _ in items) + 1
    return "\n".join(f"{indent}{(key + ':').ljust(width)} {value}" for key, value in items)


def gib(value: float | None) -> str:
    """A memory size, or ``unknown``."""
    return "unknown" if value is None else f"{value:.2f} GiB"


def yes(value: bool) -> str:
    """``yes`` or ``no``."""
    return "yes" if value else "no"
