"""``kaito logs``: the output of a local Workspace's processes, optionally followed.

Each step writes ``logs/<step>.log``; this prints them in the order the steps ran, each under a
``==> step <==`` header (as ``tail`` does for several files). Following keeps printing new output,
including files of steps that start later, until the supervisor is gone and nothing more arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kaito.local import processes
from kaito.local import store as local_store

Echo = Callable[[str], None]
_POLL_SECONDS = 0.3


def _header(path: Path) -> str:
    return f"==> {path.stem} <=="


def stream_logs(
    store: local_store.StateStore,
    name: str,
    echo: Echo,
    *,
    follow: bool = False,
    step: str | None = None,
    poll_seconds: float = _POLL_SECONDS,
) -> None:
    """Print the logs of ``name`` (one step's with ``step``); keep going with ``follow``.

    Raises:
        local_store.StateError: no such Workspace, or no such step.
    """
    if not store.workspace_dir(name).is_dir():
        raise local_store.StateError(f'workspaces "{name}" not found')
    offsets: dict[Path, int] = {}
    last_header: Path | None = None

    def files() -> list[Path]:
        found = store.log_files(name)
        return [p for p in found if p.stem == step] if step else found

    if step and not files() and not follow:
        raise local_store.StateError(f"workspace {name} has no log for step {step!r}")

    def pump() -> bool:
        nonlocal last_header
        printed = False
        for path in files():
            try:
                with path.open("rb") as handle:
                    handle.seek(offsets.get(path, 0))
                    chunk = handle.read()
            except OSError:
                continue
            if not chunk:
                continue
            offsets[path] = offsets.get(path, 0) + len(chunk)
            if step is None and last_header != path:
                echo(_header(path))
                last_header = path
            text = chunk.decode("utf-8", errors="replace").rstrip("\n")
            echo(text)
            printed = True
        return printed

    pump()
    if not follow:
        return
    while True:
        printed = pump()
        if not printed and not _supervisor_alive(store, name):
            pump()
            return
        time.sleep(poll_seconds)


def _supervisor_alive(store: local_store.StateStore, name: str) -> bool:
    try:
        run = store.load_run(name)
    except local_store.StateError:
        return False
    records = [run.runner, *run.processes.values()]
    return any(processes.record_alive(r) for r in records if r is not None)
