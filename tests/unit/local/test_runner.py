from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from kaito.local import launch, machine, plan, runner, settings
from kaito.local import store as local_store
from tests.unit.local.conftest import tuning_yaml


def _follow(tmp_path: Path, chunks: list[str], interval: float = 5.0) -> list[str]:
    log = tmp_path / "step.log"
    log.write_text("")
    seen: list[str] = []
    follower = runner.LogFollower(log, seen.append, bar_interval_s=interval)
    for chunk in chunks:
        with log.open("a") as handle:
            handle.write(chunk)
        follower.pump()
    return seen


def test_progress_json_lines_are_rendered_with_eta(tmp_path: Path) -> None:
    line = (
        '{"event":"progress","step":10,"total_steps":40,"epoch":0.5,"loss":1.23456,'
        '"learning_rate":0.001,"tokens_per_second":50.0,"seconds_per_step":3.2,"eta_seconds":96}\n'
    )

    assert _follow(tmp_path, [line]) == [
        "  training: step 10/40 · loss 1.2346 · 3.20 s/step · ETA 1m36s"
    ]


def test_lines_split_across_writes_are_joined(tmp_path: Path) -> None:
    assert _follow(tmp_path, ["hello wo", "rld\nsecond", " line\n"]) == [
        "  hello world",
        "  second line",
    ]


def test_progress_bar_redraws_are_collapsed(tmp_path: Path) -> None:
    redraws = "".join(f"\rConverting: {i}%" for i in range(0, 100, 5))

    seen = _follow(tmp_path, [redraws, "\rConverting: 100%\n"])

    assert seen[0] == "  Converting: 0%"
    assert seen[-1] == "  Converting: 100%"
    assert len(seen) <= 3


def test_health_polls_and_library_warnings_are_not_echoed(tmp_path: Path) -> None:
    seen = _follow(
        tmp_path,
        [
            'INFO:     127.0.0.1:5 - "GET /health HTTP/1.1" 503 Service Unavailable\n',
            "  warnings.warn(\n",
            "serving on 127.0.0.1:5000\n",
        ],
    )

    assert seen == ["  serving on 127.0.0.1:5000"]


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "placeholder"),
        ("adapter:1", "names no registry host"),
    ],
)
def test_placeholder_or_hostless_images_are_not_pushed(image: str, reason: str) -> None:
    ok, why = runner.registry_reachable(image)

    assert not ok
    assert reason in why


def test_an_unreachable_registry_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok, why = runner.registry_reachable(f"127.0.0.1:{port}/adapter:1")

    assert not ok
    assert f"127.0.0.1:{port}" in why


def test_curl_example_names_the_model_and_endpoint() -> None:
    text = runner.curl_example("http://127.0.0.1:5000", "my-adapter")

    assert "http://127.0.0.1:5000/v1/chat/completions" in text
    assert '"model": "my-adapter"' in text


# --- the runner loop over real (trivial) processes; only the plan is substituted -----------------

HEALTH_SERVER = """
import http.server, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
threading.Timer(1.5, srv.shutdown).start()
srv.serve_forever()
"""


def _prepared(store: local_store.StateStore, tmp_path: Path) -> str:
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "ws.yaml"
    path.write_text(tuning_yaml())
    facts = machine.MachineFacts(
        memory_gib=64, has_gpu=False, vllm_installed=False, hub_reachable=True
    )
    launch.prepare_run(
        store,
        launch.RunRequest(path=path),
        local=settings.load_local_settings(),
        facts=facts,
    )
    return "tune-me"


def _step(name: str, code: str) -> plan.Step:
    return plan.Step(name=name, argv=(sys.executable, "-c", code), kind="job", description=name)


