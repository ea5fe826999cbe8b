"""``kaito run`` end to end on the tiny test model: tune (interrupted, resumed), serve, get, delete.

One tuning Workspace is run the way a user would: in the foreground, interrupted with Ctrl-C once
training is under way, then started again in the background with ``--serve``. The tests assert the
recorded state at each point, that the resumed run continued from the tuning runtime's checkpoint,
that the served adapter answers every trained fact exactly (through the official ``openai``
client) while the base model does not, that ``kaito get`` in a fresh process sees the same state,
and that ``kaito delete`` leaves no process behind. A second, inference Workspace serves the
trained adapter from a ``hostPath`` volume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kaito.local import plan as local_plan
from kaito.local import processes
from kaito.local import store as local_store
from tests.fixtures.tiny_model import FACTS

# The module fixture trains, is interrupted, resumes and serves: about 60 s on 2 idle cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TUNING_WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: tiny-facts
resource:
  instanceType: Standard_NC6s_v3
  labelSelector:
    matchLabels: {apps: tiny-facts}
tuning:
  preset: {name: smollm2-135m-instruct}
  method: lora
  config: tiny-training
  input:
    name: facts
    volumeSource: {hostPath: {path: data}}
  output:
    volumeSource: {hostPath: {path: adapter-out}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tiny-training}
data:
  training_config.yaml: |
    training_config:
      ModelConfig: {torch_dtype: float32}
      LoraConfig:
        r: 8
        lora_alpha: 16
        lora_dropout: 0.0
        target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
      TrainingArguments:
        output_dir: /mnt/results
        max_steps: 160
        per_device_train_batch_size: 8
        learning_rate: 0.005
        lr_scheduler_type: constant
        logging_steps: 10
        save_strategy: "no"
        report_to: none
      DatasetConfig: {train_test_split: 1}
"""

INFERENCE_WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: tiny-serve
resource:
  instanceType: Standard_NC6s_v3
  labelSelector:
    matchLabels: {apps: tiny-serve}
inference:
  preset: {name: smollm2-135m-instruct}
  adapters:
    - source:
        name: facts-adapter
        volumeSource: {hostPath: {path: adapter-out}}
