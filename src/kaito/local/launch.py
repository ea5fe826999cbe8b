"""``kaito run``: prepare a run, and start it in the background.

:func:`prepare_run` is everything that happens before the first process starts: read the file and
its ConfigMaps, validate the Workspace with the same rules as the webhook, refuse what this machine
cannot do, plan the steps (which catches volumes with no local meaning), and record the Workspace
as Pending. A Workspace recorded earlier with the same spec keeps its folder, so an interrupted
tuning run resumes from its checkpoint; a changed spec starts afresh, like a new revision.

:func:`start_detached` hands a prepared run to a background runner. Finding, stopping and
correcting the processes of a record (``kaito delete``, ``kaito get``) is
:mod:`kaito.local.records`; its names are re-exported here for the callers of ``launch``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kaito.api import conditions, constants, gates, v1beta1
from kaito.api.workspace import workspace_runtime
from kaito.local import bundle as local_bundle
from kaito.local import detached, machine, processes, runner, settings, status
from kaito.local import plan as local_plan
from kaito.local import store as local_store
from kaito.local import validation as local_validation
from kaito.local.records import RunError as RunError
from kaito.local.records import age_now as age_now
from kaito.local.records import delete_workspace as delete_workspace
from kaito.local.records import failure_message as failure_message
from kaito.local.records import find_processes as find_processes
from kaito.local.records import is_serving as is_serving
from kaito.local.records import refresh_stale as refresh_stale
from kaito.local.records import running_processes as running_processes
from kaito.local.records import wait_for as wait_for

_PORT_SEARCH = 100
_DETACH_WAIT_S = 2.0
_DAMAGED_HINT = (
    "no process of it is running. kaito delete {name} removes the damaged record (and its "
    "checkpoints), then kaito run starts afresh"
)


@dataclass(frozen=True)
class RunRequest:
    """The flags of ``kaito run``."""

    path: Path
    serve: bool = False
    port: int | None = None
    model_dir: Path | None = None
    feature_gates: Mapping[str, bool] = field(default_factory=dict)
    """The ``--feature-gates`` given; :func:`run_gates` adds local mode's defaults."""


@dataclass
class PreparedRun:
    """A recorded, validated run, ready to execute."""

    name: str
    plan: local_plan.LocalPlan
    resumed: bool
    warnings: list[str] = field(default_factory=list)
    lock_fd: int | None = None
    """The descriptor of the held run lock, when ``prepare_run`` was given a ``hold`` stack."""


def run_gates(request: RunRequest) -> dict[str, bool]:
    """A local run's feature gates: local mode's defaults, then the user's ``--feature-gates``."""
    return {**gates.LOCAL_FEATURE_GATES, **request.feature_gates}


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
    gate_values = run_gates(request)
    errors = local_validation.validate_offline(found, gate_values)
    if errors:
        listing = "\n  ".join(errors)
        raise RunError(f"{request.path}: the Workspace is invalid:\n  {listing}")
    ws = found.workspace
    name = ws.metadata.name or ""
    if local_store.check_name_errors(name):
        raise RunError(f"{request.path}: metadata.name: kaito run needs a valid name, not {name!r}")
    engine = workspace_runtime(ws, gates.gate_enabled(gate_values, constants.FEATURE_VLLM))
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
        status.start(ws, socket.gethostname())
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
        detached.detached_command(store.root, name, lock_fd=lock_fd),
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
