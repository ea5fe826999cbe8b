"""Broken local state is reported and recovered, never a traceback or a lost process (issue 16, 8).

A truncated ``workspace.json`` must not hide the other Workspaces from ``kaito get``; a damaged
``run.json`` must neither crash ``kaito run`` nor let ``kaito delete`` report success while the
server keeps running; a full disk is reported naming the file; a disk that fills while the server
starts ends in Failed (with the reason) rather than Pending forever; and two ``kaito run`` of one
name cannot both start.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaito.api import v1beta1
from kaito.cli.main import app
from kaito.local import detached, launch, machine, plan, processes, runner, settings
from kaito.local import store as local_store
from tests.unit.local.conftest import tuning_yaml

ROOMY = machine.MachineFacts(memory_gib=64, has_gpu=False, vllm_installed=False, hub_reachable=True)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("KAITO_STATE_DIR", str(root))
    monkeypatch.setenv("KAITO_LOCAL_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(machine, "probe_machine", lambda *a, **k: ROOMY)
    return root


@pytest.fixture
def children() -> Iterator[list[local_store.ProcessRecord]]:
    """Processes a test starts; any left running are killed at the end."""
    started: list[local_store.ProcessRecord] = []
    yield started
    for record in started:
        processes.stop_process(record, grace_seconds=1)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _workspace_file(tmp_path: Path, name: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(tuning_yaml(name=name))
    return path


def _prepare(state: Path, tmp_path: Path, name: str) -> local_store.StateStore:
    store = local_store.StateStore(state)
    launch.prepare_run(
        store,
        launch.RunRequest(path=_workspace_file(tmp_path, name)),
        local=settings.load_local_settings(),
        facts=ROOMY,
    )
    return store


def _server_like(
    store: local_store.StateStore, name: str, children: list[local_store.ProcessRecord]
) -> local_store.ProcessRecord:
    """A stand-in for kaito-serve: runs until stopped, its output in the Workspace's logs."""
    _, record = processes.start_process(
        "serve",
        [sys.executable, "-c", "import time; time.sleep(120)"],
        store.log_path(name, "serve"),
    )
    children.append(record)
    run = store.load_run(name)
    run.processes["serve"] = record
    store.save_run(run)
    return record


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# -- a truncated workspace.json ----
def test_get_lists_the_others_and_shows_a_truncated_record_as_unreadable(
    state: Path, tmp_path: Path
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    _prepare(state, tmp_path, "beta")
    _truncate(store.workspace_dir("alpha") / "workspace.json")

    code, output = _invoke("get")

    assert code == 1
    assert "Traceback" not in output
    rows = {line.split()[0]: line.split() for line in output.splitlines() if line[:1].isalpha()}
    assert "beta" in rows
    assert "Pending" in rows["beta"]
    assert "<unreadable>" in rows["alpha"]
    assert "alpha/workspace.json" in output  # stderr names the file

    code, output = _invoke("get", "-o", "json")
    assert code == 1
    assert '"name": "beta"' in output


# -- a damaged run.json ----
@pytest.mark.parametrize("damage", ["truncated", "not-an-object", "empty", "missing"])
def test_run_with_a_damaged_run_json_refuses_naming_the_file(
    state: Path, tmp_path: Path, damage: str
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    run_json = store.workspace_dir("alpha") / "run.json"
    if damage == "truncated":
        _truncate(run_json)
    elif damage == "not-an-object":
        run_json.write_text("[1, 2]")
    elif damage == "empty":
        run_json.write_text("")
    else:
        run_json.unlink()

    code, output = _invoke("run", "-f", str(tmp_path / "alpha.yaml"))

    assert code == 1, output
    assert "Traceback" not in output
    assert "run.json" in output
    assert "kaito delete alpha" in output


def test_run_with_a_damaged_run_json_names_the_process_still_running(
    state: Path, tmp_path: Path, children: list[local_store.ProcessRecord]
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    server = _server_like(store, "alpha", children)
    _truncate(store.workspace_dir("alpha") / "run.json")

    code, output = _invoke("run", "-f", str(tmp_path / "alpha.yaml"))

    assert code == 1
    assert f"pid {server.pid}" in output
    assert "already running" in output
    assert processes.record_alive(server)


@pytest.mark.parametrize("second_record", ["pid-file", "log-only"])
def test_delete_with_a_damaged_run_json_still_stops_the_server(
    state: Path, tmp_path: Path, children: list[local_store.ProcessRecord], second_record: str
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    server = _server_like(store, "alpha", children)
    if second_record == "pid-file":
        store.save_pid("alpha", server)
    _truncate(store.workspace_dir("alpha") / "run.json")

    code, output = _invoke("delete", "alpha")

    assert code == 0, output
    assert "run.json" in output  # warned that the record was damaged
    assert not processes.record_alive(server)
    assert not store.workspace_dir("alpha").exists()


def test_runner_keeps_a_pid_record_of_each_process_apart_from_run_json(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    step = plan.Step(name="tune", argv=(sys.executable, "-c", "pass"), kind="job", description="t")
    fake = plan.LocalPlan(steps=(step,), output_dir=tmp_path)
    monkeypatch.setattr(runner, "build_plan", lambda ws, st, run: fake)

    assert runner.Runner(store, "alpha", echo=lambda m: None, follow_logs=False).run() == 0

    records, problems = store.load_pids("alpha")
    assert {r.step for r in records} == {"runner", "tune"}
    assert problems == []
    assert all(r.start_ticks is not None for r in records)


# -- a full disk ----
def _enospc(*args: object, **kwargs: object) -> tuple[int, str]:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_run_on_a_full_disk_names_the_file_and_exits_1(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _workspace_file(tmp_path, "alpha")
    monkeypatch.setattr(tempfile, "mkstemp", _enospc)

    code, output = _invoke("run", "-f", str(path))

    assert code == 1, output
    assert "Traceback" not in output
    assert "the disk is full" in output
    assert "workspace.json" in output


def test_an_atomic_write_on_a_full_file_system_keeps_the_old_file(tmp_path: Path) -> None:
    # A real write failure (RLIMIT_FSIZE: the kernel refuses to grow the file), in a child.
    target = tmp_path / "run.json"
    target.write_text('{"old": true}\n')
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from kaito.local import store
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        try:
            store.write_json_atomic(Path({str(target)!r}), {{"x": "y" * 100000}})
        except store.StateWriteError as exc:
            print("refused:", exc, exc.disk_full)
            sys.exit(3)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 3, done.stderr
    assert "refused: cannot write" in done.stdout
    assert str(target) in done.stdout
    assert "True" in done.stdout
    assert target.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left


# -- the disk fills while the server starts ----
NEVER_LISTENS = "import time; print('loading...', flush=True); time.sleep(120)"


def _serve_plan(tmp_path: Path) -> plan.LocalPlan:
    step = plan.Step(
        name="serve", argv=(sys.executable, "-c", NEVER_LISTENS), kind="server", description="s"
    )
    return plan.LocalPlan(
        steps=(step,), output_dir=tmp_path, port=1, served_model="smollm2-135m-instruct"
    )


def _as_inference(store: local_store.StateStore, name: str) -> None:
    """Make the recorded Workspace an inference one, so a lone server is its whole workload."""
    data = store.load_workspace(name).to_wire()
    data.pop("tuning")
    data["inference"] = {"preset": {"name": "smollm2-135m-instruct"}}
    store.save_workspace(v1beta1.Workspace.model_validate(data))


def _serve_pid(store: local_store.StateStore, name: str) -> int:
    records, _ = store.load_pids(name)
    pids = [r.pid for r in records if r.step == "serve"]
    if pids:
        return pids[0]
    return store.load_run(name).processes["serve"].pid


@pytest.mark.timeout(40)
def test_a_disk_that_fills_during_start_up_ends_in_failed_with_the_reason(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    store.save_run(store.load_run("alpha"))
    monkeypatch.setattr(runner, "build_plan", lambda ws, st, run: _serve_plan(tmp_path))
    _as_inference(store, "alpha")
    started = time.monotonic()
    monkeypatch.setattr(
        runner,
        "free_bytes",
        lambda path: 0 if time.monotonic() - started > 1.0 else 10**9,
        raising=False,
    )

    code = runner.Runner(store, "alpha", echo=lambda m: None, follow_logs=False).run()

    assert code == 1
    assert time.monotonic() - started < 30
    ws = store.load_workspace("alpha")
    assert ws.status is not None
    assert ws.status.state == "Failed"
    ready = next(c for c in ws.status.conditions if c.type == "InferenceReady")
    assert ready.reason == "LocalDiskFull"
    assert "full" in ready.message
    assert not processes.pid_alive(_serve_pid(store, "alpha"))


@pytest.mark.timeout(40)
def test_records_that_cannot_be_written_stop_the_server_and_use_the_reserve(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _prepare(state, tmp_path, "alpha")
    reserve = store.workspace_dir("alpha") / ".reserve"
    reserve.write_bytes(b"\0" * 4096)  # whatever the file system allowed
    monkeypatch.setattr(runner, "build_plan", lambda ws, st, run: _serve_plan(tmp_path))
    _as_inference(store, "alpha")
    real_mkstemp = tempfile.mkstemp
    real_popen = subprocess.Popen
    full = {"now": False}

    def popen(*args: object, **kwargs: object) -> object:
        proc = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        full["now"] = True  # the disk fills as the server starts
        return proc

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if full["now"] and reserve.exists():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(runner, "free_bytes", lambda path: 10**9, raising=False)
    seen: list[str] = []

    code = runner.Runner(store, "alpha", echo=seen.append, follow_logs=False).run()

    assert code == 1
    ws = store.load_workspace("alpha")
    assert ws.status is not None
    assert ws.status.state == "Failed"
    assert any("the disk is full" in (c.message or "") for c in ws.status.conditions)
    pids = [
        int(line.split("pid ")[1].split(")")[0]) for line in seen if line.startswith("stopping")
    ]
    assert pids, seen
    assert not any(processes.pid_alive(pid) for pid in pids)


# -- two kaito run of one name ----
def test_run_refuses_while_another_holds_the_lock_naming_the_holder(
    state: Path, tmp_path: Path
) -> None:
    path = _workspace_file(tmp_path, "alpha")
    store = local_store.StateStore(state)

    with store.run_lock("alpha"):
        code, output = _invoke("run", "-f", str(path))

    assert code == 1
    assert f"pid {os.getpid()}" in output
    assert "alpha" in output
    assert "Traceback" not in output


RACER = """
import contextlib, sys, time
from pathlib import Path
from kaito.local import launch, machine, settings
from kaito.local import store as local_store
state, path, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
facts = machine.MachineFacts(memory_gib=64, has_gpu=False, vllm_installed=False, hub_reachable=True)
store = local_store.StateStore(state)
while not go.exists():
    time.sleep(0.001)
with contextlib.ExitStack() as hold:
    try:
        launch.prepare_run(store, launch.RunRequest(path=path),
                           local=settings.load_local_settings(), facts=facts, hold=hold)
    except launch.RunError as exc:
        print("refused:", exc)
        sys.exit(1)
    print("started")
    time.sleep(2.0)
"""


def test_two_runs_of_one_name_at_the_same_moment_start_once(state: Path, tmp_path: Path) -> None:
    path = _workspace_file(tmp_path, "alpha")
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(state), str(path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=Path(__file__).parents[2],
        )
        for _ in range(2)
    ]
    time.sleep(3.0)  # both imported and waiting
    go.touch()
    outputs = [r.communicate(timeout=60)[0] for r in racers]

    assert sorted(r.returncode for r in racers) == [0, 1], outputs
    refused = next(o for o in outputs if "refused" in o)
    winner = next(r for r in racers if r.returncode == 0)
    assert f"pid {winner.pid}" in refused


def test_a_detached_runner_keeps_holding_the_lock_it_inherits(
    state: Path, tmp_path: Path, children: list[local_store.ProcessRecord]
) -> None:
    store = local_store.StateStore(state)
    with store.run_lock("alpha") as fd:
        _, record = processes.start_process(
            "runner",
            [sys.executable, "-c", "import time; time.sleep(120)"],
            tmp_path / "runner.log",
            pass_fds=(fd,),
        )
        children.append(record)
        local_store.write_lock_holder(fd, record.pid)
    # the parent (kaito run -d) is done; the runner still holds the lock
    with pytest.raises(local_store.LockedError, match=f"pid {record.pid}"), store.run_lock("alpha"):
        pass
    processes.stop_process(record, grace_seconds=1)
    with store.run_lock("alpha"):
        pass
    assert "--lock-fd" in detached.detached_command(state, "alpha", lock_fd=7)
