"""Pod failure classification into condition reasons, in upstream's order (§2.7)."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.controller.failures import classify_pods


def _pod(name: str = "ws-0", **status: Any) -> dict:
    return {"metadata": {"name": name}, "status": status}


def _waiting(reason: str, message: str = "", **extra: Any) -> dict:
    return {"name": "ws", "state": {"waiting": {"reason": reason, "message": message}}, **extra}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (
            {
                "containerStatuses": [
                    _waiting("CrashLoopBackOff", lastState={"terminated": {"reason": "OOMKilled"}})
                ]
            },
            "ContainerOOMKilled",
        ),
        ({"containerStatuses": [_waiting("ErrImagePull", "not found")]}, "ImagePullError"),
        ({"initContainerStatuses": [_waiting("ImagePullBackOff")]}, "ImagePullError"),
        (
            {"containerStatuses": [_waiting("CreateContainerConfigError", "secret")]},
            "ContainerStartError",
        ),
        (
            {"containerStatuses": [_waiting("CrashLoopBackOff", restartCount=4)]},
            "ContainerCrashLoopBackOff",
        ),
        (
            {"reason": "Evicted", "message": "The node was low on resource: memory."},
            "NodeMemoryPressure",
        ),
        (
            {"reason": "Evicted", "message": "low on resource: ephemeral-storage"},
            "NodeDiskPressure",
        ),
        ({"reason": "Evicted", "message": "preempted"}, "PodEvicted"),
        (
            {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes",
                    }
                ]
            },
            "Unschedulable",
        ),
    ],
)
def test_each_failure_kind_maps_to_its_reason(status: dict, reason: str) -> None:
    failure = classify_pods([_pod(**status)])
    assert failure is not None
    assert failure.reason == reason
    assert "ws-0" in failure.message


def test_oom_wins_over_image_pull_on_another_container() -> None:
    status = {
        "containerStatuses": [
            _waiting("ImagePullBackOff"),
            {"name": "b", "state": {"terminated": {"reason": "OOMKilled"}}},
        ]
    }
    assert classify_pods([_pod(**status)]).reason == "ContainerOOMKilled"


def test_healthy_and_pending_pods_have_no_failure() -> None:
    running = _pod(containerStatuses=[{"name": "ws", "ready": True, "state": {"running": {}}}])
    creating = _pod("ws-1", containerStatuses=[_waiting("ContainerCreating")])
    assert classify_pods([running, creating]) is None


def test_pods_are_examined_in_name_order() -> None:
    late = _pod("ws-1", containerStatuses=[_waiting("ErrImagePull")])
    early = _pod("ws-0", containerStatuses=[_waiting("CrashLoopBackOff")])
    failure = classify_pods([late, early])
    assert failure.reason == "ContainerCrashLoopBackOff"
    assert "ws-0" in failure.message
