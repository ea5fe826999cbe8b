"""Operator benchmark: N Workspaces created at once in a real Kubernetes control plane.

The control plane is the integration tests' (``tests.fixtures.cluster``): etcd, kube-apiserver
with RBAC and an audit log, the controller manager (StatefulSet, Job, garbage collector...) and
the scheduler, started in a temporary folder; kaito is installed with ``kubectl apply -k
config/default``. The operator runs as its own process (``python -m kaito.operator``, settings from
``KAITO_*``) with the ServiceAccount token the installation made, so RBAC applies to every call,
and serves the admission webhook on a port of its own behind the stand-in Service
(``ServiceProxy``) the webhook configuration names. The simulated provisioner (NodeClaim -> Ready
GPU node after 0.5 s; a few shards, each serving a share of the NodeClaims) and kubelet (pods Ready
/ Job pods done after 0.2 s) run as threads of this process. Workspaces are created through the API
server (admission included) by a few client threads.

Reported (JSON): seconds until every inference Workspace is ``WorkspaceSucceeded=True`` and
``InferenceReady=True`` and every tuning one in state ``Succeeded``; reconcile latency p50/p99
(interpolated from the operator's ``kaito_reconcile_duration_seconds`` histogram), passes and
errors; the operator's API requests per Workspace (from the API server's audit log: requests made
as the operator's ServiceAccount, watches apart, with the server-side latency of the others); the
webhook calls the API server made (its own metrics); the operator's peak RSS (VmHWM) and CPU
seconds, the CPU seconds of kube-apiserver, etcd, the controller manager, the scheduler and this
process (with its actors, webhook proxy and Workspace watch apart), the whole machine's busy time
(what else ran meanwhile); the actors' pass times; the machine and its load average.

Usage: ``python bench/operator_scale.py [--workspaces 200] [--tuning-share 0.25] [--namespaces 1]``.
Needs the control plane binaries (``make controlplane``; built here on first use, which needs Go).
"""

from __future__ import annotations

import sys

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# standard library's ``operator`` module; drop that entry before anything imports it.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    del sys.path[0]

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.cluster.actors import Kubelet, Provisioner  # noqa: E402
from tests.fixtures.cluster.client import Informer, Kube  # noqa: E402
from tests.fixtures.cluster.controlplane import ControlPlane, controlplane_bin, free_port  # noqa: E402
from tests.fixtures.cluster.install import OPERATOR_NAMESPACE, Installation, install_kaito  # noqa: E402
from tests.fixtures.cluster.service import ServiceProxy  # noqa: E402
from tests.fixtures.samples import inference_workspace, tuning_workspace  # noqa: E402

from kaito.operator.settings import OperatorSettings  # noqa: E402

Obj = dict[str, Any]
COMPONENTS = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler")


# ---- measuring ---------------------------------------------------------------------------------


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


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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


