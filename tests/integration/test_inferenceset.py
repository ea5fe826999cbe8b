"""InferenceSets on the real control plane: scale, readiness, scale-down order, rollout, restarts.

The operator runs as its ServiceAccount; ``kubectl scale`` goes through the CRD's scale
subresource; the simulated provisioner turns the children's NodeClaims into nodes and the
simulated kubelet makes their pods ready (or not, per Workspace).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster.client import ApiError, EventRecorder
from tests.fixtures.cluster.controlplane import issue_certificate
from tests.fixtures.cluster.faults import FaultProxy
from tests.integration.conftest import Harness, is_true

Obj = dict[str, Any]
CREATED_BY = "inferenceset.kaito.sh/created-by"


def inference_set(name: str, replicas: int, *, version: str = "v1beta1", **spec: Any) -> Obj:
    return {
        "apiVersion": f"kaito.sh/{version}",
        "kind": "InferenceSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "labelSelector": {"matchLabels": {"apps": name}},
            "template": {
                "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
                "inference": {"preset": {"name": "phi-4-mini-instruct"}},
            },
            **spec,
        },
    }


def children(h: Harness, name: str, *, active_only: bool = True) -> list[Obj]:
    found = h.kube.list("workspaces", h.ns, labels=f"{CREATED_BY}={name}")
    if active_only:
        found = [w for w in found if not w["metadata"].get("deletionTimestamp")]
    return sorted(found, key=lambda w: (w["metadata"]["creationTimestamp"], w["metadata"]["name"]))


def status(h: Harness, name: str) -> Obj:
    return (h.get("inferencesets", name) or {}).get("status") or {}


def ready_count(h: Harness, name: str) -> int:
    return sum(1 for w in children(h, name) if is_true(w, "WorkspaceSucceeded"))


def set_ready(h: Harness, name: str, replicas: int) -> bool:
    st = status(h, name)
    ready = [c for c in st.get("conditions") or [] if c["type"] == "InferenceSetReady"]
    return (
        st.get("readyReplicas") == replicas
        and len(children(h, name)) == replicas
        and bool(ready)
        and ready[0]["status"] == "True"
    )


@pytest.mark.timeout(150)
async def test_kubectl_scale_reaches_ready_replicas_and_scale_down_removes_not_ready_first(
    harness: Harness,
) -> None:
    await harness.start_operator()
    harness.create("inferencesets", inference_set("chat", 1))
    await harness.wait_for(lambda: set_ready(harness, "chat", 1), within=40, what="1 ready")

    harness.kubectl("scale", "inferenceset", "chat", "--replicas", "3")
    await harness.wait_for(lambda: set_ready(harness, "chat", 3), within=60, what="3 ready")
    kids = children(harness, "chat")
    assert len(kids) == 3
    for ws in kids:
        meta = ws["metadata"]
        assert meta["name"].startswith("chat-")
        assert meta["generateName"] == "chat-"
        assert meta["labels"][CREATED_BY] == "chat"
        assert ws["resource"]["labelSelector"] == {"matchLabels": {"apps": "chat"}}
        assert [o["kind"] for o in meta["ownerReferences"]] == ["InferenceSet"]
    st = status(harness, "chat")
    assert st["replicas"] == 3
    assert st["selector"] == f"{CREATED_BY}=chat"
    scale = harness.kubectl("get", "inferenceset", "chat", "-o", "jsonpath={.spec.replicas}")
    assert "3" in str(scale)

    # The two oldest stop being ready; the newest stays ready. Scaling to 1 must keep the newest.
    oldest, middle, newest = (w["metadata"]["name"] for w in kids)
    harness.kubelet.pod_modes.update({oldest: "crashloop", middle: "crashloop"})
    await harness.wait_for(
        lambda: status(harness, "chat").get("readyReplicas") == 1, within=40, what="1 ready of 3"
    )
    harness.kubectl("scale", "inferenceset", "chat", "--replicas", "1")
    await harness.wait_for(
        lambda: [w["metadata"]["name"] for w in children(harness, "chat")] == [newest],
        within=30,
        what="only the ready replica left",
    )
    await harness.wait_for(lambda: set_ready(harness, "chat", 1), within=30, what="ready at 1")

    # Deleting the set deletes its Workspaces (owner references) and their nodes.
    harness.kubectl("delete", "inferenceset", "chat", "--wait=false")
    await harness.wait_for(
        lambda: (
            not children(harness, "chat", active_only=False) and not harness.objects("nodeclaims")
        ),
        within=40,
        what="children and their nodes gone",
    )


@pytest.mark.timeout(150)
async def test_template_change_rolls_one_replica_at_a_time(harness: Harness) -> None:
    await harness.start_operator()
    harness.create("inferencesets", inference_set("roll", 3))
    await harness.wait_for(lambda: set_ready(harness, "roll", 3), within=60, what="3 ready")
    old = {w["metadata"]["name"] for w in children(harness, "roll")}

    # A template label is put on the existing replicas in place: nothing is replaced.
    harness.patch(
        "inferencesets", "roll", {"spec": {"template": {"metadata": {"labels": {"tier": "gold"}}}}}
    )
    await harness.wait_for(
        lambda: all(
            w["metadata"]["labels"].get("tier") == "gold" for w in children(harness, "roll")
        ),
        within=20,
        what="label synced",
    )
    assert {w["metadata"]["name"] for w in children(harness, "roll")} == old

    samples: list[tuple[int, int, int]] = []  # (old active, terminating, ready active)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            every = children(harness, "roll", active_only=False)
            active = [w for w in every if not w["metadata"].get("deletionTimestamp")]
            samples.append(
                (
                    sum(1 for w in active if w["metadata"]["name"] in old),
                    len(every) - len(active),
                    sum(1 for w in active if is_true(w, "WorkspaceSucceeded")),
                )
            )
            time.sleep(0.03)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    harness.patch(
        "inferencesets",
        "roll",
        {"spec": {"template": {"metadata": {"annotations": {"team": "b"}}}}},
    )
    try:
        await harness.wait_for(
            lambda: (
                set_ready(harness, "roll", 3)
                and not old
                & {w["metadata"]["name"] for w in children(harness, "roll", active_only=False)}
            ),
            within=90,
            what="all replicas replaced",
        )
    finally:
        stop.set()
        sampler.join(2)
    new = children(harness, "roll")
    assert all(w["metadata"]["annotations"]["team"] == "b" for w in new)
    assert samples
    assert samples[-1][0] == 0
    # maxUnavailable 1: never fewer than 2 ready replicas, never two replicas going at once.
    assert min(s[2] for s in samples) >= 2, samples
    assert max(s[1] for s in samples) <= 1, samples
    assert any(s[0] == 2 for s in samples)
    assert any(s[0] == 1 for s in samples)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kill_after", [0, 1, 2])
async def test_operator_sigkilled_during_scale_up_creates_exactly_the_desired_replicas(
    harness: Harness, kill_after: int
) -> None:
    """``kill -9`` after 0, 1 or 2 of 3 new children exist; a fresh process finishes at 4."""
    added = EventRecorder(harness.kube, "workspaces")
    op = await harness.start_operator_process()
    harness.create("inferencesets", inference_set("burst", 1))
    await harness.wait_for(lambda: set_ready(harness, "burst", 1), within=40, what="1 ready")

    harness.kubectl("scale", "inferenceset", "burst", "--replicas", "4")
    await harness.wait_for(
        lambda: len(children(harness, "burst")) >= 1 + kill_after, within=20, what="creations"
    )
    await harness.kill_operator(op)
    seen_at_kill = len(children(harness, "burst"))
    await harness.start_operator_process()
    await harness.wait_for(lambda: set_ready(harness, "burst", 4), within=90, what="4 ready")
    await asyncio.sleep(1.0)  # an extra replica, if any, would show up now
    added.stop()
    names = sorted(w["metadata"]["name"] for w in children(harness, "burst", active_only=False))
    assert len(names) == 4
    assert sorted(added.names("ADDED")) == names, (seen_at_kill, added.events)
    print(f"kill after {kill_after}: {seen_at_kill} at kill, 4 desired, {len(names)} created")


@pytest.mark.timeout(120)
async def test_v1alpha1_set_with_node_count_limit_and_performance_aggregation(
    harness: Harness,
) -> None:
    await harness.start_operator()
    # phi-4-mini needs one node per replica: a limit of 2 nodes allows 2 of 3 replicas.
    harness.create(
        "inferencesets", inference_set("capped", 3, version="v1alpha1", nodeCountLimit=2)
    )
    await harness.wait_for(
        lambda: (
            len(children(harness, "capped")) == 2
            and status(harness, "capped").get("readyReplicas") == 2
        ),
        within=60,
        what="2 ready replicas under the limit",
    )
    await asyncio.sleep(0.5)
    assert len(children(harness, "capped")) == 2
    cond = next(
        c for c in status(harness, "capped")["conditions"] if c["type"] == "InferenceSetReady"
    )
    assert cond["status"] == "False"
    assert "nodeCountLimit 2 allows 2 replicas" in cond["message"]

    # Children that report a peak throughput are summed into the set's status.
    for i, ws in enumerate(children(harness, "capped")):
        perf = {
            "metrics": {
                "peakTokensPerMinute": {
                    "description": "stress/high-concurrency",
                    "value": f"{1000 * (i + 1)}.00",
                    "unit": "tokens/min",
                }
            }
        }
        harness.kube.patch(
            "workspaces",
            ws["metadata"]["name"],
            {"status": {"performance": perf}},
            harness.ns,
            subresource="status",
        )
    await harness.wait_for(
        lambda: (
            ((status(harness, "capped").get("performance") or {}).get("metrics") or {})
            .get("aggregatedPeakTokensPerMinute", {})
            .get("value")
            == "3000.00"
        ),
        within=20,
        what="aggregated peak throughput",
    )


@pytest.mark.timeout(150)
async def test_api_faults_during_scale_up_never_make_an_extra_replica(harness: Harness) -> None:
    """One in five of the operator's calls fails (lost responses of creates included)."""
    cp = harness.cp
    cert, key = issue_certificate(cp.pki, "proxy", "/CN=fault-proxy", server_names=["127.0.0.1"])
    proxy = FaultProxy(cp.server, cp.ca, cert, key, rate=0.2)
    proxy.start()
    added = EventRecorder(harness.kube, "workspaces")
    try:
        config = yaml.safe_load(harness.cluster.install.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = proxy.url
        kubeconfig = cp.workdir / f"faulty-{harness.ns}.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        await harness.start_operator(kubeconfig=str(kubeconfig))
        for _ in range(10):  # the webhook's own lookups meet the faults too
            refusal = ""
            try:
                harness.create("inferencesets", inference_set("flaky", 4))
                break
            except ApiError as exc:
                refusal = exc.body
            assert "cannot validate the InferenceSet" in refusal, refusal
        await harness.wait_for(lambda: set_ready(harness, "flaky", 4), within=120, what="4 ready")
        await asyncio.sleep(1.0)
    finally:
        await harness.stop_all()
        proxy.stop()
        added.stop()
    assert proxy.injected["lost"] >= 1, proxy.injected
    names = sorted(w["metadata"]["name"] for w in children(harness, "flaky", active_only=False))
    assert len(names) == 4
    assert sorted(added.names("ADDED")) == names