def _run(
    monkeypatch: pytest.MonkeyPatch,
    store: local_store.StateStore,
    name: str,
    steps: list[plan.Step],
    **kw: object,
) -> tuple[int, list[str]]:
    fake = plan.LocalPlan(steps=tuple(steps), **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(runner, "build_plan", lambda ws, st, run: fake)
    messages: list[str] = []
    job = runner.Runner(store, name, echo=messages.append, follow_logs=True)
    return job.run(), messages


def test_runner_records_success_of_every_job_step(
    store: local_store.StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _prepared(store, tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    steps = [_step("fetch-data", "print('fetched')"), _step("tune", "print('trained')")]

    code, messages = _run(monkeypatch, store, name, steps, output_dir=out)

    assert code == 0
    ws = store.load_workspace(name)
    assert ws.status is not None
    assert ws.status.state == "Succeeded"
    run = store.load_run(name)
    assert {k: r.exit_code for k, r in run.processes.items()} == {"fetch-data": 0, "tune": 0}
    assert run.runner is not None
    assert run.runner.exit_code == 0
    assert "  fetched" in messages
    assert "==> tune" in messages


def test_runner_records_a_failed_step_with_its_last_line(
    store: local_store.StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _prepared(store, tmp_path)
    steps = [
        _step("tune", "import sys; print('kaito-tune: error: bad dataset row 7'); sys.exit(3)"),
        _step("push", "print('never runs')"),
    ]

    code, _ = _run(monkeypatch, store, name, steps)

    assert code == 1
    ws = store.load_workspace(name)
    assert ws.status is not None
    assert ws.status.state == "Failed"
    message = next(c.message for c in ws.status.conditions if c.type == "JobStarted")
    assert "tune exited with code 3" in message
    assert "bad dataset row 7" in message
    assert "push" not in store.load_run(name).processes


def test_runner_marks_a_server_ready_then_not_ready_when_it_exits(
    store: local_store.StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _prepared(store, tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = plan.Step(
        name="serve",
        argv=(sys.executable, "-c", HEALTH_SERVER, str(port)),
        kind="server",
        description="serve",
    )
    code, messages = _run(
        monkeypatch,
        store,
        name,
        [_step("tune", "pass"), server],
        output_dir=out,
        port=port,
        served_model="smollm2-135m-instruct",
        adapter_names=("tune-me",),
    )

    assert code == 0
    assert any(m.startswith(f"==> ready: http://127.0.0.1:{port}") for m in messages)
    ws = store.load_workspace(name)
    assert ws.status is not None
    assert ws.status.state == "Succeeded"  # a tuning Workspace keeps its outcome
    inference = next(c for c in ws.status.conditions if c.type == "InferenceReady")
    assert inference.status == "False"  # the server has exited since
    run = store.load_run(name)
    assert run.served_models == ["smollm2-135m-instruct", "tune-me"]
    assert run.processes["serve"].exit_code == 0


_CONFIG_LINE = 'KAITO_BENCHMARK_CONFIG 2026-12-05T20:00:00Z {"duration_sec":60,"max_concurrency":4}'
_RESULT_LINE = 'KAITO_BENCHMARK_RESULT 2026-12-05T20:00:01Z {"vllm_total_tpm":4321.5}'
BENCHMARKING_SERVER = (
    f"print({_CONFIG_LINE!r})\nprint({_RESULT_LINE!r}, flush=True)\n" + HEALTH_SERVER
)


def test_runner_records_the_servers_benchmark_as_status_performance(
    store: local_store.StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _prepared(store, tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = plan.Step(
        name="serve",
        argv=(sys.executable, "-c", BENCHMARKING_SERVER, str(port)),
        kind="server",
        description="serve",
    )
    code, messages = _run(
        monkeypatch, store, name, [_step("tune", "pass"), server],
        output_dir=out, port=port, served_model="smollm2-135m-instruct", benchmark=True,
    )  # fmt: skip

    assert code == 0
    assert any("4321.5 tokens/min" in m for m in messages)
    ws = store.load_workspace(name)
    assert ws.status is not None
    assert ws.status.performance is not None
    metric = ws.status.performance.metrics["peakTokensPerMinute"]
    assert (metric.value, metric.config["maxConcurrency"]) == ("4321.5", "4")
    completed = next(c for c in ws.status.conditions if c.type == "BenchmarkCompleted")
    assert completed.status == "True"
