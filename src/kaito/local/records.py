"""What a local run left behind, and what of it still runs: find, stop, correct, wait.

``kaito get``, ``kaito delete`` and the tests read a Workspace's record from any terminal. The
processes of a run are found from every place that can tell (``run.json``, the ``pids/`` records,
the processes writing to the Workspace's log folder), so a damaged record never hides one;
:func:`refresh_stale` corrects a record whose supervisor died without writing an outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable

from kaito.api import conditions, constants, reasons, v1beta1
from kaito.local import processes, status
from kaito.local import store as local_store


class RunError(Exception):
    """``kaito run`` cannot start, or its Workspace failed.

    ``exit_code``: 1 invalid, refused or failed; 2 unreadable input.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def running_processes(run: local_store.LocalRun) -> list[local_store.ProcessRecord]:
    """The recorded processes (runner included) that still run."""
    records = [run.runner, *run.processes.values()]
    return [r for r in records if r is not None and processes.record_alive(r)]


def find_processes(
    store: local_store.StateStore, name: str, run: local_store.LocalRun | None
) -> tuple[list[local_store.ProcessRecord], list[str]]:
    """Every running process of ``name``, from all three places that can tell, runner first.

    ``run.json`` (when readable), the ``pids/`` records written once per process, and the
    processes whose output goes to the Workspace's log folder. Returns the live ones (one per
    pid) and a message per record that could not be read.
    """
    candidates: list[local_store.ProcessRecord] = []
    if run is not None:
        candidates += [r for r in [run.runner, *run.processes.values()] if r is not None]
    from_pids, problems = store.load_pids(name)
    candidates += from_pids
    candidates += processes.processes_writing_to(
        store.workspace_dir(name) / local_store.LOGS_SUBDIR
    )
    found: dict[int, local_store.ProcessRecord] = {}
    for record in candidates:
        if record.pid in found or record.pid == os.getpid():
            continue
        if processes.record_alive(record):
            found[record.pid] = record
    alive = sorted(found.values(), key=lambda r: r.step != local_store.RUNNER_STEP)
    return alive, problems


def delete_workspace(
    store: local_store.StateStore,
    name: str,
    *,
    grace_seconds: float = processes.DEFAULT_STOP_GRACE_SECONDS,
    warn: Callable[[str], None] | None = None,
) -> list[int]:
    """Stop every process of ``name`` (runner first, then each step) and remove its record.

    The processes are found even when ``run.json`` is damaged (see :func:`find_processes`);
    ``warn`` hears about each record that could not be read. The record is removed only once
    nothing of the Workspace runs any more, so a process is never left with nothing to find it by.

    Returns:
        The pids that were still running.

    Raises:
        local_store.StateError: no such Workspace, or a process survived (named with its pid).
    """
    if not store.workspace_dir(name).is_dir():
        raise local_store.StateError(f'workspaces "{name}" not found')
    problems: list[str] = []
    try:
        run: local_store.LocalRun | None = store.load_run(name)
    except local_store.StateError as exc:
        run = None
        problems.append(str(exc))
    alive, unreadable = find_processes(store, name, run)
    problems += unreadable
    if warn is not None:
        for problem in problems:
            warn(f"{problem} (looked for the processes elsewhere)")
    for record in alive:
        processes.stop_process(record, grace_seconds=grace_seconds)
    survivors, _ = find_processes(store, name, run)
    if survivors:
        pids = ", ".join(f"{r.step} pid {r.pid}" for r in survivors)
        raise local_store.StateError(
            f'workspace "{name}": {pids} still running after SIGKILL; its record is kept'
        )
    store.remove(name)
    return [r.pid for r in alive]


def refresh_stale(store: local_store.StateStore, name: str) -> v1beta1.Workspace:
    """The recorded Workspace, corrected when its supervisor died without recording an outcome."""
    ws = store.load_workspace(name)
    if not status.is_active(ws):
        return ws
    try:
        run = store.load_run(name)
    except local_store.StateError:
        return ws
    if run.runner is None or run.runner.exit_code is not None or processes.record_alive(run.runner):
        return ws
    # Re-read: the runner may have written its outcome just before exiting.
    ws = store.load_workspace(name)
    if not status.is_active(ws):
        return ws
    status.mark_runner_lost(
        ws,
        f"the local runner (pid {run.runner.pid}) is no longer running; "
        f"kaito run -f {run.options.source} starts it again",
    )
    # A full disk must not hide the corrected status: show it even when it cannot be recorded.
    with contextlib.suppress(local_store.StateError):
        store.save_workspace(ws)
    return ws


def age_now() -> dt.datetime:
    """The current time for the Age column."""
    return dt.datetime.now(dt.UTC)


def wait_for(
    store: local_store.StateStore,
    name: str,
    predicate: Callable[[v1beta1.Workspace], bool],
    *,
    timeout_s: float,
    poll_s: float = 0.5,
) -> v1beta1.Workspace:
    """Poll the record until ``predicate`` holds (used by the demo and the tests).

    Raises:
        RunError: the Workspace failed (state Failed or NotReady) before the predicate held.
        TimeoutError: it did not happen in time; the message names the last state.
    """
    deadline = time.monotonic() + timeout_s
    ws = refresh_stale(store, name)
    while True:
        if predicate(ws):
            return ws
        state = ws.status.state if ws.status else None
        if state in (constants.STATE_FAILED, constants.STATE_NOT_READY):
            raise RunError(f"workspace {name} is {state}: {failure_message(ws)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"workspace {name} is still {state} after {timeout_s:.0f}s")
        time.sleep(poll_s)
        ws = refresh_stale(store, name)


def failure_message(ws: v1beta1.Workspace) -> str:
    """The message of the first false condition that explains a failure."""
    for cond in ws.status.conditions if ws.status else []:
        if cond.status == reasons.CONDITION_FALSE and cond.message:
            return cond.message
    return "no detail recorded"


def is_serving(ws: v1beta1.Workspace) -> bool:
    """``InferenceReady`` is true: the local server answers."""
    return conditions.is_condition_true(
        ws.status.conditions if ws.status else [], reasons.CONDITION_INFERENCE_READY
    )
