"""Start, watch and stop supervised processes: the kubelet of local mode.

Every runtime command runs in its own session (so its own process group): a Ctrl-C in the terminal
reaches only the supervisor, which then stops each child deliberately, and ``kaito delete`` can
stop a child together with anything it spawned (vLLM's engine, a data loader) by signalling the
group. Output goes to a log file, never to a pipe, so a child keeps running and logging when the
supervisor is gone.

A pid alone is not an identity: after a reboot or a long time the number may belong to another
program. Records therefore keep the kernel's start time of the process (``/proc/<pid>/stat`` field
22); a pid whose start time differs is treated as gone. Zombies count as gone too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from kaito.local.store import ProcessRecord

DEFAULT_STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.05
# /proc/<pid>/stat: field 3 is the state, field 22 the start time (1-based, after the comm field).
_STAT_STATE_INDEX = 0
_STAT_START_INDEX = 19


def _read_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after its closing one.
    closing = raw.rfind(")")
    return raw[closing + 2 :].split() if closing >= 0 else None


def process_start_ticks(pid: int) -> int | None:
    """The kernel start time of ``pid`` in clock ticks, or None where /proc is unavailable."""
    fields = _read_stat(pid)
    if fields is None or len(fields) <= _STAT_START_INDEX:
        return None
    try:
        return int(fields[_STAT_START_INDEX])
    except ValueError:
        return None


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when given, started at ``start_ticks``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _read_stat(pid)
    if fields is None:
        return True  # no /proc: trust kill(0)
    if fields[_STAT_STATE_INDEX] in ("Z", "X"):
        return False
    if start_ticks is not None:
        return process_start_ticks(pid) == start_ticks
    return True


def record_alive(record: ProcessRecord | None) -> bool:
    """Whether the recorded process is still the same running process."""
    if record is None or record.exit_code is not None:
        return False
    return pid_alive(record.pid, record.start_ticks)


def start_process(
    step: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``argv`` in a new session with its output appended to ``log_path``.

    Returns:
        The process handle (for ``wait``/``poll`` by its parent) and the record to persist.

    Raises:
        OSError: the program cannot be started (e.g. not installed).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=str(cwd) if cwd else None,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    record = ProcessRecord(
        step=step,
        pid=proc.pid,
        start_ticks=process_start_ticks(proc.pid),
        argv=list(argv),
        log=str(log_path),
    )
    return proc, record


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except (ProcessLookupError, PermissionError):
        return True  # gone: any survivors would be in the group it led


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Started children lead their own session, so their pid is their process group id. A
    # foreground ``kaito run`` does not (it shares the shell's job group): signal it alone.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if _leads_group(pid):
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def group_alive(pid: int) -> bool:
    """Whether any process of the group led by ``pid`` is still running (zombies excluded)."""
    if not _leads_group(pid):
        return pid_alive(pid)
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _read_stat(int(entry.name))
        # Field 5 (index 2 after the comm) is the process group id.
        if fields and len(fields) > 2 and fields[2] == str(pid) and fields[0] not in ("Z", "X"):
            return True
    return False


def stop_process(
    record: ProcessRecord,
    *,
    grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
    handle: subprocess.Popen[bytes] | None = None,
) -> None:
    """Stop the process and its group: SIGTERM, then SIGKILL after ``grace_seconds``.

    Does nothing when the recorded pid now belongs to another process. ``handle`` (when this
    process is the parent) is reaped so that no zombie is left.
    """
    current = process_start_ticks(record.pid)
    if record.start_ticks is not None and current is not None and current != record.start_ticks:
        return  # the pid now belongs to another program
    if handle is None and not group_alive(record.pid):
        return
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if handle is not None:
            handle.poll()
        if not group_alive(record.pid):
            break
        time.sleep(_POLL_SECONDS)
    else:
        _signal_group(record.pid, signal.SIGKILL)
    if handle is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            handle.wait(timeout=grace_seconds)


def exit_code_of(handle: subprocess.Popen[bytes]) -> int:
    """The shell-style exit code: a process killed by signal N reports 128 + N."""
    code = handle.returncode
    if code is None:
        raise ValueError("the process has not exited")
    return 128 - code if code < 0 else code


def processes_writing_to(folder: Path) -> list[ProcessRecord]:
    """Running processes whose stdout or stderr is a file under ``folder`` (their log folder).

    Every supervised step (and whatever it spawned) writes its output to ``logs/<step>.log``, so
    this finds them without any record: the last resort of ``kaito delete`` when ``run.json`` is
    damaged. Needs ``/proc``; returns nothing without it. This process is never included.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    prefix = str(folder.resolve()) + os.sep
    found: list[ProcessRecord] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        for fd in (1, 2):
            try:
                target = os.readlink(entry / "fd" / str(fd))
            except OSError:
                continue
            if target.startswith(prefix):
                if pid_alive(pid):
                    found.append(
                        ProcessRecord(
                            step=Path(target).stem,
                            pid=pid,
                            start_ticks=process_start_ticks(pid),
                            log=target,
                        )
                    )
                break
    return found
