"""The resource kinds the operator reads and writes, described once.

Each ``Kind`` names the group, version, kind, plural and scope of one API resource. The client
turns a ``Kind`` into a lightkube generic resource lazily; the controller never touches lightkube
types and works on plain dicts, which is also what the pure ``kaito.manifests`` builders produce.
"""

from __future__ import annotations

import dataclasses

from kaito.api import constants


@dataclasses.dataclass(frozen=True)
class Kind:
    """One API resource: enough to build its URLs."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version


WORKSPACE = Kind(
    constants.GROUP,
    constants.VERSION_V1BETA1,
    constants.KIND_WORKSPACE,
    constants.WORKSPACE_PLURAL,
    True,
)
INFERENCESET = Kind(
    constants.GROUP,
    constants.VERSION_V1BETA1,
    constants.KIND_INFERENCESET,
    constants.INFERENCESET_PLURAL,
    True,
)
SCALED_OBJECT = Kind("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects", True)
CRD = Kind(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
)
NODECLAIM = Kind("karpenter.sh", "v1", "NodeClaim", "nodeclaims", False)
NODEPOOL = Kind("karpenter.sh", "v1", "NodePool", "nodepools", False)
CONTROLLER_REVISION = Kind("apps", "v1", "ControllerRevision", "controllerrevisions", True)
STATEFULSET = Kind("apps", "v1", "StatefulSet", "statefulsets", True)
DEPLOYMENT = Kind("apps", "v1", "Deployment", "deployments", True)
JOB = Kind("batch", "v1", "Job", "jobs", True)
NODE = Kind("", "v1", "Node", "nodes", False)
POD = Kind("", "v1", "Pod", "pods", True)
# The log subresource (read with ``Cluster.pod_log``): the post-load benchmark's result line.
POD_LOG = Kind("", "v1", "Pod", "pods/log", True)
SERVICE = Kind("", "v1", "Service", "services", True)
CONFIGMAP = Kind("", "v1", "ConfigMap", "configmaps", True)
SECRET = Kind("", "v1", "Secret", "secrets", True)
EVENT = Kind("", "v1", "Event", "events", True)
LEASE = Kind("coordination.k8s.io", "v1", "Lease", "leases", True)

BY_KIND: dict[str, Kind] = {
    k.kind: k
    for k in (
        WORKSPACE,
        INFERENCESET,
        SCALED_OBJECT,
        CRD,
        NODECLAIM,
        NODEPOOL,
        CONTROLLER_REVISION,
        STATEFULSET,
        DEPLOYMENT,
        JOB,
        NODE,
        POD,
        SERVICE,
        CONFIGMAP,
        SECRET,
        EVENT,
        LEASE,
    )
}


def kind_of(obj: dict[str, object]) -> Kind:
    """The ``Kind`` of a manifest dict, by its ``kind`` field."""
    name = str(obj.get("kind", ""))
    try:
        return BY_KIND[name]
    except KeyError as exc:
        raise ValueError(f"kaito.k8s does not know the kind {name!r}") from exc
