from __future__ import annotations

import re

import pytest

from kaito.api import constants
from kaito.manifests import naming, nodes
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import ManifestSettings, WorkloadPlan
from tests.unit.manifests.conftest import INFERENCE_WS, make_ws


def _req(obj, key):
    return next(r for r in obj["spec"]["requirements"] if r["key"] == key)


def test_nodeclaim_carries_the_gpu_provisioner_contract(inference_ws):
    claim = nodes.build_nodeclaim(inference_ws, 0, ManifestSettings(), WorkloadPlan(disk_gib=87))
    meta = claim["metadata"]
    assert claim["apiVersion"] == "karpenter.sh/v1"
    assert claim["kind"] == "NodeClaim"
    assert meta["name"] == naming.nodeclaim_name("team-a", "workspace-phi-4-mini", 0)
    assert re.match(constants.NODECLAIM_NAME_PATTERN, meta["name"])
    assert meta["labels"] == {
        "apps": "phi-4-mini",
        "kaito.sh/workspace": "workspace-phi-4-mini",
        "kaito.sh/workspacenamespace": "team-a",
        "karpenter.sh/nodepool": "kaito",
    }
    assert meta["annotations"] == {
        "kaito.sh/node-image-family": "ubuntu",
        "karpenter.sh/do-not-disrupt": "true",
    }
    spec = claim["spec"]
    assert spec["nodeClassRef"] == {
        "group": "kaito.sh",
        "kind": "KaitoNodeClass",
        "name": "default",
    }
    assert spec["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert _req(claim, "karpenter.sh/nodepool")["values"] == ["kaito"]
    assert _req(claim, "node.kubernetes.io/instance-type")["values"] == ["Standard_NC24ads_A100_v4"]
    assert _req(claim, "kubernetes.io/os")["values"] == ["linux"]
    assert _req(claim, "karpenter.azure.com/sku-name")["values"] == ["Standard_NC24ads_A100_v4"]
    assert spec["resources"] == {"requests": {"storage": "87Gi"}}


def test_nodeclaim_storage_defaults_to_1024gi_when_the_disk_is_unknown(inference_ws):
    claim = nodes.build_nodeclaim(inference_ws, 0, ManifestSettings(), WorkloadPlan())
    assert claim["spec"]["resources"]["requests"]["storage"] == "1024Gi"


def test_nodeclaim_on_aws_uses_ec2_node_class_and_gpu_count_requirement(inference_ws):
    claim = nodes.build_nodeclaim(inference_ws, 0, ManifestSettings(cloud="aws"), WorkloadPlan())
    assert claim["spec"]["nodeClassRef"]["kind"] == "EC2NodeClass"
    assert claim["spec"]["nodeClassRef"]["group"] == "karpenter.k8s.aws"
    gpu = _req(claim, "karpenter.k8s.aws/instance-gpu-count")
    assert gpu["operator"] == "Gt"
    assert gpu["values"] == ["0"]
    assert not any(
        r["key"] == "karpenter.azure.com/sku-name" for r in claim["spec"]["requirements"]
    )


def test_node_image_family_annotation_wins_over_the_operator_default():
    ws = make_ws(
        INFERENCE_WS, metadata={"annotations": {"kaito.sh/node-image-family": "azurelinux"}}
    )
    claim = nodes.build_nodeclaim(ws, 0, ManifestSettings(), WorkloadPlan())
    assert claim["metadata"]["annotations"]["kaito.sh/node-image-family"] == "azurelinux"


def test_user_labels_cannot_claim_reserved_keys():
    ws = make_ws(
        INFERENCE_WS,
        resource={
            "labelSelector": {
                "matchLabels": {"apps": "phi", "kaito.sh/workspace": "victim"},
            }
        },
    )
    claim = nodes.build_nodeclaim(ws, 0, ManifestSettings(), WorkloadPlan())
    assert claim["metadata"]["labels"]["kaito.sh/workspace"] == "workspace-phi-4-mini"


def test_build_nodeclaims_makes_one_per_node_with_distinct_stable_names(inference_ws):
    claims = nodes.build_nodeclaims(inference_ws, ManifestSettings(), WorkloadPlan(node_count=3))
    names = [c["metadata"]["name"] for c in claims]
    assert len(set(names)) == 3
    again = nodes.build_nodeclaims(inference_ws, ManifestSettings(), WorkloadPlan(node_count=3))
    assert names == [c["metadata"]["name"] for c in again]


def test_nodeclaim_needs_an_instance_type():
    ws = make_ws(INFERENCE_WS, resource={"instanceType": None})
    with pytest.raises(ManifestError, match="instanceType"):
        nodes.build_nodeclaim(ws, 0, ManifestSettings(), WorkloadPlan())


def test_nodepool_follows_the_karpenter_shape(inference_ws):
    pool = nodes.build_nodepool(
        inference_ws, ManifestSettings(node_provisioner="karpenter"), WorkloadPlan(node_count=2)
    )
    assert pool["kind"] == "NodePool"
    assert pool["metadata"]["name"] == "team-a-workspace-phi-4-mini"
    assert "namespace" not in pool["metadata"]
    spec = pool["spec"]
    assert spec["replicas"] == 2
    assert spec["template"]["metadata"]["labels"] == {
        "apps": "phi-4-mini",
        "karpenter.kaito.sh/workspace-name": "workspace-phi-4-mini",
        "karpenter.kaito.sh/workspace-namespace": "team-a",
    }
    template = spec["template"]["spec"]
    assert template["taints"] == [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    assert template["requirements"][0] == {
        "key": "node.kubernetes.io/instance-type",
        "operator": "In",
        "values": ["Standard_NC24ads_A100_v4"],
    }
    assert template["requirements"][1]["key"] == "karpenter.azure.com/placement-scope"
    assert template["nodeClassRef"]["kind"] == "AKSNodeClass"
    assert spec["disruption"] == {
        "consolidateAfter": "0s",
        "budgets": [{"nodes": "1", "reasons": ["Drifted"]}],
    }


def test_nodepool_replicas_override_and_node_class_annotation():
    ws = make_ws(INFERENCE_WS, metadata={"annotations": {"kaito.sh/node-class-name": "gpu-big"}})
    pool = nodes.build_nodepool(ws, ManifestSettings(), WorkloadPlan(node_count=3), replicas=1)
    assert pool["spec"]["replicas"] == 1
    assert pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "gpu-big"


@pytest.mark.parametrize(
    ("provisioner", "expected"),
    [
        ("gpu-provisioner", {"kaito.sh/workspace", "kaito.sh/workspacenamespace"}),
        (
            "karpenter",
            {"karpenter.kaito.sh/workspace-name", "karpenter.kaito.sh/workspace-namespace"},
        ),
        ("byo", set()),
    ],
)
def test_provisioner_ownership_labels(provisioner, expected):
    assert set(nodes.provisioner_labels("ws", "ns", provisioner)) == expected
