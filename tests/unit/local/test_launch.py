from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kaito.api import conditions, constants, reasons
from kaito.local import launch, machine, processes, settings, status
from kaito.local import store as local_store
from tests.unit.local.conftest import tuning_yaml

LOCAL = settings.LocalSettings(
    state_dir=Path("/unused"), hf_offline=True, hf_endpoint="https://huggingface.co", device="cpu"
)


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "ws.yaml"
    path.write_text(text)
    return path


def _prepare(
    store: local_store.StateStore, path: Path, facts: machine.MachineFacts, **kw: object
) -> launch.PreparedRun:
    request = launch.RunRequest(path=path, **kw)  # type: ignore[arg-type]
    return launch.prepare_run(store, request, local=LOCAL, facts=facts)


def _sleeper(tmp_path: Path, step: str) -> local_store.ProcessRecord:
    _, record = processes.start_process(
        step, [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / f"{step}.log"
    )
    return record


def test_prepare_records_a_pending_workspace_with_its_plan(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    prepared = _prepare(store, _write(tmp_path, tuning_yaml()), roomy_machine)

    ws = store.load_workspace("tune-me")
    assert ws.status is not None
    assert ws.status.state == constants.STATE_PENDING
    assert conditions.is_condition_true(ws.status.conditions, reasons.CONDITION_RESOURCE_READY)
    assert ws.metadata.creation_timestamp
    run = store.load_run("tune-me")
    assert run.options.tuning_config is not None
    assert "training_config" in run.options.tuning_config
    assert [s.name for s in prepared.plan.steps] == ["tune"]
    assert not prepared.resumed


def test_an_invalid_workspace_is_refused_with_the_field_path(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    path = _write(tmp_path, tuning_yaml(method="sgd"))

    with pytest.raises(launch.RunError, match=r"tuning.method") as caught:
        _prepare(store, path, roomy_machine)
    assert caught.value.exit_code == 1
    assert not store.exists("tune-me")


def test_a_machine_refusal_stops_before_anything_is_recorded(
    store: local_store.StateStore, tmp_path: Path
) -> None:
    small = machine.MachineFacts(
        memory_gib=0.5, has_gpu=False, vllm_installed=False, hub_reachable=True
    )

    with pytest.raises(
        launch.RunError, match=r"needs about .* GiB of memory, this machine has 0.5"
    ):
        _prepare(store, _write(tmp_path, tuning_yaml()), small)
    assert store.names() == []


def test_a_running_workspace_cannot_be_started_twice(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    path = _write(tmp_path, tuning_yaml())
    _prepare(store, path, roomy_machine)
    run = store.load_run("tune-me")
    run.runner = _sleeper(tmp_path, "runner")
    store.save_run(run)
    try:
        with pytest.raises(launch.RunError, match="already running"):
            _prepare(store, path, roomy_machine)
    finally:
        launch.delete_workspace(store, "tune-me", grace_seconds=5)


def test_same_spec_resumes_and_a_changed_spec_starts_afresh(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    path = _write(tmp_path, tuning_yaml())
    _prepare(store, path, roomy_machine)
    created = store.load_workspace("tune-me").metadata.creation_timestamp
    checkpoint = store.mnt_dir("tune-me") / "results" / ".checkpoint"
    checkpoint.mkdir(parents=True)

    again = _prepare(store, path, roomy_machine)

    assert again.resumed
    assert checkpoint.is_dir()
    assert store.load_workspace("tune-me").metadata.creation_timestamp == created

    path.write_text(tuning_yaml(method="qlora"))
    changed = _prepare(store, path, roomy_machine)

    assert not changed.resumed
    assert not checkpoint.exists()


def test_stale_runner_is_detected_and_recorded(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    _prepare(store, _write(tmp_path, tuning_yaml()), roomy_machine)
    ws = store.load_workspace("tune-me")
    seen = status.Observed.from_status(ws)
    seen.job = "running"
    status.observe(ws, seen)
    store.save_workspace(ws)
    proc, record = processes.start_process(
        "runner", [sys.executable, "-c", "pass"], tmp_path / "r.log"
    )
    proc.wait(timeout=20)
    run = store.load_run("tune-me")
    run.runner = record
    store.save_run(run)

    refreshed = launch.refresh_stale(store, "tune-me")

    assert refreshed.status is not None
    assert refreshed.status.state == constants.STATE_FAILED
    assert f"pid {record.pid}" in launch.failure_message(refreshed)
    # The correction is persisted, so the next reader sees it without recomputing.
    saved = store.load_workspace("tune-me").status
    assert saved is not None
    assert saved.state == constants.STATE_FAILED


def test_a_live_runner_is_left_alone(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    _prepare(store, _write(tmp_path, tuning_yaml()), roomy_machine)
    ws = store.load_workspace("tune-me")
    seen = status.Observed.from_status(ws)
    seen.job = "running"
    status.observe(ws, seen)
    store.save_workspace(ws)
    run = store.load_run("tune-me")
    run.runner = _sleeper(tmp_path, "runner")
    store.save_run(run)
    try:
        refreshed = launch.refresh_stale(store, "tune-me")
        assert refreshed.status is not None
        assert refreshed.status.state == constants.STATE_RUNNING
    finally:
        launch.delete_workspace(store, "tune-me", grace_seconds=5)


def test_delete_stops_every_recorded_process_and_removes_the_record(
    store: local_store.StateStore, tmp_path: Path, roomy_machine: machine.MachineFacts
) -> None:
    _prepare(store, _write(tmp_path, tuning_yaml()), roomy_machine)
    run = store.load_run("tune-me")
    run.runner = _sleeper(tmp_path, "runner")
    run.processes["tune"] = _sleeper(tmp_path, "tune")
    store.save_run(run)
    pids = [run.runner.pid, run.processes["tune"].pid]

    stopped = launch.delete_workspace(store, "tune-me", grace_seconds=5)

    assert sorted(stopped) == sorted(pids)
    assert not any(processes.pid_alive(pid) for pid in pids)
    assert not store.workspace_dir("tune-me").exists()


def test_deleting_an_unknown_workspace_names_it(store: local_store.StateStore) -> None:
    with pytest.raises(local_store.StateError, match='"nope" not found'):
        launch.delete_workspace(store, "nope")


def test_free_port_skips_a_port_in_use() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        busy.listen()
        assert launch.free_port(taken) != taken
