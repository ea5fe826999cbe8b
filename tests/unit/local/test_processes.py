from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from kaito.local import processes

# A parent that starts a grandchild in the same process group, then both sleep.
_FAMILY = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def _wait_for_line(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.strip():
            return text.strip().splitlines()[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing written to {path}")


def test_started_process_logs_to_file_and_reports_its_exit(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "echo.log"
    proc, record = processes.start_process(
        "echo", [sys.executable, "-c", "print('hello from the child')"], log
    )
    proc.wait(timeout=20)

    assert processes.exit_code_of(proc) == 0
    assert "hello from the child" in log.read_text()
    assert record.pid == proc.pid
    assert record.log == str(log)


def test_a_process_runs_in_its_own_process_group(tmp_path: Path) -> None:
    proc, record = processes.start_process(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log"
    )
    try:
        assert os.getpgid(proc.pid) == proc.pid
        assert os.getpgid(proc.pid) != os.getpgid(os.getpid())
        assert processes.record_alive(record)
    finally:
        processes.stop_process(record, grace_seconds=5, handle=proc)
    assert not processes.record_alive(record)


def test_stop_ends_the_whole_group_including_grandchildren(tmp_path: Path) -> None:
    log = tmp_path / "family.log"
    proc, record = processes.start_process("family", [sys.executable, "-c", _FAMILY], log)
    grandchild = int(_wait_for_line(log))
    assert processes.pid_alive(grandchild)

    processes.stop_process(record, grace_seconds=5, handle=proc)

    deadline = time.monotonic() + 5
    while processes.pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.pid_alive(grandchild)
    assert not processes.group_alive(record.pid)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "stubborn.log"
    proc, record = processes.start_process("stubborn", [sys.executable, "-c", stubborn], log)
    _wait_for_line(log)

    started = time.monotonic()
    processes.stop_process(record, grace_seconds=0.5, handle=proc)

    assert proc.returncode == -signal.SIGKILL
    assert processes.exit_code_of(proc) == 137
    assert time.monotonic() - started < 5


def test_a_recorded_pid_with_another_start_time_counts_as_gone(tmp_path: Path) -> None:
    proc, record = processes.start_process(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log"
    )
    try:
        assert record.start_ticks is not None
        reused = record.model_copy(update={"start_ticks": record.start_ticks + 1})
        assert not processes.record_alive(reused)
        # Stopping a reused pid must leave the other program alone.
        processes.stop_process(reused, grace_seconds=0.2)
        assert proc.poll() is None
    finally:
        processes.stop_process(record, grace_seconds=5, handle=proc)


def test_a_dead_pid_is_not_alive(tmp_path: Path) -> None:
    proc, record = processes.start_process(
        "quick", [sys.executable, "-c", "pass"], tmp_path / "q.log"
    )
    proc.wait(timeout=20)

    assert not processes.pid_alive(proc.pid)
    assert not processes.record_alive(record)


def test_a_record_with_an_exit_code_is_not_alive(tmp_path: Path) -> None:
    proc, record = processes.start_process(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log"
    )
    try:
        finished = record.model_copy(update={"exit_code": 0})
        assert not processes.record_alive(finished)
    finally:
        processes.stop_process(record, grace_seconds=5, handle=proc)
