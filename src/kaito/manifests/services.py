"""The two Services of an inference Workspace (§2.5).

``<ws>`` is what clients call: port 80 to the server's 5000, and it selects only pod ``<ws>-0``
because in a multi-node deployment only the leader serves HTTP. ``<ws>-headless`` gives every
StatefulSet pod a stable DNS name so that Ray workers can find the leader.
"""

from __future__ import annotations

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace
from kaito.manifests import naming, podspec
from kaito.manifests.plan import WorkspaceRef

JSON = podspec.JSON


def _port(name: str, port: int, target: int) -> podspec.JSON:
    return {"name": name, "port": port, "targetPort": target, "protocol": "TCP"}


def build_service(ws: AnyWorkspace, runtime: str) -> JSON:
    """The main Service ``<ws>``: ClusterIP, or LoadBalancer with ``kaito.sh/enablelb: True``.

    Ray and dashboard ports are always exposed (clients of a multi-node deployment use them); the
    KV-event port only for vLLM behind a ClusterIP, as upstream does.
    """
    ref = WorkspaceRef.of(ws)
    load_balancer = ref.annotations.get(constants.ANNOTATION_ENABLE_LB) == constants.ENABLE_LB_VALUE
    ports = [
        _port(constants.PORT_NAME_HTTP, constants.PORT_SERVICE_HTTP, constants.PORT_INFERENCE),
        _port(constants.PORT_NAME_RAY, constants.PORT_RAY, constants.PORT_RAY),
        _port(
            constants.PORT_NAME_DASHBOARD,
            constants.PORT_RAY_DASHBOARD,
            constants.PORT_RAY_DASHBOARD,
        ),
    ]
    if runtime == constants.RUNTIME_VLLM and not load_balancer:
        ports.append(
            _port(constants.PORT_NAME_KV_EVENTS, constants.PORT_KV_EVENTS, constants.PORT_KV_EVENTS)
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": podspec.object_meta(
            ref.name,
            ref.namespace,
            labels={constants.LABEL_WORKSPACE: ref.name},
            owner=ref.owner_reference(),
        ),
        "spec": {
            "type": "LoadBalancer" if load_balancer else "ClusterIP",
            "selector": {
                constants.LABEL_WORKSPACE: ref.name,
                constants.LABEL_STATEFULSET_POD_NAME: naming.leader_pod_name(ref.name),
            },
            "ports": ports,
            "publishNotReadyAddresses": True,
        },
    }


def build_headless_service(ws: AnyWorkspace) -> JSON:
    """The headless Service ``<ws>-headless``: the StatefulSet's ``serviceName`` (pod DNS)."""
    ref = WorkspaceRef.of(ws)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": podspec.object_meta(
            naming.headless_service_name(ref.name),
            ref.namespace,
            labels={constants.LABEL_WORKSPACE: ref.name},
            owner=ref.owner_reference(),
        ),
        "spec": {
            "clusterIP": "None",
            "selector": {constants.LABEL_WORKSPACE: ref.name},
            "publishNotReadyAddresses": True,
        },
    }
