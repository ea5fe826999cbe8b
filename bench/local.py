"""Benchmark local mode: what ``kaito run`` adds around the runtime commands.

Run: ``.venv/bin/python -P bench/local.py`` (``-P`` keeps ``bench/`` off ``sys.path``, like the
other benchmarks). Measures, on the tiny test model built offline:

- ``prepare_run`` in-process (read the file, validate, probe the machine, plan, record);
- ``kaito get`` in a fresh process with 1 and 50 recorded Workspaces (stale-pid checks included);
- an inference Workspace from ``kaito run --detach`` to ``Ready`` (model load and server start
  included), and ``kaito delete`` of it (stop the process group, remove the record);
- the supervisor's own CPU time and peak RSS while it supervises a server.

Prints one line per measurement (best of 3 where repeated).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kaito.local import launch, machine, settings
from kaito.local import plan as local_plan
from kaito.local import store as local_store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INFERENCE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
resource:
  instanceType: Standard_NC6s_v3
  labelSelector:
    matchLabels: {{apps: bench}}
inference:
  preset: {{name: smollm2-135m-instruct}}
"""


def kaito(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*local_plan.runtime_command("kaito"), *args], capture_output=True, text=True, check=False
    )


def best_of(runs: int, func: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from tests.fixtures.tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="kaito-bench-local-"))
    try:
        model = build_tiny_model(work / "model")
        state = work / "state"
        store = local_store.StateStore(state)
        facts = machine.MachineFacts(
            memory_gib=64, has_gpu=False, vllm_installed=False, hub_reachable=False
        )
        local = settings.load_local_settings()
        (work / "ws").mkdir()
        files = []
        for i in range(50):
            path = work / "ws" / f"w{i}.yaml"
            path.write_text(INFERENCE.format(name=f"bench-{i:02d}"))
            files.append(path)

        def prepare_one() -> None:
            launch.prepare_run(store, launch.RunRequest(path=files[0]), local=local, facts=facts)

        print(
            f"prepare_run (validate, probe, plan, record): {best_of(3, prepare_one) * 1e3:.1f} ms"
        )
        get_one = best_of(3, lambda: kaito("get", "--state-dir", str(state)))
        print(f"kaito get, 1 workspace, fresh process: {get_one:.2f} s")
        for path in files[1:]:
            launch.prepare_run(store, launch.RunRequest(path=path), local=local, facts=facts)
        get_many = best_of(3, lambda: kaito("get", "--state-dir", str(state)))
        print(f"kaito get, 50 workspaces, fresh process: {get_many:.2f} s")
        for name in store.names():
            store.remove(name)

        path = work / "serve.yaml"
        path.write_text(INFERENCE.format(name="bench-serve"))
        start = time.perf_counter()
        done = kaito(
            "run", "-f", str(path), "--model-dir", str(model), "--detach", "--state-dir", str(state)
        )
        assert done.returncode == 0, done.stderr
        ws = launch.wait_for(store, "bench-serve", launch.is_serving, timeout_s=300, poll_s=0.05)
        ready = time.perf_counter() - start
        print(f"kaito run --detach → Ready (tiny model, transformers engine): {ready:.1f} s")
        assert ws.status is not None
        run = store.load_run("bench-serve")
        assert run.runner is not None
        stat = Path(f"/proc/{run.runner.pid}/status").read_text()
        rss = next(line for line in stat.splitlines() if line.startswith("VmHWM"))
        ticks = Path(f"/proc/{run.runner.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(ticks[11]) + int(ticks[12])) / 100
        print(f"supervisor (runner) peak RSS: {rss.split(':')[1].strip()}, CPU so far: {cpu:.2f} s")
        start = time.perf_counter()
        done = kaito("delete", "bench-serve", "--state-dir", str(state))
        assert done.returncode == 0, done.stderr
        print(f"kaito delete of a serving workspace: {time.perf_counter() - start:.2f} s")
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(json.dumps({"children_cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
