"""``python -m kaito.local.detached NAME``: the background runner ``kaito run --detach`` starts.

It runs one prepared Workspace with :class:`kaito.local.runner.Runner`, its messages going to
stdout (the runner's log file), and holds the run lock it inherited for its whole life.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kaito.local import runner, settings
from kaito.local import store as local_store


def detached_command(state_dir: Path, name: str, *, lock_fd: int | None = None) -> list[str]:
    """The command ``kaito run --detach`` starts: this module, for one Workspace.

    ``lock_fd``: the run lock's descriptor, inherited by the runner, which holds it for its life.
    """
    argv = [sys.executable, "-m", "kaito.local.detached", "--state-dir", str(state_dir)]
    if lock_fd is not None:
        argv += ["--lock-fd", str(lock_fd)]
    return [*argv, name]


def main(argv: list[str] | None = None) -> int:
    """``python -m kaito.local.detached [--state-dir DIR] NAME``: run a prepared Workspace."""
    parser = argparse.ArgumentParser(prog="python -m kaito.local.detached")
    parser.add_argument("name")
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.state_dir or settings.load_local_settings().state_dir
    store = local_store.StateStore(root)
    if args.lock_fd is not None:
        # The inherited run lock: kept open (held) until this process exits; name us its holder.
        local_store.write_lock_holder(args.lock_fd, os.getpid())

    def echo(message: str) -> None:
        print(message, flush=True)  # noqa: T201 - stdout is the runner's log file

    try:
        job = runner.Runner(store, args.name, echo=echo, follow_logs=False)
    except local_store.StateError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return job.run()


if __name__ == "__main__":
    sys.exit(main())
