"""Operator benchmark: N Workspaces applied at once against the API emulator with simulated actors.

The operator runs as its own process (``python -m kaito.operator``, settings from ``KAITO_*``), so
its peak RSS is its own; the emulator and the actors (provisioner, kubelet) run in this process.
Reported: time until every Workspace is ``WorkspaceSucceeded=True``, reconcile latency p50/p99
(interpolated from the operator's ``kaito_reconcile_duration_seconds`` histogram), API requests
per Workspace (counted by the emulator, watches excluded) and the operator's peak RSS (VmHWM).

Usage: ``python bench/operator_scale.py [--workspaces 200] [--tuning-share 0.25]``.
"""

from __future__ import annotations

import sys

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# standard library's ``operator`` module; drop that entry before anything imports it.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    del sys.path[0]

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.emulator.actors import Kubelet, Provisioner  # noqa: E402
from tests.fixtures.samples import inference_workspace, tuning_workspace  # noqa: E402
from tests.fixtures.emulator.server import KubernetesEmulator  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _succeeded(ws: dict | None) -> bool:
    for cond in ((ws or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "WorkspaceSucceeded":
            return bool(cond.get("status") == "True")
    return False


def _quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus-style histogram_quantile over cumulative (upper bound, count) pairs."""
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            span = count - prev_count
            frac = (rank - prev_count) / span if span else 0.0
            return prev_bound + (bound - prev_bound) * frac
        prev_bound, prev_count = bound, count
    return prev_bound


def _scrape(port: int) -> tuple[list[tuple[float, float]], dict[str, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    buckets = []
    values: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r'kaito_reconcile_duration_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets.append((float(m.group(1)), float(m.group(2))))
        m = re.match(r"(kaito_\w+(?:_total|_count|_sum)) (\S+)", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return buckets, values


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def _vmhwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(n: int, tuning_share: float) -> dict[str, float]:
    emulator = KubernetesEmulator(bookmark_interval=5.0)
    await emulator.start()
    store = emulator.store
    store.create(emulator.rtype("", "namespaces"), None, {"metadata": {"name": "kaito-system"}})
    provisioner = Provisioner(store, delay=0.5, tick=0.1)
    kubelet = Kubelet(store, delay=0.2, tick=0.1)
    provisioner.start()
    kubelet.start()
    metrics_port = _free_port()
    env = {
        **os.environ,
        "KAITO_SERVER": emulator.url,
        "KAITO_LEADER_ELECT": "false",
        "KAITO_WEBHOOK": "false",
        "KAITO_METRICS_BIND_ADDRESS": f"127.0.0.1:{metrics_port}",
        "KAITO_HEALTH_PROBE_BIND_ADDRESS": f"127.0.0.1:{_free_port()}",
        "RELEASE_NAMESPACE": "kaito-system",
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, never awaited
        [sys.executable, "-m", "kaito.operator"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(3.0)  # operator start-up (imports, discovery, initial lists)
        ws_rt = emulator.rtype("kaito.sh", "workspaces")
        names = []
        n_tuning = int(n * tuning_share)
        start_requests = sum(v for k, v in emulator.requests.items() if not k.startswith("WATCH"))
        operator_cpu_start = _cpu_seconds(proc.pid)
        harness_cpu_start = time.process_time()
        started = time.monotonic()
        for i in range(n):
            if i < n_tuning:
                body = tuning_workspace(f"bench-tune-{i}")
            else:
                body = inference_workspace(f"bench-{i}")
            names.append(body["metadata"]["name"])
            store.create(ws_rt, "default", body)
        done_at = None
        while time.monotonic() - started < 600:
            await asyncio.sleep(0.1)
            if all(_succeeded(store.get(ws_rt, "default", name)) for name in names):
                done_at = time.monotonic()
                break
            if proc.poll() is not None:
                raise RuntimeError("the operator exited")
        if done_at is None:
            raise RuntimeError("not all Workspaces succeeded within 600 s")
        elapsed = done_at - started
        operator_cpu = _cpu_seconds(proc.pid) - operator_cpu_start
        harness_cpu = time.process_time() - harness_cpu_start
        await asyncio.sleep(1.0)  # let trailing passes finish before counting
        requests = (
            sum(v for k, v in emulator.requests.items() if not k.startswith("WATCH"))
            - start_requests
        )
        buckets, values = _scrape(metrics_port)
        rss = _vmhwm_mib(proc.pid)
        return {
            "workspaces": n,
            "tuning_workspaces": n_tuning,
            "seconds_until_all_succeeded": round(elapsed, 2),
            "reconcile_p50_ms": round(_quantile(buckets, 0.5) * 1000, 1),
            "reconcile_p99_ms": round(_quantile(buckets, 0.99) * 1000, 1),
            "reconcile_passes": values.get("kaito_reconcile_duration_seconds_count", 0),
            "reconcile_errors": values.get("kaito_reconcile_errors_total", 0),
            "api_requests_per_workspace": round(requests / n, 1),
            "operator_peak_rss_mib": round(rss, 1),
            "operator_cpu_seconds": round(operator_cpu, 1),
            "emulator_and_actors_cpu_seconds": round(harness_cpu, 1),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        await provisioner.stop()
        await kubelet.stop()
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--tuning-share", type=float, default=0.25)
    args = parser.parse_args()
    result = asyncio.run(run(args.workspaces, args.tuning_share))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
