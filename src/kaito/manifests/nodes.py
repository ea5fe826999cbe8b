"""GPU node requests: NodeClaims for gpu-provisioner (§2.4) and a NodePool for Karpenter (§2.3).

gpu-provisioner turns each NodeClaim into one AKS agent pool of one VM, so the NodeClaim carries
everything the node needs: the VM size, the Workspace's labels (so pods and node counting find it),
the ``sku=gpu`` taint (so nothing else lands on an expensive GPU), the OS image family and the OS
disk size. With Karpenter, one NodePool per Workspace with static ``replicas`` does the same job.
"""

from __future__ import annotations

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace
from kaito.manifests import naming, podspec
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import ManifestSettings, WorkloadPlan, WorkspaceRef

JSON = podspec.JSON

NODECLAIM_API_VERSION = "karpenter.sh/v1"
NODEPOOL_API_VERSION = "karpenter.sh/v1"
# Karpenter NodeClasses per cloud, for NodePools (§2.3; names from upstream's chart defaults).
_KARPENTER_NODE_CLASS = {
    constants.CLOUD_AZURE: ("karpenter.azure.com", "AKSNodeClass", "image-family-ubuntu"),
    constants.CLOUD_ARC: ("karpenter.azure.com", "AKSNodeClass", "image-family-ubuntu"),
    constants.CLOUD_AWS: ("karpenter.k8s.aws", "EC2NodeClass", "default"),
}


def provisioner_labels(ws_name: str, namespace: str, provisioner: str) -> dict[str, str]:
    """Ownership labels the provisioner puts on this Workspace's nodes (pods require them, §2.3).

    ``byo`` nodes carry only the user's labels, so there is nothing to add.
    """
    if provisioner == constants.NODE_PROVISIONER_KARPENTER:
        return {
            constants.LABEL_KARPENTER_WORKSPACE_NAME: ws_name,
            constants.LABEL_KARPENTER_WORKSPACE_NAMESPACE: namespace,
        }
    if provisioner == constants.NODE_PROVISIONER_BYO:
        return {}
    return {constants.LABEL_WORKSPACE: ws_name, constants.LABEL_WORKSPACE_NAMESPACE: namespace}


def _sku_taint() -> JSON:
    return {
        "key": constants.TAINT_SKU_KEY,
        "value": constants.TAINT_SKU_VALUE,
        "effect": constants.TAINT_EFFECT_NO_SCHEDULE,
    }


def _requirement(key: str, operator: str, values: list[str]) -> JSON:
    return {"key": key, "operator": operator, "values": values}


def _instance_type(ws: AnyWorkspace) -> str:
    instance_type = ws.resource.instance_type
    if not instance_type:
        raise ManifestError(
            "resource.instanceType is required to provision nodes "
            "(only bring-your-own nodes may leave it empty)"
        )
    return instance_type