def _passes_by_calls(port: int, slow_s: float = 0.25) -> list[Obj]:
    """The operator's passes grouped by the API requests they made (``calls`` label): count,
    p50/p99 (interpolated) and how many took longer than ``slow_s``; slowest groups first."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    groups: dict[str, list[tuple[float, float]]] = {}
    pattern = r'kaito_reconcile_pass_duration_seconds_bucket\{calls="([^"]*)",le="([^"]+)"\} (\S+)'
    for line in text.splitlines():
        m = re.match(pattern, line)
        if m:
            groups.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
    rows = []
    for calls, buckets in groups.items():
        total = buckets[-1][1]
        if not total:
            continue
        within = max((c for b, c in buckets if b <= slow_s), default=0.0)
        rows.append(
            {
                "calls": calls,
                "passes": int(total),
                "p50_ms": round(_quantile(buckets, 0.5) * 1000, 1),
                "p99_ms": round(_quantile(buckets, 0.99) * 1000, 1),
                f"over_{int(slow_s * 1000)}ms": int(total - within),
            }
        )
    rows.sort(key=lambda r: (-r[f"over_{int(slow_s * 1000)}ms"], -r["p99_ms"]))
    return rows


def _webhook_calls(cp: ControlPlane) -> tuple[float, float]:
    """(calls, seconds) the API server spent on validating webhooks so far (its /metrics)."""
    context = ssl.create_default_context(cafile=str(cp.ca))
    context.load_cert_chain(str(cp.pki / "admin.crt"), str(cp.pki / "admin.key"))
    with urllib.request.urlopen(f"{cp.server}/metrics", context=context, timeout=10) as resp:
        text = resp.read().decode()
    calls = seconds = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_admission_webhook_admission_duration_seconds_") and (
            'type="validating"' in line
        ):
            name, value = line.rsplit(" ", 1)
            if name.startswith("apiserver_admission_webhook_admission_duration_seconds_count"):
                calls += float(value)
            elif name.startswith("apiserver_admission_webhook_admission_duration_seconds_sum"):
                seconds += float(value)
    return calls, seconds


def _proc_stat(path: str) -> list[str]:
    return Path(path).read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of a process (or one of its threads)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        fields = _proc_stat(path)
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds every core spent on anything but idling, since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _vmhwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> Obj:
    """CPU model, the vector/matrix extensions that matter here, cores, load average."""
    model, flags = "unknown", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")
    return {
        "cpu": model,
        "cpu_flags": [f for f in wanted if f in flags],
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def audit_counts(log: Path, offset: int, username: str) -> Obj:
    """The operator's requests in the audit log after ``offset``: by verb, watches apart.

    Each request has one ``auditID``; a watch logs ``ResponseStarted`` when it opens (and
    ``ResponseComplete`` when it ends), any other request one ``ResponseComplete``.
    """
    verbs: dict[str, str] = {}
    resources: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    latencies: list[float] = []
    with log.open("rb") as f:
        f.seek(offset)
        for raw in f:
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # a line being written
            if (event.get("user") or {}).get("username") != username:
                continue
            audit_id = event["auditID"]
            if audit_id in verbs:
                continue
            verb = event.get("verb", "?")
            verbs[audit_id] = verb
            if verb == "watch":
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "?")
            if ref.get("subresource"):
                resource += f"/{ref['subresource']}"
            resources[f"{verb} {resource}"] += 1
            codes[str((event.get("responseStatus") or {}).get("code", "?"))] += 1
            with contextlib.suppress(KeyError, ValueError):
                received = datetime.fromisoformat(event["requestReceivedTimestamp"])
                done = datetime.fromisoformat(event["stageTimestamp"])
                latencies.append((done - received).total_seconds())
    by_verb = Counter(verbs.values())
    return {
        "watches": by_verb.pop("watch", 0),
        "requests": sum(by_verb.values()),
        "by_verb": dict(by_verb.most_common()),
        "by_request": dict(resources.most_common()),
        "status_codes": dict(codes.most_common()),
        "server_latency_p50_ms": round(_percentile(latencies, 0.5) * 1000, 1),
        "server_latency_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
    }


# ---- the operator --------------------------------------------------------------------------------


# The operator under cProfile, timed by its main thread's CPU clock (not the wall clock: on a busy
# machine wall time in a call is mostly waiting for a core). Stats are written when it stops.
PROFILED_OPERATOR = """
import cProfile, runpy, sys, time
profiler = cProfile.Profile(time.thread_time)
profiler.enable()
try:
    runpy.run_module("kaito.operator", run_name="__main__", alter_sys=True)
finally:
    profiler.disable()
    profiler.dump_stats(sys.argv[1])
