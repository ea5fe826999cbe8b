"""Pod failure classification into condition reasons, in upstream's order (§2.7)."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.controller.failures import classify_pods, job_pod_failure


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
    status: dict[str, Any] = {
        "containerStatuses": [
            _waiting("ImagePullBackOff"),
            {"name": "b", "state": {"terminated": {"reason": "OOMKilled"}}},
        ]
    }
    failure = classify_pods([_pod(**status)])
    assert failure is not None
    assert failure.reason == "ContainerOOMKilled"


def test_healthy_and_pending_pods_have_no_failure() -> None:
    running = _pod(containerStatuses=[{"name": "ws", "ready": True, "state": {"running": {}}}])
    creating = _pod("ws-1", containerStatuses=[_waiting("ContainerCreating")])
    assert classify_pods([running, creating]) is None


def test_pods_are_examined_in_name_order() -> None:
    late = _pod("ws-1", containerStatuses=[_waiting("ErrImagePull")])
    early = _pod("ws-0", containerStatuses=[_waiting("CrashLoopBackOff")])
    failure = classify_pods([late, early])
    assert failure is not None
    assert failure.reason == "ContainerCrashLoopBackOff"
    assert "ws-0" in failure.message


def _failed(name: str, finished: str, reason: str = "Error", code: int = 1) -> dict:
    terminated = {"reason": reason, "exitCode": code, "finishedAt": finished}
    return _pod(
        name,
        phase="Failed",
        containerStatuses=[{"name": "tuner", "state": {"terminated": terminated}}],
    )


def test_job_pod_failure_describes_the_most_recent_failed_pod() -> None:
    pods = [
        _failed("w-zzzzz", "2025-01-01T00:01:00Z", "OOMKilled", 137),
        _failed("w-aaaaa", "2025-01-01T00:05:00Z", "Error", 2),
        _pod("w-bbbbb", phase="Running", containerStatuses=[_waiting("CrashLoopBackOff")]),
    ]
    assert job_pod_failure(pods) == (
        "pod w-aaaaa failed: container tuner exited with code 2 (Error)"
    )


def test_job_pod_failure_uses_the_classified_reason_when_there_is_one() -> None:
    message = job_pod_failure([_failed("w-1", "2025-01-01T00:01:00Z", "OOMKilled", 137)])
    assert message is not None
    assert "out of memory (OOMKilled)" in message
    evicted = _pod("w-2", phase="Failed", reason="Evicted", message="low on resource: memory")
    assert job_pod_failure([evicted]) == "pod w-2 was evicted: low on resource: memory"


def test_job_pod_failure_ignores_pods_that_have_not_failed() -> None:
    # A running retry that crash loops is not a failed attempt (yet): only phase Failed counts.
    running = _pod("w-1", phase="Running", containerStatuses=[_waiting("CrashLoopBackOff")])
    assert job_pod_failure([running]) is None
    assert job_pod_failure([]) is None
    deadline = _pod("w-3", phase="Failed", reason="DeadlineExceeded", message="too long")
    assert job_pod_failure([deadline]) == "pod w-3 failed: DeadlineExceeded: too long"
