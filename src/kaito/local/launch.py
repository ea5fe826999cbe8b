"""``kaito run``, ``kaito delete`` and the stale-process check behind ``kaito get``.

:func:`prepare_run` is everything that happens before the first process starts: read the file and
its ConfigMaps, validate the Workspace with the same rules as the webhook, refuse what this machine
cannot do, plan the steps (which catches volumes with no local meaning), and record the Workspace
as Pending. A Workspace recorded earlier with the same spec keeps its folder, so an interrupted
tuning run resumes from its checkpoint; a changed spec starts afresh, like a new revision.

:func:`start_detached` hands a prepared run to a background runner; :func:`delete_workspace`
stops every recorded process group and removes the record; :func:`refresh_stale` corrects a
record whose supervisor died without writing an outcome (a crash, a reboot, SIGKILL).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kaito.api import conditions, constants, v1beta1
from kaito.local import bundle as local_bundle
from kaito.local import machine, processes, runner, settings, status
from kaito.local import plan as local_plan
from kaito.local import store as local_store
from kaito.local import validation as local_validation

_PORT_SEARCH = 100
_DETACH_WAIT_S = 2.0
_DAMAGED_HINT = (
    "no process of it is running. kaito delete {name} removes the damaged record (and its "
    "checkpoints), then kaito run starts afresh"
)


class RunError(Exception):
    """``kaito run`` cannot start; ``exit_code`` 1 (invalid, refused) or 2 (unreadable input)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class RunRequest:
    """The flags of ``kaito run``."""

    path: Path
    serve: bool = False
    port: int | None = None
    model_dir: Path | None = None


@dataclass
class PreparedRun:
    """A recorded, validated run, ready to execute."""

    name: str
    plan: local_plan.LocalPlan
    resumed: bool
    warnings: list[str] = field(default_factory=list)
    lock_fd: int | None = None
    """The descriptor of the held run lock, when ``prepare_run`` was given a ``hold`` stack."""


def engine_for(ws: v1beta1.Workspace) -> str:
    """``kaito-serve --engine``: the ``kaito.sh/runtime`` annotation, else ``transformers``.

    Upstream defaults to vLLM because its nodes have GPUs; on one machine the transformers engine
    runs everywhere, so it is the local default and vLLM is opt-in.
    """
    value = ws.metadata.annotations.get(constants.ANNOTATION_RUNTIME, "").strip().lower()
    return (
        constants.RUNTIME_VLLM
        if value == constants.RUNTIME_VLLM
        else constants.RUNTIME_TRANSFORMERS
    )


