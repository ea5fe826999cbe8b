"""``kaito push`` / ``kaito pull``: a LoRA adapter as an OCI artifact in upstream's layout.

``kaito push DIR REF --wait-for DIR/fine_tuning_completed.txt`` is the tuning Job's pusher
sidecar; ``kaito pull REF DIR`` fetches an adapter for serving or inspection. Logic lives in
:mod:`kaito.runtime.artifacts`; exit 1 on any registry or layout failure (wrong credentials say
"authentication failed for <registry>").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

_PUSH_HELP = (
    "Push the adapter in DIR (adapter_config.json, adapter_model.safetensors) to REF.\n\n"
    "The artifact has one gzipped tar layer holding data/<files> and the manifest annotation "
    "sh.kaito.model.name=<base model>. Credentials: --username/--password, else the docker "
    "config.json (--docker-config, $DOCKER_CONFIG or ~/.docker)."
)
_PULL_HELP = (
    "Pull the adapter at REF into DIR (byte-identical to what was pushed).\n\n"
    "Files are unpacked into a private folder first and moved into DIR only when the whole "
    "adapter arrived within --max-bytes/--max-files (a planted symlink in DIR is replaced, "
    "never written through; DIR itself must not be a symlink). Credentials are sent to a "
    "Bearer token service only on the registry's own host or a --trust-token-host over HTTPS."
)

DockerConfig = Annotated[
    list[Path] | None,
    typer.Option(
        "--docker-config",
        help="docker config.json holding registry credentials; repeat for several pull "
        "secrets (the first with credentials for the registry wins).",
    ),
]
Username = Annotated[str | None, typer.Option("--username", "-u", help="Registry user.")]
Password = Annotated[
    str | None, typer.Option("--password", "-p", help="Registry password or token.")
]
Insecure = Annotated[
    bool, typer.Option("--insecure", help="Do not verify the registry's TLS certificate.")
]
PlainHttp = Annotated[bool, typer.Option("--plain-http", help="Use HTTP instead of HTTPS.")]
Attempts = Annotated[
    int, typer.Option("--attempts", min=1, help="Tries per request on network errors and 5xx.")
]
TrustTokenHost = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-token-host",
        help="A host (besides the registry's own) whose HTTPS token service may receive the "
        "credentials when the registry's Bearer challenge names it; repeatable.",
    ),
]


def push(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Folder with the adapter.")],
    ref: Annotated[str, typer.Argument(metavar="REF", help="registry/repository:tag")],
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model", help="Base model name for the sh.kaito.model.name annotation."
        ),
    ] = None,
    wait_for: Annotated[
        Path | None,
        typer.Option("--wait-for", help="Wait until this file exists before pushing (sidecar)."),
    ] = None,
    wait_timeout: Annotated[
        float, typer.Option("--wait-timeout", min=0.0, help="Give up waiting after N s (0: never).")
    ] = 0.0,
    docker_config: DockerConfig = None,
    username: Username = None,
    password: Password = None,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    attempts: Attempts = 4,
    trust_token_host: TrustTokenHost = None,
) -> None:
    """Push an adapter folder to an OCI registry (see --help)."""
    from kaito.runtime.artifacts import ArtifactError, push_adapter, wait_for_file

    auth = _auth(
        docker_config, username, password, insecure, plain_http, attempts, trust_token_host
    )
    try:
        if wait_for is not None:
            print(f"waiting for {wait_for}", file=sys.stderr, flush=True)
            wait_for_file(wait_for, timeout_seconds=wait_timeout)
        digest = push_adapter(directory, ref, base_model=base_model, auth=auth)
    except ArtifactError as exc:
        print(f"kaito push: error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"pushed {ref}@{digest}")


def pull(
    ref: Annotated[str, typer.Argument(metavar="REF", help="registry/repository:tag or @digest")],
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Target folder.")],
    docker_config: DockerConfig = None,
    username: Username = None,
    password: Password = None,
    insecure: Insecure = False,
    plain_http: PlainHttp = False,
    attempts: Attempts = 4,
    trust_token_host: TrustTokenHost = None,
    max_bytes: Annotated[
        int,
        typer.Option(
            "--max-bytes", min=1, help="Refuse an adapter whose layers exceed N bytes (20 GiB)."
        ),
    ] = 20 * 1024**3,
    max_files: Annotated[
        int, typer.Option("--max-files", min=1, help="Refuse layers with more tar entries.")
    ] = 10_000,
) -> None:
    """Pull an adapter from an OCI registry (see --help)."""
    from kaito.runtime.artifacts import ArtifactError, PullLimits, pull_adapter

    auth = _auth(
        docker_config, username, password, insecure, plain_http, attempts, trust_token_host
    )
    limits = PullLimits(max_bytes=max_bytes, max_files=max_files)
    try:
        target = pull_adapter(ref, directory, auth=auth, limits=limits)
    except ArtifactError as exc:
        print(f"kaito pull: error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"pulled {ref} -> {target}")


def _auth(
    docker_config: list[Path] | None,
    username: str | None,
    password: str | None,
    insecure: bool,
    plain_http: bool,
    attempts: int,
    trust_token_host: list[str] | None,
) -> Any:
    from kaito.runtime.artifacts import RegistryAuth

    return RegistryAuth(
        username=username,
        password=password,
        docker_configs=tuple(docker_config or ()),
        insecure=insecure,
        plain_http=plain_http,
        attempts=attempts,
        trusted_token_hosts=tuple(trust_token_host or ()),
    )


def register(app: typer.Typer) -> None:
    """Add ``kaito push`` and ``kaito pull`` to the main app."""
    app.command("push", help=_PUSH_HELP)(push)
    app.command("pull", help=_PULL_HELP)(pull)
