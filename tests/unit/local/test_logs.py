from __future__ import annotations

import sys
import threading
import time

import pytest

from kaito.local import logs, processes
from kaito.local import store as local_store


def _write(store: local_store.StateStore, step: str, text: str) -> None:
    path = store.log_path("w", step)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(text)


def test_logs_print_each_step_under_a_header(store: local_store.StateStore) -> None:
    _write(store, "runner", "==> fine-tuning\n")
    _write(store, "tune", "step 1\nstep 2\n")
    seen: list[str] = []

    logs.stream_logs(store, "w", seen.append)

    assert seen == ["==> runner <==", "==> fine-tuning", "==> tune <==", "step 1\nstep 2"]


def test_logs_of_one_step(store: local_store.StateStore) -> None:
    _write(store, "runner", "x\n")
    _write(store, "tune", "only this\n")
    seen: list[str] = []

    logs.stream_logs(store, "w", seen.append, step="tune")

    assert seen == ["only this"]
    with pytest.raises(local_store.StateError, match="no log for step 'serve'"):
        logs.stream_logs(store, "w", seen.append, step="serve")


def test_follow_prints_new_output_until_the_supervisor_is_gone(
    store: local_store.StateStore, tmp_path: object
) -> None:
    _write(store, "runner", "started\n")
    proc, record = processes.start_process(
        "runner",
        [sys.executable, "-c", "import time; time.sleep(1.5)"],
        store.workspace_dir("w") / "sleep.log",
    )
    store.save_run(local_store.LocalRun(name="w", runner=record))
    seen: list[str] = []

    def later() -> None:
        time.sleep(0.5)
        _write(store, "serve", "ready\n")

    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    logs.stream_logs(store, "w", seen.append, follow=True, poll_seconds=0.05)
    writer.join()
    proc.wait(timeout=10)

    assert "ready" in seen
    assert "==> serve <==" in seen
    assert time.monotonic() - started >= 1.0  # it waited for the supervisor to end


def test_logs_of_an_unknown_workspace_fail(store: local_store.StateStore) -> None:
    with pytest.raises(local_store.StateError, match='"w" not found'):
        logs.stream_logs(store, "w", print)