def spec_hash(ws: v1beta1.Workspace, options: local_store.RunOptions) -> str:
    """A digest of what changes the work: the spec, the model override and the configs."""
    wire = ws.to_wire()
    material = {
        "resource": wire.get("resource"),
        "inference": wire.get("inference"),
        "tuning": wire.get("tuning"),
        "modelDir": options.model_dir,
        "tuningConfig": options.tuning_config,
        "inferenceConfig": options.inference_config,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def free_port(start: int = local_plan.DEFAULT_PORT) -> int:
    """The first port from ``start`` that can be bound on the loopback interface."""
    for port in range(start, start + _PORT_SEARCH):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((local_plan.LOCAL_HOST, port))
            except OSError:
                continue
            return port
    raise RunError(f"no free port in {start}-{start + _PORT_SEARCH - 1}; pass --port")


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


def prepare_run(
    store: local_store.StateStore,
    request: RunRequest,
    *,
    local: settings.LocalSettings,
    facts: machine.MachineFacts | None = None,
    hold: contextlib.ExitStack | None = None,
) -> PreparedRun:
    """Validate, check the machine, plan and record a run (see the module docstring).

    Args:
        store: the state directory.
        request: the ``kaito run`` flags.
        local: local-mode settings.
        facts: the machine's facts; probed when not given.
        hold: when given, the Workspace's run lock is taken on it before the record is looked
            at, and stays held until the caller closes the stack (the run's whole life).

    Raises:
        RunError: unreadable or invalid file, a refusal, the Workspace already running (or
            being started by another ``kaito run``), a damaged record, or a full disk.
    """
    try:
        found = local_bundle.load_bundle(request.path)
    except local_bundle.BundleError as exc:
        raise RunError(str(exc), exc.exit_code) from exc
    errors = local_validation.validate_offline(found)
    if errors:
        listing = "\n  ".join(errors)
        raise RunError(f"{request.path}: the Workspace is invalid:\n  {listing}")
    ws = found.workspace
    name = ws.metadata.name or ""
    if local_store.check_name_errors(name):
        raise RunError(f"{request.path}: metadata.name: kaito run needs a valid name, not {name!r}")
    engine = engine_for(ws)
    model_dir = request.model_dir.expanduser().resolve() if request.model_dir else None
    if model_dir is not None and not (model_dir / "config.json").is_file():
        raise RunError(f"--model-dir {model_dir} is not a model folder (no config.json)", 2)
    try:
        needs = machine.describe_needs(ws, engine=engine, model_dir=model_dir)
    except ValueError as exc:  # PresetError
        raise RunError(str(exc)) from exc
    if facts is None:
        facts = machine.probe_machine(local, need_hub=not needs.local_weights)
    refusals, warnings = machine.plan_refusals(needs, facts)
    warnings = [*found.notes, *warnings]
    if refusals:
        raise RunError("cannot run here: " + "\n  ".join(refusals))
    try:
        options = local_store.RunOptions(
            serve=request.serve or ws.inference is not None,
            port=request.port,
            model_dir=str(model_dir) if model_dir else None,
            engine=engine,
            source=str(request.path),
            tuning_config=local_bundle.resolve_tuning_config(found) if ws.tuning else None,
            inference_config=local_bundle.resolve_inference_config(found),
        )
    except local_bundle.BundleError as exc:
        raise RunError(str(exc), exc.exit_code) from exc

    digest = spec_hash(ws, options)
    lock_fd: int | None = None
    try:
        if hold is not None:
            lock_fd = hold.enter_context(store.run_lock(name))
        previous = _previous_run(store, name, digest)
    except local_store.StateError as exc:
        raise RunError(str(exc)) from exc
    resumed = previous is not None
    if options.serve and options.port is None:
        options.port = free_port()

    ws.metadata.namespace = ws.metadata.namespace or "default"
    ws.metadata.generation = 1
    if previous is not None:
        ws.metadata.creation_timestamp = previous.metadata.creation_timestamp
        ws.metadata.uid = previous.metadata.uid
        ws.status = previous.status
    else:
        ws.metadata.creation_timestamp = conditions.now_timestamp()
        ws.metadata.uid = hashlib.sha256(f"{name}{time.time_ns()}".encode()).hexdigest()[:32]
    keep_success = (
        previous is not None
        and ws.tuning is not None
        and ws.status is not None
        and ws.status.state == constants.STATE_SUCCEEDED
    )
    if not keep_success:
        status.mark_created(ws, socket.gethostname())
    run = local_store.LocalRun(name=name, options=options, spec_hash=digest)
    try:
        plan = runner.build_plan(ws, store, run)
    except local_plan.PlanError as exc:
        raise RunError(str(exc)) from exc
    try:
        store.save_workspace(ws)
        store.save_run(run)
    except local_store.StateError as exc:
        raise RunError(str(exc)) from exc
    store.reserve_space(name)
    return PreparedRun(name=name, plan=plan, resumed=resumed, warnings=warnings, lock_fd=lock_fd)


def _previous_run(
    store: local_store.StateStore, name: str, digest: str
) -> v1beta1.Workspace | None:
    """The recorded Workspace to resume (same spec), else None after clearing any old record.

    Raises:
        local_store.StateError: the Workspace still runs, or its record is damaged (the
            message names the file, and the processes found some other way).
    """
    if not store.workspace_dir(name).is_dir():
        return None
    run_path = store.workspace_dir(name) / local_store.RUN_FILE
    damaged = ""
    try:
        old_run: local_store.LocalRun | None = store.load_run(name)
    except local_store.StateError as exc:
        old_run = None
        damaged = str(exc) if run_path.exists() else f"workspace {name!r}: {run_path} is missing"
    alive, _ = find_processes(store, name, old_run)
    if alive:
        pids = ", ".join(f"{r.step} pid {r.pid}" for r in alive)
        raise local_store.StateError(
            f'workspace "{name}" is already running ({pids}); '
            f"see kaito get, or stop it with kaito delete {name}"
        )
    if old_run is None:
        if not store.exists(name) and not run_path.exists():
            store.remove(name)  # a folder without records: an interrupted first start
            return None
        raise local_store.StateError(f"{damaged}; {_DAMAGED_HINT.format(name=name)}")
    if old_run.spec_hash != digest:
        store.remove(name)
        return None
    try:
        return store.load_workspace(name)
    except local_store.StateError as exc:
        raise local_store.StateError(f"{exc}; {_DAMAGED_HINT.format(name=name)}") from exc


def start_detached(
    store: local_store.StateStore, name: str, *, lock_fd: int | None = None
) -> local_store.ProcessRecord:
    """Start the runner for ``name`` in the background; its output goes to ``logs/runner.log``.

    ``lock_fd`` (the held run lock) is handed to the runner, which keeps the lock for its life.

    Raises:
        RunError: the runner exited at once (its log's last line is in the message).
    """
    log = store.log_path(name, runner.STEP_RUNNER)
    proc, record = processes.start_process(
        runner.STEP_RUNNER,
        runner.detached_command(store.root, name, lock_fd=lock_fd),
        log,
        pass_fds=(lock_fd,) if lock_fd is not None else (),
    )
    deadline = time.monotonic() + _DETACH_WAIT_S
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            tail = log.read_text(errors="replace").strip().splitlines()
            last = tail[-1] if tail else f"exit code {code}"
            raise RunError(f"the background runner for {name} stopped at once: {last}")
        with contextlib.suppress(local_store.StateError):
            run = store.load_run(name)
            if run.runner is not None and run.runner.pid == proc.pid:
                break
        time.sleep(0.05)
    # The runner outlives this process by design; forget the handle without waiting.
    proc.returncode = 0
    return record


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
        if cond.status == constants.CONDITION_FALSE and cond.message:
            return cond.message
    return "no detail recorded"


def is_serving(ws: v1beta1.Workspace) -> bool:
    """``InferenceReady`` is true: the local server answers."""
    return conditions.is_condition_true(
        ws.status.conditions if ws.status else [], constants.CONDITION_INFERENCE_READY
    )
