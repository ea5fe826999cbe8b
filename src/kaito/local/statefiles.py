"""How local state is written and read safely: atomic JSON files, lock holders, and the errors.

A record is written to a temporary file in the same folder, flushed to disk and renamed over the
old one (the folder synced too), so a reader in another process never sees half a file and a
crash or a power cut leaves the old or the new version. A full disk (or quota) is told apart from
other write errors, because the supervisor answers it differently (it gives up its reserve to
record the failure).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class StateError(Exception):
    """The state directory has no such Workspace, or its records cannot be read."""


class InvalidNameError(StateError):
    """A value given as a Workspace name is not one (bad usage: it never becomes a path)."""


class UnsafePathError(StateError):
    """A Workspace's folder resolves outside the state directory (a planted symlink)."""


class StateWriteError(StateError):
    """A record could not be written; ``disk_full`` when the disk (or quota) is full."""

    def __init__(self, message: str, *, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


class LockedError(StateError):
    """Another ``kaito run`` of the same name holds the Workspace's lock."""

    def __init__(self, message: str, holder: int | None) -> None:
        super().__init__(message)
        self.holder = holder


def is_disk_full(exc: OSError) -> bool:
    """Whether ``exc`` says the disk (or the user's quota, or the file size limit) is full."""
    return exc.errno in _DISK_FULL_ERRNOS


def describe_write_error(path: Path | str, exc: OSError) -> str:
    """``cannot write PATH: the disk is full (...)`` or the OS's own words."""
    if is_disk_full(exc):
        return f"cannot write {path}: the disk is full ({os.strerror(exc.errno or errno.ENOSPC)})"
    return f"cannot write {path}: {exc.strerror or exc}"


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``; readers see the old or the new file, never half.

    A temporary file in the same folder is written, flushed to disk (fsync) and renamed over
    ``path``; the folder is synced too, so a crash or a power cut leaves the old or the new file.

    Raises:
        StateWriteError: the file cannot be written (``disk_full`` says why); the message names
            the file. The previous version is left as it was.
    """
    payload = (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise StateWriteError(describe_write_error(path, exc), disk_full=is_disk_full(exc)) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_lock_holder(fd: int, pid: int) -> None:
    """Record ``pid`` as the holder in an open lock file (best effort: a full disk is fine)."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{pid}\n".encode(), 0)


def read_lock_holder(path: Path) -> int | None:
    """The pid written in a lock file, if any."""
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
