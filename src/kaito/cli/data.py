"""``kaito fetch-data``: the tuning Job's data downloader (upstream's ``data-downloader``).

Parses flags (or upstream's ``DATA_URLS`` / ``DATA_VOLUME_PATH`` environment), calls
:func:`kaito.runtime.artifacts.fetch_files` and prints one line per file. Exit 1 when any file
fails to arrive or a URL is refused, 2 for unusable arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

_HELP = (
    "Download dataset files over http(s) into a folder.\n\n"
    "Each file is named after the last segment of its URL path. Loopback, private, link-local "
    "and cloud metadata addresses are refused (also after redirects) unless --allow-private, "
    "which never unlocks metadata or link-local addresses (nor an IPv6 address embedding one: "
    "NAT64, 6to4, Teredo). Fails unless every file arrives non-empty with HTTP 200, within "
    "--timeout seconds (all tries of the file together) and --max-bytes (a partial file is "
    "deleted)."
)


def fetch_data(
    urls: Annotated[
        list[str] | None,
        typer.Argument(help="http(s) URLs (default: $DATA_URLS, space or comma separated)."),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest", "-d", help="Target folder (default: $DATA_VOLUME_PATH or /mnt/data)."
        ),
    ] = None,
    allow_private: Annotated[
        bool,
        typer.Option("--allow-private", help="Allow loopback and private addresses (tests)."),
    ] = False,
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="Tries per file.")] = 3,
    retry_delay: Annotated[
        float, typer.Option("--retry-delay", min=0.0, help="Seconds before the first retry.")
    ] = 2.0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Deadline per file in seconds: connecting, redirects, reading and retries.",
        ),
    ] = 1800.0,
    max_bytes: Annotated[
        int,
        typer.Option("--max-bytes", min=1, help="Refuse a file larger than N bytes (10 GiB)."),
    ] = 10 * 1024**3,
) -> None:
    """Download dataset files (see --help)."""
    from kaito.runtime.artifacts import ArtifactError, FetchOptions, fetch_files, settings

    targets = list(urls or settings.data_urls_from_env())
    if not targets:
        print("kaito fetch-data: error: no URLs given (arguments or $DATA_URLS)", file=sys.stderr)
        raise typer.Exit(2)
    options = FetchOptions(
        allow_private=allow_private,
        attempts=attempts,
        retry_delay_seconds=retry_delay,
        timeout_seconds=timeout,
        max_bytes=max_bytes,
    )
    try:
        fetched = fetch_files(targets, dest or settings.data_dest_from_env(), options)
    except ArtifactError as exc:
        print(f"kaito fetch-data: error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    for item in fetched:
        print(f"fetched {item.url} -> {item.path} ({item.size} bytes)")


def register(app: typer.Typer) -> None:
    """Add ``kaito fetch-data`` to the main app."""
    app.command("fetch-data", help=_HELP)(fetch_data)
