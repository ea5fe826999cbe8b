"""When a reconcile pass stops asking to be called again (``reconcile._finished``).

A Workspace whose Job is retrying failed pods, or whose StatefulSet is rolling out, still has
something to wait for; only a terminal Job or a fully rolled-out StatefulSet is finished.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api.workspace import parse_workspace, to_v1beta1
from kaito.controller.reconcile import _finished
from kaito.controller.status import Observation

RESOURCE: dict[str, Any] = {
    "instanceType": "Standard_NC24ads_A100_v4",
    "labelSelector": {"matchLabels": {"apps": "w"}},
}
TUNING = {
    "preset": {"name": "phi-4"},
    "method": "qlora",
    "input": {"urls": ["https://example.com/data.parquet"]},
    "output": {"image": "example.com/adapter:1", "imagePushSecret": "push"},
}


def _ws(kind: str) -> Any:
    body: dict[str, Any] = {
        "apiVersion": "kaito.sh/v1beta1",
        "kind": "Workspace",
        "metadata": {"name": "w", "namespace": "default"},
        "resource": RESOURCE,
        kind: TUNING if kind == "tuning" else {"preset": {"name": "phi-4"}},
    }
    return to_v1beta1(parse_workspace(body))


def _job(**status: Any) -> dict:
    return {"spec": {"backoffLimit": 6}, "status": status}


def _sts(generation: int, observed: int, updated: int, ready: int, revisions: tuple) -> dict:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "currentRevision": revisions[0],
            "updateRevision": revisions[1],
        },
    }


@pytest.mark.parametrize(
    ("job", "finished"),
    [
        (_job(active=1), False),
        (_job(failed=1, active=1), False),  # retrying: not terminal
        (_job(failed=2), False),  # between retries
        (_job(failed=2, succeeded=1), True),
        (_job(failed=7, conditions=[{"type": "Failed", "status": "True"}]), True),
    ],
)
def test_a_retrying_job_is_not_finished(job: dict, finished: bool) -> None:
    assert _finished(_ws("tuning"), Observation(job=job)) is finished


@pytest.mark.parametrize(
    ("sts", "finished"),
    [
        (_sts(2, 1, 2, 2, ("a", "a")), False),  # template change not observed yet
        (_sts(2, 2, 1, 2, ("a", "b")), False),  # rolling out, old pods still ready
        (_sts(2, 2, 2, 2, ("b", "b")), True),
    ],
)
def test_a_rolling_statefulset_is_not_finished(sts: dict, finished: bool) -> None:
    assert _finished(_ws("inference"), Observation(statefulset=sts)) is finished
