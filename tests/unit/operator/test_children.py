"""Which child changes give their Workspace a pass, and which Workspace that is."""

from __future__ import annotations

import copy
from typing import Any

from kaito.api import constants
from kaito.k8s import resources
from kaito.operator import children

Obj = dict[str, Any]


def _meta(**extra: Any) -> Obj:
    return {
        "name": "x",
        "namespace": "default",
        "resourceVersion": "1",
        "labels": {constants.LABEL_WORKSPACE: "ws"},
        **extra,
    }


def _changed(obj: Obj, **changes: Any) -> Obj:
    new = copy.deepcopy(obj)
    new["metadata"]["resourceVersion"] = "2"
    for path, value in changes.items():
        target = new
        *parents, last = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return new


def test_workspace_key_from_labels() -> None:
    labels = {constants.LABEL_WORKSPACE: "ws"}
    assert children.workspace_key(labels, "team") == ("team", "ws")
    labels[constants.LABEL_WORKSPACE_NAMESPACE] = "other"
    assert children.workspace_key(labels, None) == ("other", "ws")
    assert children.workspace_key({constants.LABEL_WORKSPACE: "ws"}, None) is None
    karpenter = {
        constants.LABEL_KARPENTER_WORKSPACE_NAME: "ws",
        constants.LABEL_KARPENTER_WORKSPACE_NAMESPACE: "team",
    }
    assert children.workspace_key(karpenter, None) == ("team", "ws")
    assert children.workspace_key({}, "team") is None


def test_watched_children_follow_the_provisioner() -> None:
    def kinds(mode: str) -> set[str]:
        return {k.kind for k, _ in children.watched_children(mode)}

    base = {"StatefulSet", "Job", "Pod", "Service", "ControllerRevision"}
    assert kinds(constants.NODE_PROVISIONER_BYO) == base
    assert kinds(constants.NODE_PROVISIONER_GPU_PROVISIONER) == base | {"Node", "NodeClaim"}
    assert kinds(constants.NODE_PROVISIONER_KARPENTER) == base | {"Node", "NodeClaim", "NodePool"}
    karpenter = dict(children.watched_children(constants.NODE_PROVISIONER_KARPENTER))
    assert karpenter[resources.NODE] == constants.LABEL_KARPENTER_WORKSPACE_NAME


def test_pods_matter_only_when_their_failure_class_changes() -> None:
    pod = {"metadata": _meta(), "status": {"phase": "Pending"}}
    assert not children.relevant(resources.POD, None, pod)  # created
    running = _changed(pod, status__phase="Running", spec__nodeName="n1")
    assert not children.relevant(resources.POD, pod, running)  # scheduled, started
    oom = _changed(
        pod,
        status__containerStatuses=[
            {"name": "main", "lastState": {"terminated": {"reason": "OOMKilled"}}}
        ],
    )
    assert children.relevant(resources.POD, pod, oom)
    assert children.relevant(resources.POD, oom, None)  # a failing pod went away
    assert not children.relevant(resources.POD, running, None)


def test_nodes_matter_for_labels_readiness_capacity_and_deletion() -> None:
    node = {
        "metadata": _meta(),
        "status": {"conditions": [{"type": "Ready", "status": "False", "lastHeartbeatTime": "a"}]},
    }
    beat = _changed(node, status__conditions=[{"type": "Ready", "status": "False", "x": "b"}])
    assert not children.relevant(resources.NODE, node, beat)
    assert not children.relevant(resources.NODE, node, _changed(node, spec__taints=[]))
    ready = _changed(node, status__conditions=[{"type": "Ready", "status": "True"}])
    assert children.relevant(resources.NODE, node, ready)
    labelled = _changed(node, metadata__labels={constants.LABEL_WORKSPACE: "ws", "a": "b"})
    assert children.relevant(resources.NODE, node, labelled)
    gpus = _changed(node, status__capacity={constants.RESOURCE_NVIDIA_GPU: "1"})
    assert children.relevant(resources.NODE, node, gpus)
    assert children.relevant(resources.NODE, node, _changed(node, metadata__deletionTimestamp="t"))
    assert children.relevant(resources.NODE, None, node)
    assert children.relevant(resources.NODE, node, None)


def test_nodeclaims_matter_for_conditions_and_node_name_not_finalizers() -> None:
    claim = {"metadata": _meta(), "status": {}}
    assert not children.relevant(
        resources.NODECLAIM, claim, _changed(claim, metadata__finalizers=["f"])
    )
    assert children.relevant(resources.NODECLAIM, claim, _changed(claim, status__nodeName="n"))
    launched = _changed(claim, status__conditions=[{"type": "Launched", "status": "True"}])
    assert children.relevant(resources.NODECLAIM, claim, launched)


def test_services_matter_only_by_existence_and_others_by_any_real_change() -> None:
    svc = {"metadata": _meta(), "spec": {"clusterIP": "10.0.0.1"}}
    assert children.relevant(resources.SERVICE, None, svc)
    assert children.relevant(resources.SERVICE, svc, None)
    assert not children.relevant(resources.SERVICE, svc, _changed(svc, spec__clusterIP="x"))
    sts = {"metadata": _meta(), "status": {"readyReplicas": 0}}
    assert not children.relevant(resources.STATEFULSET, sts, _changed(sts))
    managed = _changed(sts, metadata__managedFields=[{"manager": "x"}])
    assert not children.relevant(resources.STATEFULSET, sts, managed)
    ready = _changed(sts, status__readyReplicas=1)
    assert children.relevant(resources.STATEFULSET, sts, ready)
