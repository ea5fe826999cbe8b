"""The ``kaito get`` table: the columns ``kubectl get workspace`` prints, from local records.

The printer columns of the v1beta1 CRD (reference §1.1) are Instance, ResourceReady,
InferenceReady, JobStarted, WorkspaceSucceeded, TargetNodeCount, State and Age. Locally the
instance is always this machine, shown as ``local``; every other cell is read from the recorded
status exactly as kubectl reads it from the API server (an absent condition prints empty). Age uses
kubectl's short human durations (``45s``, ``3m20s``, ``5h``, ``2d3h``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kaito.api import conditions, reasons, v1beta1

LOCAL_INSTANCE = "local"
HEADERS: tuple[str, ...] = (
    "NAME",
    "INSTANCE",
    "RESOURCEREADY",
    "INFERENCEREADY",
    "JOBSTARTED",
    "WORKSPACESUCCEEDED",
    "TARGETNODECOUNT",
    "STATE",
    "AGE",
)
_COLUMN_GAP = "   "
_UNKNOWN_AGE = "<unknown>"
UNREADABLE_STATE = "<unreadable>"


@dataclass(frozen=True)
class WorkspaceRow:
    """One line of the table."""

    name: str
    instance: str
    resource_ready: str
    inference_ready: str
    job_started: str
    workspace_succeeded: str
    target_node_count: str
    state: str
    age: str

    def cells(self) -> tuple[str, ...]:
        """The cells in header order."""
        return (
            self.name,
            self.instance,
            self.resource_ready,
            self.inference_ready,
            self.job_started,
            self.workspace_succeeded,
            self.target_node_count,
            self.state,
            self.age,
        )


def human_duration(seconds: float) -> str:
    """Kubectl's short duration (``k8s.io/apimachinery/pkg/util/duration.HumanDuration``)."""
    if seconds < 0:
        seconds = 0
    total = int(seconds)
    if total < 60 * 2:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        rest = days % 365
        return f"{days // 365}y{rest}d" if rest else f"{days // 365}y"
    return f"{hours // 24 // 365}y"


def _parse_time(stamp: str | None) -> dt.datetime | None:
    if not stamp:
        return None
    try:
        return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def build_row(ws: v1beta1.Workspace, now: dt.datetime) -> WorkspaceRow:
    """The table row of ``ws`` at time ``now``."""
    status = ws.status or v1beta1.WorkspaceStatus()

    def cell(ctype: str) -> str:
        cond = conditions.get_condition(status.conditions, ctype)
        return cond.status if cond is not None else ""

    created = _parse_time(ws.metadata.creation_timestamp)
    age = human_duration((now - created).total_seconds()) if created else _UNKNOWN_AGE
    return WorkspaceRow(
        name=ws.metadata.name or "",
        instance=LOCAL_INSTANCE,
        resource_ready=cell(reasons.CONDITION_RESOURCE_READY),
        inference_ready=cell(reasons.CONDITION_INFERENCE_READY),
        job_started=cell(reasons.CONDITION_JOB_STARTED),
        workspace_succeeded=cell(reasons.CONDITION_WORKSPACE_SUCCEEDED),
        target_node_count=(
            str(status.target_node_count) if status.target_node_count is not None else ""
        ),
        state=status.state or "",
        age=age,
    )


def unreadable_row(name: str) -> WorkspaceRow:
    """The row of a Workspace whose record cannot be read (shown, not hidden)."""
    return WorkspaceRow(
        name=name,
        instance=LOCAL_INSTANCE,
        resource_ready="",
        inference_ready="",
        job_started="",
        workspace_succeeded="",
        target_node_count="",
        state=UNREADABLE_STATE,
        age=_UNKNOWN_AGE,
    )


def render_table(rows: Sequence[WorkspaceRow]) -> str:
    """Left-aligned columns separated by three spaces, as kubectl prints them."""
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = []
    for line in table:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(line)]
        lines.append(_COLUMN_GAP.join(padded).rstrip())
    return "\n".join(lines)


def build_list(workspaces: Sequence[v1beta1.Workspace]) -> dict[str, Any]:
    """The ``-o json``/``-o yaml`` document: a ``List`` of Workspaces, as kubectl prints it."""
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [ws.to_wire() for ws in workspaces],
        "metadata": {"resourceVersion": ""},
    }
