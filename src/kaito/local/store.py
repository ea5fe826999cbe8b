"""The local state directory: what the API server and the kubelet keep on a cluster.

Each Workspace run with ``kaito run`` gets a folder ``<state>/workspaces/<name>/`` holding:

- ``workspace.json``: the Workspace as ``kubectl get workspace -o json`` would show it (v1beta1,
  with ``metadata.creationTimestamp`` and ``status.conditions``/``status.state``);
- ``run.json``: local bookkeeping: the options of the run, the supervised processes (pid, process
  start time, command line, log file, exit code) and the served endpoint;
- ``logs/<step>.log``: the output of each process; ``mnt/``: the pod's ``/mnt`` (config, data,
  results); ``adapters/``: the adapters directory given to ``kaito-serve``.

Records are written atomically (a temporary file renamed over the old one), so a reader in another
process (``kaito get``) never sees half a file, and a killed writer leaves the previous version.

A name becomes a path only once it is a Workspace name (a DNS-1123 label: no ``/``, no ``..``, no
absolute path), and the folder must resolve to ``<state>/workspaces/<name>`` itself, so neither a
hostile argument (``kaito delete /home/me``) nor a planted symlink can lead a read, a write or a
delete out of the state directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kaito.api import names, v1beta1
from kaito.local.statefiles import InvalidNameError as InvalidNameError
from kaito.local.statefiles import LockedError as LockedError
from kaito.local.statefiles import StateError as StateError
from kaito.local.statefiles import StateWriteError as StateWriteError
from kaito.local.statefiles import UnsafePathError as UnsafePathError
from kaito.local.statefiles import describe_write_error as describe_write_error
from kaito.local.statefiles import is_disk_full as is_disk_full
from kaito.local.statefiles import read_lock_holder as read_lock_holder
from kaito.local.statefiles import write_json_atomic as write_json_atomic
from kaito.local.statefiles import write_lock_holder as write_lock_holder

WORKSPACES_SUBDIR = "workspaces"
WORKSPACE_FILE = "workspace.json"
RUN_FILE = "run.json"
LOGS_SUBDIR = "logs"
MNT_SUBDIR = "mnt"
ADAPTERS_SUBDIR = "adapters"
LOG_SUFFIX = ".log"
RUNNER_STEP = "runner"
PIDS_SUBDIR = "pids"
LOCKS_SUBDIR = "locks"
RESERVE_FILE = ".reserve"
RESERVE_BYTES = 256 * 1024
"""Space set aside per Workspace, freed to record a failure when the disk is full."""
_STEP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


def check_name_errors(name: str) -> list[str]:
    """The problems of ``name`` as a Workspace name (empty when valid)."""
    return names.dns1123_label_errors(name)


def check_name(name: str) -> str:
    """``name`` if it is a valid Workspace name (a DNS-1123 label), else InvalidNameError.

    The message names the value (quoted, so blanks and control characters are visible).
    """
    problems = names.dns1123_label_errors(name) if isinstance(name, str) else ["not a string"]
    if problems:
        raise InvalidNameError(f"{name!r} is not a valid Workspace name: {'; '.join(problems)}")
    return name


class ProcessRecord(BaseModel):
    """One supervised process: enough to find it again, stop it, and explain how it ended."""

    model_config = ConfigDict(extra="ignore")

    step: str = Field(description="The plan step (fetch-data, tune, push, serve, runner...).")
    pid: int = Field(description="Process id; also the process group and session id.")
    start_ticks: int | None = Field(
        default=None, description="Kernel start time of the process, to tell a reused pid apart."
    )
    argv: list[str] = Field(default_factory=list, description="The command line.")
    log: str = Field(default="", description="File receiving stdout and stderr.")
    exit_code: int | None = Field(default=None, description="Exit status once it ended.")


class RunOptions(BaseModel):
    """The ``kaito run`` flags that shape the plan; kept so a detached runner can rebuild it."""

    model_config = ConfigDict(extra="ignore")

    serve: bool = False
    port: int | None = None
    model_dir: str | None = None
    engine: str = "transformers"
    source: str = ""
    """The Workspace file the run came from."""
    tuning_config: str | None = None
    """The resolved training_config.yaml content (tuning only)."""
    inference_config: str | None = None
    """The resolved inference_config.yaml content (inference only)."""


class LocalRun(BaseModel):
    """Local bookkeeping of one Workspace (``run.json``)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    options: RunOptions = Field(default_factory=RunOptions)
    spec_hash: str = ""
    runner: ProcessRecord | None = None
    processes: dict[str, ProcessRecord] = Field(default_factory=dict)
    endpoint: str | None = None
    """Base URL of the local server once it is up (``http://127.0.0.1:5000``)."""
    served_models: list[str] = Field(default_factory=list)
    """Model names the server answers to: the base model first, then each adapter."""
    notes: list[str] = Field(default_factory=list)
    """Things the user should know (e.g. a push skipped because the registry is unreachable)."""