"""


class OperatorProcess:
    """``python -m kaito.operator`` with the settings a Deployment would give it as ``KAITO_*``."""

    def __init__(
        self,
        install: Installation,
        log: Path,
        profile: Path | None = None,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.webhook_port = free_port()
        self.log = log
        self.profile = profile
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("KAITO_", "KUBE"))}
        self.env.update(
            {
                "KAITO_KUBECONFIG": str(install.kubeconfig),
                "KAITO_NODE_PROVISIONER": "gpu-provisioner",
                "KAITO_RELEASE_NAMESPACE": OPERATOR_NAMESPACE,
                "KAITO_LEADER_ELECT": "false",
                "KAITO_WEBHOOK": "true",
                "KAITO_WEBHOOK_HOST": "127.0.0.1",
                "KAITO_WEBHOOK_PORT": str(self.webhook_port),
                "KAITO_WEBHOOK_CERT_DIR": str(install.webhook_cert_dir),
                "KAITO_HUB_OFFLINE": "true",  # no network here; the bench's presets are listed
                "KAITO_METRICS_BIND_ADDRESS": f"127.0.0.1:{self.metrics_port}",
                "KAITO_HEALTH_PROBE_BIND_ADDRESS": f"127.0.0.1:{self.health_port}",
            }
        )
        self.env.update({f"KAITO_{k.upper()}": v for k, v in (overrides or {}).items()})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        argv = [sys.executable, "-m", "kaito.operator"]
        if self.profile:
            argv = [sys.executable, "-c", PROFILED_OPERATOR, str(self.profile)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not (self._ready() and self._listening()):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the operator exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the operator did not become ready (readyz and webhook port)")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _ready(self) -> bool:
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{self.health_port}/readyz"
            with urllib.request.urlopen(url, timeout=1) as resp:
                return bool(resp.status == 200)
        return False

    def _listening(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.webhook_port), timeout=1),
        ):
            return True
        return False

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- the run -------------------------------------------------------------------------------------


def _condition_true(ws: Obj, ctype: str) -> bool:
    for cond in (ws.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return bool(cond.get("status") == "True")
    return False


def _done(ws: Obj) -> bool:
    if ws.get("tuning"):
        return bool((ws.get("status") or {}).get("state") == "Succeeded")
    return _condition_true(ws, "WorkspaceSucceeded") and _condition_true(ws, "InferenceReady")


def _threads_cpu(threads: dict[str, list[threading.Thread]]) -> dict[str, float]:
    pid = os.getpid()
    return {
        name: sum(_cpu_seconds(pid, t.native_id) for t in group if t.native_id)
        for name, group in threads.items()
    }


def _shard(name: str, shards: int) -> int:
    return zlib.crc32(name.encode()) % shards


class ShardedProvisioner(Provisioner):
    """One of ``shards`` provisioners, each serving the NodeClaims whose name hashes to it.

    A provisioner pass makes its API calls one after another (four per new node); with hundreds
    of NodeClaims at once a single one falls seconds behind its ``delay``. Shards work in
    parallel, as a cloud launches VMs in parallel. Only shard 0 scales NodePools.
    """

    def __init__(self, kube: Kube, shard: int, shards: int, **kwargs: Any) -> None:
        super().__init__(kube, **kwargs)
        self.shard, self.shards = shard, shards

    def items(self, kind: str) -> list[Obj]:
        objs = super().items(kind)
        if kind == "nodeclaims":
            return [o for o in objs if _shard(o["metadata"]["name"], self.shards) == self.shard]
        if kind == "nodepools" and self.shard:
            return []
        return objs


def _time_steps(actor: Provisioner | Kubelet) -> list[float]:
    """Record how long each of the actor's passes takes (its reaction time is one pass)."""
    durations: list[float] = []
    step = actor.step

    def timed() -> None:
        t0 = time.perf_counter()
        try:
            step()
        finally:
            durations.append(time.perf_counter() - t0)

    actor.step = timed  # type: ignore[method-assign]
    return durations


def _actor_threads(actor: Provisioner | Kubelet) -> list[threading.Thread]:
    return [actor._thread, *(i._thread for i in actor.informers.values())]


def _pass_stats(shards: list[list[float]], before: list[int]) -> Obj:
    """Passes of an actor's shards since ``before``; busy seconds of the busiest shard."""
    runs = [d[b:] for d, b in zip(shards, before, strict=True)]
    every = [x for r in runs for x in r]
    return {
        "passes": len(every),
        "busiest_shard_busy_seconds": round(max(sum(r) for r in runs), 1),
        "p99_ms": round(_percentile(every, 0.99) * 1000, 1),
        "max_ms": round(max(every, default=0.0) * 1000, 1),
    }


def _wait_default_service_account(kube: Kube, namespace: str, timeout: float = 30.0) -> None:
    # Pods are admitted only once their namespace has its ServiceAccount (the controller's work).
    deadline = time.monotonic() + timeout
    while kube.get("serviceaccounts", "default", namespace) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"namespace {namespace} got no default ServiceAccount")
        time.sleep(0.1)


