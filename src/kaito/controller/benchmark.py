"""The post-load benchmark result, read from the inference pod's log as upstream's controller does.

``kaito-serve --kaito-benchmark`` prints the result before its ``/health`` passes, so once the
first pod (``<workspace>-0``) is Ready its log holds it. Upstream reads the last 500 lines of that
pod's server container and records ``status.performance`` once (``BenchmarkCompleted``); we do the
same, parsing with :mod:`kaito.api.benchmark`. This is the operator's only log read (RBAC
``pods/log`` ``get``), made only for Workspaces that run the benchmark and only until a result is
recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kaito.api import benchmark as api_benchmark
from kaito.api import constants, reasons
from kaito.api.workspace import AnyWorkspace, workspace_runtime
from kaito.controller import status as status_mod
from kaito.controller.context import ControllerContext
from kaito.k8s import errors, resources

Obj = dict[str, Any]
# Upstream's window: the result and config lines are printed last, just before readiness.
POD_LOG_TAIL_LINES = 500
# The API server relays logs from the node's kubelet; an unreachable node must not stall a pass.
LOG_READ_TIMEOUT_S = 10.0
# A failed read (no result lines, a kubelet that refuses logs) is tried again only after this long,
# not on every pass: the result is printed before the pod turns Ready, so waiting loses nothing.
RETRY_AFTER_S = 300.0


def _failed_recently(status: Obj, now: dt.datetime) -> bool:
    for condition in status.get("conditions") or []:
        if (
            isinstance(condition, dict)
            and condition.get("type") == reasons.CONDITION_BENCHMARK_COMPLETED
            and condition.get("status") == reasons.CONDITION_FALSE
        ):
            try:
                failed_at = dt.datetime.fromisoformat(str(condition.get("lastTransitionTime")))
            except ValueError:
                return False  # an unreadable time: read again rather than never
            if failed_at.tzinfo is None:
                failed_at = failed_at.replace(tzinfo=dt.UTC)
            return (now - failed_at).total_seconds() < RETRY_AFTER_S
    return False


def _pod_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == reasons.CONDITION_TRUE)
    return False


def benchmark_pod(
    ws: AnyWorkspace,
    pods: list[Obj],
    status: Obj | None = None,
    now: dt.datetime | None = None,
) -> str | None:
    """The pod whose log to read now, or ``None``.

    ``None`` when the benchmark is off, its result is recorded, the first pod is not Ready, or a
    read failed less than :data:`RETRY_AFTER_S` ago.
    """
    inference = ws.inference
    runtime = workspace_runtime(ws)
    annotations = ws.metadata.annotations
    has_preset = inference is not None and inference.preset is not None
    if not api_benchmark.benchmark_enabled(annotations, runtime, has_preset):
        return None
    if status is None:  # the reconcile parses the spec alone and passes the stored status
        status = ws.status.to_wire() if ws.status is not None else {}
    if status_mod.benchmark_recorded(status):
        return None
    if _failed_recently(status, now or dt.datetime.now(dt.UTC)):
        return None
    first = f"{ws.metadata.name}-0"
    if any(p["metadata"]["name"] == first and _pod_ready(p) for p in pods):
        return first
    return None


async def observe_benchmark(
    ctx: ControllerContext, ws: AnyWorkspace, obs: status_mod.Observation, status: Obj
) -> None:
    """Fill ``obs.performance`` (or ``obs.benchmark_error``) when a result is due.

    ``status`` is the Workspace's stored status, which says whether a result is recorded or a
    read failed recently.
    """
    pod = benchmark_pod(ws, obs.pods, status)
    if pod is None:
        return
    name = str(ws.metadata.name)
    try:
        lines = await ctx.cluster.pod_log(
            resources.POD_LOG,
            pod,
            ws.metadata.namespace or "default",
            container=name,
            tail_lines=POD_LOG_TAIL_LINES,
            limit_s=LOG_READ_TIMEOUT_S,
        )
        performance = api_benchmark.parse_benchmark_log(lines, {"engine": constants.RUNTIME_VLLM})
    except (errors.KubernetesError, api_benchmark.BenchmarkLogError) as exc:
        obs.benchmark_error = f"pod {pod}: {exc}"
        return
    obs.performance = performance.to_wire()