class StateStore:
    """The Workspaces under one state directory, keyed by name.

    Args:
        root: the state directory (``$KAITO_STATE_DIR``, ``~/.kaito`` by default).
    """

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().absolute()

    @property
    def workspaces_dir(self) -> Path:
        """The folder holding one sub-folder per Workspace."""
        return self.root / WORKSPACES_SUBDIR

    def workspace_dir(self, name: str) -> Path:
        """The folder of Workspace ``name`` (not created).

        Raises:
            InvalidNameError: ``name`` is not a Workspace name.
            UnsafePathError: the folder is a link (or under one) leading elsewhere.
        """
        check_name(name)
        path = self.workspaces_dir / name
        base = self.workspaces_dir.resolve()
        resolved = path.resolve()
        if resolved != base / name:
            raise UnsafePathError(
                f"refusing to use {path}: it resolves to {resolved}, outside {base} "
                f"(workspace {name!r}; remove that link by hand if it is not yours)"
            )
        return path

    def mnt_dir(self, name: str) -> Path:
        """The local stand-in for the pod's ``/mnt``."""
        return self.workspace_dir(name) / MNT_SUBDIR

    def adapters_dir(self, name: str) -> Path:
        """The adapters directory given to ``kaito-serve``."""
        return self.workspace_dir(name) / ADAPTERS_SUBDIR

    def log_path(self, name: str, step: str) -> Path:
        """The log file of one step of Workspace ``name``."""
        return self.workspace_dir(name) / LOGS_SUBDIR / f"{step}{LOG_SUFFIX}"

    def log_files(self, name: str) -> list[Path]:
        """Every log file of ``name``: the runner's first, then the steps in the order they ran."""
        folder = self.workspace_dir(name) / LOGS_SUBDIR
        if not folder.is_dir():
            return []

        def order(path: Path) -> tuple[int, float, str]:
            try:
                started = path.stat().st_ctime
            except OSError:
                started = 0.0
            return (0 if path.stem == RUNNER_STEP else 1, started, path.name)

        return sorted(folder.glob(f"*{LOG_SUFFIX}"), key=order)

    def exists(self, name: str) -> bool:
        """Whether a Workspace of that name has a record."""
        return (self.workspace_dir(name) / WORKSPACE_FILE).is_file()

    def names(self) -> list[str]:
        """Names of every recorded Workspace, sorted."""
        if not self.workspaces_dir.is_dir():
            return []
        found = []
        for entry in self.workspaces_dir.iterdir():
            if entry.is_symlink() or names.dns1123_label_errors(entry.name):
                continue  # not one of ours: never followed, never listed
            if (entry / WORKSPACE_FILE).is_file():
                found.append(entry.name)
        return sorted(found)

    def load_workspace(self, name: str) -> v1beta1.Workspace:
        """The recorded Workspace with its status."""
        data = self._read(name, WORKSPACE_FILE)
        try:
            return v1beta1.Workspace.model_validate(data)
        except ValueError as exc:
            raise StateError(f"workspace {name!r}: {WORKSPACE_FILE} is not a Workspace") from exc

    def save_workspace(self, workspace: v1beta1.Workspace) -> None:
        """Record ``workspace`` (its ``metadata.name`` picks the folder)."""
        name = workspace.metadata.name
        if not name:
            raise StateError("a Workspace without metadata.name cannot be recorded")
        write_json_atomic(self.workspace_dir(name) / WORKSPACE_FILE, workspace.to_wire())

    def load_run(self, name: str) -> LocalRun:
        """The local bookkeeping of ``name``."""
        data = self._read(name, RUN_FILE)
        try:
            return LocalRun.model_validate(data)
        except ValueError as exc:
            raise StateError(f"workspace {name!r}: {RUN_FILE} is malformed") from exc

    def save_run(self, run: LocalRun) -> None:
        """Record the local bookkeeping of ``run.name``."""
        write_json_atomic(self.workspace_dir(run.name) / RUN_FILE, run.model_dump(mode="json"))

    def remove(self, name: str) -> None:
        """Delete every file of ``name`` (processes must be stopped first)."""
        shutil.rmtree(self.workspace_dir(name), ignore_errors=True)

    # -- a second record of the processes ---------------------------------------------------------
    def pid_path(self, name: str, step: str) -> Path:
        """``pids/<step>.json``: the pid and start time of one process, apart from ``run.json``."""
        if not step or not set(step) <= _STEP_CHARS or step.startswith("."):
            raise StateError(f"{step!r} is not a step name")
        return self.workspace_dir(name) / PIDS_SUBDIR / f"{step}.json"

    def save_pid(self, name: str, record: ProcessRecord) -> None:
        """Keep the pid and start time of ``record`` in a small file of its own.

        ``run.json`` is rewritten at every transition; these files are written once per process,
        so a damaged ``run.json`` still leaves ``kaito delete`` a way to find what runs.
        """
        data = {"step": record.step, "pid": record.pid, "start_ticks": record.start_ticks}
        write_json_atomic(self.pid_path(name, record.step), data)

    def load_pids(self, name: str) -> tuple[list[ProcessRecord], list[str]]:
        """The readable pid records of ``name``, and a message per unreadable one."""
        folder = self.workspace_dir(name) / PIDS_SUBDIR
        records: list[ProcessRecord] = []
        problems: list[str] = []
        if not folder.is_dir():
            return records, problems
        for path in sorted(folder.glob("*.json")):
            try:
                records.append(ProcessRecord.model_validate_json(path.read_bytes()))
            except (OSError, ValueError) as exc:
                problems.append(f"cannot read {path}: {exc}")
        return records, problems

    # -- space kept for the last word -------------------------------------------------------------
    def reserve_space(self, name: str) -> None:
        """Set aside :data:`RESERVE_BYTES` in the Workspace's folder (best effort)."""
        path = self.workspace_dir(name) / RESERVE_FILE
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)

    def release_reserve(self, name: str) -> bool:
        """Free the reserved space (to record a failure on a full disk); whether there was any."""
        try:
            (self.workspace_dir(name) / RESERVE_FILE).unlink()
        except (OSError, StateError):
            return False
        return True

    # -- one kaito run per name ------------------------------------------------------------------
    def lock_path(self, name: str) -> Path:
        """``<state>/locks/<name>.lock`` (outside the Workspace folder, which delete removes)."""
        check_name(name)
        return self.root / LOCKS_SUBDIR / f"{name}.lock"

    @contextlib.contextmanager
    def run_lock(self, name: str) -> Iterator[int]:
        """Hold the exclusive lock of ``name`` (``fcntl.flock``); yields the lock file's fd.

        The kernel drops the lock when the last descriptor of it is closed, so a killed holder
        never leaves a stale lock; a child given the descriptor (``pass_fds``) keeps holding it.

        Raises:
            LockedError: another process holds it; the message names its pid when known.
            StateWriteError: the lock file cannot be created.
        """
        path = self.lock_path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StateWriteError(
                describe_write_error(path, exc), disk_full=is_disk_full(exc)
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_lock_holder(path)
                # The winner writes its pid right after it takes the lock: wait a moment for it.
                for _ in range(20):
                    if holder:
                        break
                    time.sleep(0.01)
                    holder = read_lock_holder(path)
                who = f"pid {holder}" if holder else "another process"
                raise LockedError(
                    f'workspace "{name}" is being started or run by {who} (lock {path}); '
                    f"see kaito get, or stop it with kaito delete {name}",
                    holder,
                ) from None
            write_lock_holder(fd, os.getpid())
            yield fd
        finally:
            os.close(fd)

    def _read(self, name: str, filename: str) -> Any:
        path = self.workspace_dir(name) / filename
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise StateError(f'workspaces "{name}" not found (no local record)') from exc
        except (OSError, ValueError) as exc:
            raise StateError(f"workspace {name!r}: cannot read {path}: {exc}") from exc