def build_nodeclaim(
    ws: AnyWorkspace, index: int, settings: ManifestSettings, plan: WorkloadPlan
) -> JSON:
    """The NodeClaim for node slot ``index`` of ``ws``, as gpu-provisioner expects it (§2.4).

    The name is :func:`kaito.manifests.naming.nodeclaim_name`, so creating slot ``index`` twice is
    harmless. ``plan.disk_gib`` sizes the OS disk (the model weights are downloaded onto it).
    """
    ref = WorkspaceRef.of(ws)
    instance_type = _instance_type(ws)
    labels = {
        **naming.selector_labels(ws.resource.label_selector),
        constants.LABEL_KARPENTER_NODEPOOL: constants.NODECLAIM_NODEPOOL_VALUE,
        constants.LABEL_WORKSPACE: ref.name,
        constants.LABEL_WORKSPACE_NAMESPACE: ref.namespace,
    }
    image_family = (
        ref.annotations.get(constants.ANNOTATION_NODE_IMAGE_FAMILY)
        or settings.default_node_image_family
    )
    if settings.cloud == constants.CLOUD_AWS:
        node_class_ref = {
            "group": constants.NODE_CLASS_GROUP_AWS,
            "kind": constants.NODE_CLASS_KIND_AWS,
            "name": constants.NODE_CLASS_DEFAULT_NAME,
        }
        cloud_requirement = _requirement(constants.LABEL_AWS_INSTANCE_GPU_COUNT, "Gt", ["0"])
    else:
        node_class_ref = {
            "group": constants.NODE_CLASS_GROUP_AZURE,
            "kind": constants.NODE_CLASS_KIND_AZURE,
            "name": constants.NODE_CLASS_DEFAULT_NAME,
        }
        cloud_requirement = _requirement(constants.LABEL_AZURE_SKU_NAME, "In", [instance_type])
    storage = f"{plan.disk_gib}Gi" if plan.disk_gib else constants.NODECLAIM_DEFAULT_STORAGE
    return {
        "apiVersion": NODECLAIM_API_VERSION,
        "kind": "NodeClaim",
        "metadata": podspec.object_meta(
            naming.nodeclaim_name(ref.namespace, ref.name, index),
            ref.namespace,
            labels=labels,
            annotations={
                constants.ANNOTATION_KARPENTER_DO_NOT_DISRUPT: "true",
                constants.ANNOTATION_NODE_IMAGE_FAMILY: image_family,
            },
        ),
        "spec": {
            "nodeClassRef": node_class_ref,
            "taints": [_sku_taint()],
            "requirements": [
                _requirement(
                    constants.LABEL_KARPENTER_NODEPOOL, "In", [constants.NODECLAIM_NODEPOOL_VALUE]
                ),
                _requirement(constants.LABEL_INSTANCE_TYPE, "In", [instance_type]),
                _requirement(constants.LABEL_OS, "In", ["linux"]),
                cloud_requirement,
            ],
            "resources": {"requests": {"storage": storage}},
        },
    }


def build_nodeclaims(
    ws: AnyWorkspace, settings: ManifestSettings, plan: WorkloadPlan
) -> list[JSON]:
    """All ``plan.node_count`` NodeClaims of ``ws`` (slots ``0 .. node_count-1``)."""
    return [build_nodeclaim(ws, i, settings, plan) for i in range(plan.node_count)]


def build_nodepool(
    ws: AnyWorkspace, settings: ManifestSettings, plan: WorkloadPlan, *, replicas: int | None = None
) -> JSON:
    """The Karpenter NodePool of ``ws`` (§2.3): static ``replicas`` nodes of the Workspace's SKU.

    Args:
        ws: The Workspace.
        settings: Operator settings (cloud, default NodeClass).
        plan: The plan; ``plan.node_count`` is the default replica count.
        replicas: Nodes still to provision (target minus nodes already covered), if the controller
            knows.
    """
    ref = WorkspaceRef.of(ws)
    instance_type = _instance_type(ws)
    group, kind, default_class = _KARPENTER_NODE_CLASS.get(
        settings.cloud, _KARPENTER_NODE_CLASS[constants.CLOUD_AZURE]
    )
    node_class = (
        ref.annotations.get(constants.ANNOTATION_NODE_CLASS_NAME)
        or settings.karpenter_node_class
        or default_class
    )
    ownership = provisioner_labels(ref.name, ref.namespace, constants.NODE_PROVISIONER_KARPENTER)
    template_labels = {**naming.selector_labels(ws.resource.label_selector), **ownership}
    requirements = [_requirement(constants.LABEL_INSTANCE_TYPE, "In", [instance_type])]
    if settings.cloud == constants.CLOUD_AZURE:
        requirements.append(
            _requirement(
                constants.LABEL_AZURE_PLACEMENT_SCOPE,
                "In",
                [constants.AZURE_PLACEMENT_SCOPE_REGIONAL],
            )
        )
    return {
        "apiVersion": NODEPOOL_API_VERSION,
        "kind": "NodePool",
        "metadata": podspec.object_meta(
            naming.nodepool_name(ref.namespace, ref.name),
            None,
            labels={
                **ownership,
                constants.LABEL_KARPENTER_MANAGED_BY: constants.KARPENTER_MANAGED_BY_VALUE,
            },
        ),
        "spec": {
            "replicas": plan.node_count if replicas is None else replicas,
            "template": {
                "metadata": {"labels": {k: template_labels[k] for k in sorted(template_labels)}},
                "spec": {
                    "nodeClassRef": {"group": group, "kind": kind, "name": node_class},
                    "requirements": requirements,
                    "taints": [_sku_taint()],
                },
            },
            "disruption": {
                "consolidateAfter": "0s",
                "budgets": [{"nodes": "1", "reasons": ["Drifted"]}],
            },
        },
    }