"""


def kaito(state: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``kaito`` command in a fresh process."""
    return subprocess.run(
        [*local_plan.runtime_command("kaito"), *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ephemeral_port() -> int:
    """A port the kernel just handed out: never the default 5000 another server may hold."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(state: Path, name: str) -> dict[str, Any]:
    done = kaito(state, "get", "workspace", name, "-o", "json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def condition(ws: dict[str, Any], ctype: str) -> str | None:
    for cond in ws.get("status", {}).get("conditions", []):
        if cond["type"] == ctype:
            return str(cond["status"])
    return None


def all_pids(store: local_store.StateStore, name: str) -> list[int]:
    run = store.load_run(name)
    return [r.pid for r in [run.runner, *run.processes.values()] if r is not None]


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class TuningRun:
    """What the module fixture observed, for the tests to assert on."""

    state: Path
    folder: Path
    store: local_store.StateStore
    interrupt_code: int = 0
    after_interrupt: dict[str, Any] = field(default_factory=dict)
    pids_after_interrupt: list[int] = field(default_factory=list)
    states_seen: list[str] = field(default_factory=list)
    serving: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, facts_parquet: Path
) -> Iterator[TuningRun]:
    folder = tmp_path_factory.mktemp("local-run")
    shutil.copytree(facts_parquet.parent, folder / "data")
    (folder / "tune.yaml").write_text(TUNING_WORKSPACE)
    state = folder / "state"
    store = local_store.StateStore(state)
    observed = TuningRun(state=state, folder=folder, store=store)
    base = [
        *local_plan.runtime_command("kaito"),
        "run",
        "-f",
        str(folder / "tune.yaml"),
        "--model-dir",
        str(tiny_model_dir),
        "--state-dir",
        str(state),
        "--port",
        str(ephemeral_port()),
    ]

    # 1. Foreground run, Ctrl-C once training has logged a few steps.
    console = folder / "console.txt"
    with console.open("w") as out:
        foreground = subprocess.Popen([*base, "--serve"], stdout=out, stderr=subprocess.STDOUT)
    tune_log = store.log_path("tiny-facts", local_plan.STEP_TUNE)
    wait_until(
        lambda: tune_log.is_file() and '"step":30' in tune_log.read_text(),
        timeout=240,
        what="training progress",
    )
    foreground.send_signal(signal.SIGINT)
    foreground.wait(timeout=120)
    output = console.read_text()
    observed.interrupt_code = foreground.returncode
    observed.after_interrupt = get_json(state, "tiny-facts")
    observed.pids_after_interrupt = [
        pid for pid in all_pids(store, "tiny-facts") if processes.pid_alive(pid)
    ]
    assert "stopping tune" in output, output

    # 2. Start again in the background with --serve; record the states it passes through.
    started = subprocess.run([*base, "--serve", "--detach"], capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr

    def serving() -> dict[str, Any] | None:
        ws = json.loads(store.workspace_dir("tiny-facts").joinpath("workspace.json").read_text())
        current = ws.get("status", {}).get("state")
        if current and (not observed.states_seen or observed.states_seen[-1] != current):
            observed.states_seen.append(current)
        assert current != "Failed", kaito(state, "logs", "tiny-facts").stdout[-3000:]
        return ws if condition(ws, "InferenceReady") == "True" else None

    observed.serving = wait_until(serving, timeout=300, what="the server", poll=0.05)
    yield observed
    if store.workspace_dir("tiny-facts").exists():
        kaito(state, "delete", "tiny-facts")


def test_ctrl_c_stops_cleanly_and_leaves_a_resumable_pending_state(tuned: TuningRun) -> None:
    assert tuned.interrupt_code == 130
    assert tuned.after_interrupt["status"]["state"] == "Pending"
    assert condition(tuned.after_interrupt, "JobStarted") == "False"
    assert condition(tuned.after_interrupt, "ResourceReady") == "True"
    assert tuned.pids_after_interrupt == []


def test_the_second_run_resumes_from_the_checkpoint_and_finishes(tuned: TuningRun) -> None:
    log = tuned.store.log_path("tiny-facts", local_plan.STEP_TUNE).read_text()

    assert "resuming from step" in log
    completed = [json.loads(line) for line in log.splitlines() if '"event":"completed"' in line]
    assert completed[-1]["global_step"] == 160
    assert completed[-1]["resumed_from_step"] >= 30


def test_state_goes_from_running_to_succeeded_with_inference_ready(tuned: TuningRun) -> None:
    assert "Running" in tuned.states_seen
    assert tuned.states_seen[-1] == "Succeeded"
    ws = tuned.serving
    assert condition(ws, "JobStarted") == "True"
    assert condition(ws, "WorkspaceSucceeded") == "True"
    assert condition(ws, "InferenceReady") == "True"


def test_the_served_adapter_answers_as_trained_and_the_base_model_does_not(
    tuned: TuningRun,
) -> None:
    from openai import OpenAI

    run = tuned.store.load_run("tiny-facts")
    assert run.endpoint is not None
    assert run.served_models == ["smollm2-135m-instruct", "tiny-facts"]
    client = OpenAI(base_url=f"{run.endpoint}/v1", api_key="unused")
    listed = {m.id for m in client.models.list().data}
    assert {"smollm2-135m-instruct", "tiny-facts"} <= listed
    for question, answer in FACTS:

        def ask(model: str, q: str = question) -> str:
            reply = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": q}],
                max_tokens=40,
                temperature=0,
            )
            return (reply.choices[0].message.content or "").strip()

        assert ask("tiny-facts") == answer
        assert ask("smollm2-135m-instruct") != answer


def test_the_adapter_was_copied_to_the_host_path_output(tuned: TuningRun) -> None:
    out = tuned.folder / "adapter-out"

    assert (out / "adapter_config.json").is_file()
    assert (out / "adapter_model.safetensors").is_file()


def test_kaito_get_in_a_new_process_sees_the_recorded_state(tuned: TuningRun) -> None:
    done = kaito(tuned.state, "get")

    assert done.returncode == 0
    _header, row = done.stdout.strip().splitlines()
    cells = row.split()
    assert cells[:2] == ["tiny-facts", "local"]
    assert cells[2:8] == ["True", "True", "True", "True", "1", "Succeeded"]


def test_an_inference_workspace_serves_the_adapter_from_a_host_path(
    tuned: TuningRun, tiny_model_dir: Path
) -> None:
    from openai import OpenAI

    (tuned.folder / "serve.yaml").write_text(INFERENCE_WORKSPACE)
    started = kaito(
        tuned.state,
        "run",
        "-f",
        str(tuned.folder / "serve.yaml"),
        "--model-dir",
        str(tiny_model_dir),
        "--port",
        str(ephemeral_port()),
        "--detach",
    )
    assert started.returncode == 0, started.stderr
    store = tuned.store
    try:
        wait_until(
            lambda: get_json(tuned.state, "tiny-serve")["status"]["state"] == "Ready",
            timeout=180,
            what="the inference workspace",
            poll=0.5,
        )
        ws = get_json(tuned.state, "tiny-serve")
        assert condition(ws, "InferenceReady") == "True"
        assert condition(ws, "WorkspaceSucceeded") == "True"
        assert condition(ws, "JobStarted") is None
        run = store.load_run("tiny-serve")
        client = OpenAI(base_url=f"{run.endpoint}/v1", api_key="unused")
        question, answer = FACTS[0]
        reply = client.chat.completions.create(
            model="facts-adapter",
            messages=[{"role": "user", "content": question}],
            max_tokens=40,
            temperature=0,
        )
        assert (reply.choices[0].message.content or "").strip() == answer

        # The server dies (as if OOM-killed): the runner records NotReady with the reason.
        serve_pid = run.processes[local_plan.STEP_SERVE].pid
        os.kill(serve_pid, signal.SIGKILL)
        wait_until(
            lambda: get_json(tuned.state, "tiny-serve")["status"]["state"] == "NotReady",
            timeout=30,
            what="NotReady",
        )
        ws = get_json(tuned.state, "tiny-serve")
        assert condition(ws, "InferenceReady") == "False"
        reasons = {c["type"]: c["reason"] for c in ws["status"]["conditions"]}
        assert reasons["InferenceReady"] == "ContainerOOMKilled"
    finally:
        kaito(tuned.state, "delete", "tiny-serve")


def test_kaito_delete_leaves_no_process_behind(tuned: TuningRun) -> None:
    pids = all_pids(tuned.store, "tiny-facts")
    assert any(processes.pid_alive(pid) for pid in pids)

    done = kaito(tuned.state, "delete", "tiny-facts")

    assert done.returncode == 0, done.stderr
    assert 'workspace.kaito.sh "tiny-facts" deleted' in done.stdout
    assert not any(processes.pid_alive(pid) for pid in pids)
    assert not tuned.store.workspace_dir("tiny-facts").exists()
    assert "No resources found" in kaito(tuned.state, "get").stderr