def run(
    n: int,
    tuning_share: float,
    namespaces: int,
    *,
    clients: int = 4,
    timeout: float = 600.0,
    keep: bool = False,
    profile: Path | None = None,
    overrides: dict[str, str] | None = None,
    provisioner_shards: int = 4,
) -> Obj:
    host = machine()
    bin_dir = controlplane_bin(build=True)
    assert bin_dir is not None
    workdir = Path(tempfile.mkdtemp(prefix="kaito-bench-operator-"))
    cp = ControlPlane(workdir / "controlplane", bin_dir)
    service: ServiceProxy | None = None
    operator: OperatorProcess | None = None
    actors: list[Provisioner | Kubelet] = []
    watcher: Informer | None = None
    try:
        cp.start_apiserver()
        install = install_kaito(cp, webhook_port=free_port())
        cp.start_controllers()
        service = ServiceProxy(install.webhook_port)
        service.start()
        kube = Kube(cp.kubeconfig)
        names = [f"bench-{i}" for i in range(namespaces)]
        for ns in names:
            kube.create("namespaces", {"metadata": {"name": ns}})
        for ns in names:
            _wait_default_service_account(kube, ns)

        provisioners = [
            ShardedProvisioner(Kube(cp.kubeconfig), i, provisioner_shards, delay=0.5)
            for i in range(provisioner_shards)
        ]
        kubelets = [Kubelet(Kube(cp.kubeconfig), delay=0.2)]
        actors = [*provisioners, *kubelets]
        steps = {
            "provisioner": [_time_steps(a) for a in provisioners],
            "kubelet": [_time_steps(a) for a in kubelets],
        }
        for actor in actors:
            actor.start()
        workers = int((overrides or {}).get("max_concurrent_reconciles", 0)) or int(
            OperatorSettings.model_fields["max_concurrent_reconciles"].default
        )
        operator = OperatorProcess(install, workdir / "operator.log", profile, overrides)
        operator.start()
        service.add(operator.webhook_port)

        changed = threading.Event()
        watcher = Informer(kube, "workspaces", changed.set)
        watcher.start()
        watcher.synced.wait(10)

        n_tuning = int(n * tuning_share)
        bodies = []
        for i in range(n):
            if i < n_tuning:
                body = tuning_workspace(f"bench-tune-{i}")
            else:
                body = inference_workspace(f"bench-{i}")
            body["metadata"]["namespace"] = names[i % namespaces]
            bodies.append(body)

        local = threading.local()
        create_latencies: list[float] = []
        created: list[float] = []  # when each create returned

        def create(body: Obj) -> None:
            if not hasattr(local, "kube"):
                local.kube = Kube(cp.kubeconfig)
            t0 = time.monotonic()
            local.kube.create("workspaces", body)
            created.append(time.monotonic())
            create_latencies.append(created[-1] - t0)

        time.sleep(1.0)  # let start-up requests settle before counting
        audit_offset = cp.audit_log.stat().st_size
        webhook_before = _webhook_calls(cp)
        pids = {name: cp.procs[name].pid for name in COMPONENTS}
        pids["operator"] = operator.pid
        cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        harness_before = time.process_time()
        machine_before = _machine_busy_seconds()
        steps_before = {name: [len(d) for d in group] for name, group in steps.items()}
        threads = {
            "provisioner": [t for a in provisioners for t in _actor_threads(a)],
            "kubelet": [t for a in kubelets for t in _actor_threads(a)],
            "webhook_proxy": [service._thread],
            "workspace_watch": [watcher._thread],
        }
        threads_before = _threads_cpu(threads)
        load_before = os.getloadavg()

        started = time.monotonic()
        pool = ThreadPoolExecutor(clients, thread_name_prefix="create")
        creating = [pool.submit(create, body) for body in bodies]
        creates_checked = False
        done_times: dict[tuple[str, str], float] = {}
        while len(done_times) < n:
            changed.wait(0.5)
            changed.clear()
            now = time.monotonic()
            if not creates_checked and all(f.done() for f in creating):
                creates_checked = True
                pool.shutdown()
                for future in creating:
                    future.result()  # a refused Workspace ends the run here
            for ws in watcher.snapshot():
                key = (ws["metadata"]["namespace"], ws["metadata"]["name"])
                if key not in done_times and _done(ws):
                    done_times[key] = now - started
            if now - started > timeout:
                raise RuntimeError(f"{len(done_times)} of {n} Workspaces done after {timeout} s")
            if not operator.alive():
                raise RuntimeError(f"the operator exited: {operator.log.read_text()[-2000:]}")
        elapsed = time.monotonic() - started
        cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        harness_cpu = time.process_time() - harness_before
        machine_busy = _machine_busy_seconds() - machine_before
        threads_after = _threads_cpu(threads)
        load_after = os.getloadavg()

        time.sleep(1.0)  # let trailing passes finish before counting
        buckets, values = _scrape(operator.metrics_port)
        audit = audit_counts(cp.audit_log, audit_offset, install.service_account)
        webhook_after = _webhook_calls(cp)
        webhook_calls = webhook_after[0] - webhook_before[0]
        webhook_seconds = webhook_after[1] - webhook_before[1]
        actor_errors = [e for a in actors for e in a.errors]
        done_sorted = sorted(done_times.values())
        thread_cpu = {k: round(threads_after[k] - threads_before[k], 1) for k in threads}
        return {
            "workspaces": n,
            "tuning_workspaces": n_tuning,
            "namespaces": namespaces,
            "operator_settings": overrides or {},
            "seconds_until_all_done": round(elapsed, 2),
            "seconds_to_create_all": round(max(created) - started, 2),
            "create_latency_p50_ms": round(_percentile(create_latencies, 0.5) * 1000, 1),
            "seconds_until_first_done": round(done_sorted[0], 2),
            "seconds_until_half_done": round(done_sorted[len(done_sorted) // 2], 2),
            "reconcile_p50_ms": round(_quantile(buckets, 0.5) * 1000, 1),
            "reconcile_p99_ms": round(_quantile(buckets, 0.99) * 1000, 1),
            "reconcile_passes": values.get("kaito_reconcile_duration_seconds_count", 0),
            # Share of the run the reconcile workers spent inside passes (1.0: all of them, always).
            "reconcile_worker_utilisation": round(
                values.get("kaito_reconcile_duration_seconds_sum", 0) / (workers * elapsed), 2
            ),
            "reconcile_errors": values.get("kaito_reconcile_errors_total", 0),
            # Which passes form the tail: grouped by the API requests each pass made.
            "reconcile_passes_by_calls": _passes_by_calls(operator.metrics_port),
            "api_requests_per_workspace": round(audit["requests"] / n, 1),
            "api_watches_opened": audit["watches"],
            "api_requests": audit,
            "webhook_calls": webhook_calls,
            "webhook_mean_ms": round(webhook_seconds / max(webhook_calls, 1) * 1000, 1),
            "operator_peak_rss_mib": round(_vmhwm_mib(operator.pid), 1),
            "kube_apiserver_peak_rss_mib": round(_vmhwm_mib(pids["kube-apiserver"]), 1),
            "cpu_seconds": {
                "operator": round(cpu["operator"], 1),
                "kube_apiserver": round(cpu["kube-apiserver"], 1),
                "etcd": round(cpu["etcd"], 1),
                "kube_controller_manager": round(cpu["kube-controller-manager"], 1),
                "kube_scheduler": round(cpu["kube-scheduler"], 1),
                "bench_process": round(harness_cpu, 1),
                "bench_threads": thread_cpu,
                "available": round(elapsed * (os.cpu_count() or 1), 1),
                "machine_busy": round(machine_busy, 1),
                # Whatever else ran meanwhile (other people's work, kubectl, the kernel's share).
                "others": round(machine_busy - sum(cpu.values()) - harness_cpu, 1),
            },
            "provisioner_shards": provisioner_shards,
            "actor_passes": {
                name: _pass_stats(group, steps_before[name]) for name, group in steps.items()
            },
            "actor_errors": len(actor_errors),
            "actor_error_sample": actor_errors[:3],
            "nodes_created": sum(a.nodes_created for a in provisioners),
            "machine": host,
            "load_average_at_end": [round(x, 2) for x in load_after],
            "load_average_before_create": [round(x, 2) for x in load_before],
            "workdir": str(workdir) if keep else None,
        }
    finally:
        if watcher is not None:
            watcher.stop()
        if operator is not None:
            operator.stop()
        for actor in actors:
            actor.stop()
        if service is not None:
            service.stop()
        cp.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--tuning-share", type=float, default=0.25)
    parser.add_argument(
        "--namespaces", type=int, default=1, help="spread the Workspaces over this many namespaces"
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="threads creating Workspaces (each its own client)"
    )
    parser.add_argument(
        "--provisioner-shards",
        type=int,
        default=4,
        help="simulated provisioners, each serving a share of the NodeClaims (one kubelet)",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, audit log)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the operator under cProfile (its main thread's CPU time), stats to this file",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an operator setting (KAITO_NAME), e.g. max_concurrent_reconciles=20; default: none",
    )
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    result = run(
        args.workspaces,
        args.tuning_share,
        max(1, args.namespaces),
        clients=args.clients,
        timeout=args.timeout,
        keep=args.keep,
        profile=args.profile,
        overrides=overrides,
        provisioner_shards=max(1, args.provisioner_shards),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
