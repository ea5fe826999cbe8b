"""InferenceSet types, child Workspaces and the CRD (both versions, v1beta1 stored)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaito.api import constants, inferenceset_crd
from kaito.api.inferenceset import (
    InferenceSet,
    InferenceSetV1Alpha1,
    parse_inferenceset,
    to_storage,
)
from kaito.api.inferenceset_children import (
    build_child_workspace,
    child_selector,
    max_unavailable,
    template_hash,
)
from kaito.api.workspace import WorkspaceParseError

BASE: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "InferenceSet",
    "metadata": {
        "name": "chat",
        "namespace": "team",
        "uid": "u-1",
        "labels": {"kaito.sh/inference-role": "decode"},
        "annotations": {"kaito.sh/runtime": "vllm"},
    },
    "spec": {
        "replicas": 3,
        "labelSelector": {"matchLabels": {"apps": "chat"}},
        "template": {
            "metadata": {"labels": {"tier": "gold"}, "annotations": {"note": "x"}},
            "resource": {"instanceType": "Standard_NC24ads_A100_v4"},
            "inference": {"preset": {"name": "phi-4-mini-instruct"}},
        },
    },
}


def doc(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = out
        *parents, last = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def test_both_versions_parse_and_v1alpha1_converts_to_storage() -> None:
    alpha = doc(apiVersion="kaito.sh/v1alpha1")
    alpha["spec"]["template"]["resource"] = {"instanceType": "Standard_NC24ads_A100_v4"}
    parsed = parse_inferenceset(alpha)
    assert isinstance(parsed, InferenceSetV1Alpha1)
    stored = to_storage(parsed)
    assert isinstance(stored, InferenceSet)
    assert stored.spec.replicas == 3
    assert stored.spec.update_strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1},
    }


def test_v1alpha1_has_no_partition_and_unknown_fields_name_their_path() -> None:
    alpha = doc(apiVersion="kaito.sh/v1alpha1")
    alpha["spec"]["template"]["resource"]["partition"] = {"mode": "mig", "profile": "1g.10gb"}
    with pytest.raises(WorkspaceParseError) as err:
        parse_inferenceset(alpha)
    assert [i.field for i in err.value.issues] == ["spec.template.resource.partition"]
    with pytest.raises(WorkspaceParseError) as err:
        parse_inferenceset(doc(spec__replica=2))
    assert "spec.replica" in [i.field for i in err.value.issues]


def test_wrong_kind_and_version_are_reported() -> None:
    with pytest.raises(WorkspaceParseError) as err:
        parse_inferenceset({"apiVersion": "kaito.sh/v9", "kind": "Workspace"})
    assert {i.field for i in err.value.issues} == {"kind", "apiVersion"}


def test_child_workspace_copies_selector_template_and_owner() -> None:
    child = build_child_workspace(parse_inferenceset(BASE), byo=False)
    meta = child.metadata
    assert meta.name is None
    assert meta.generate_name == "chat-"
    assert meta.namespace == "team"
    assert meta.labels == {
        "tier": "gold",
        "kaito.sh/inference-role": "decode",
        constants.LABEL_INFERENCESET_CREATED_BY: "chat",
    }
    assert meta.annotations["note"] == "x"
    assert meta.annotations["kaito.sh/runtime"] == "vllm"
    assert meta.annotations[constants.ANNOTATION_INFERENCESET_TEMPLATE_HASH] == template_hash(
        parse_inferenceset(BASE)
    )
    (owner,) = meta.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "InferenceSet",
        "chat",
        "u-1",
        True,
    )
    assert child.resource.label_selector.match_labels == {"apps": "chat"}
    assert child.resource.instance_type == "Standard_NC24ads_A100_v4"
    assert child.inference is not None
    assert child.inference.preset is not None
    assert child.inference.preset.name == "phi-4-mini-instruct"
    assert child_selector("chat") == "inferenceset.kaito.sh/created-by=chat"


def test_byo_child_has_no_instance_type_but_keeps_the_partition() -> None:
    body = doc()
    body["spec"]["template"]["resource"] = {"partition": {"mode": "mig", "profile": "1g.10gb"}}
    child = build_child_workspace(parse_inferenceset(body), byo=True)
    assert child.resource.instance_type is None
    assert child.resource.partition is not None
    assert child.resource.partition.profile == "1g.10gb"


def test_template_hash_follows_template_and_selector_not_replicas_or_labels() -> None:
    base = template_hash(parse_inferenceset(BASE))
    assert template_hash(parse_inferenceset(doc(spec__replicas=7))) == base
    assert template_hash(parse_inferenceset(doc(spec__nodeCountLimit=4))) == base
    changed = doc()
    changed["spec"]["template"]["inference"]["preset"]["name"] = "mistral-7b-instruct"
    assert template_hash(parse_inferenceset(changed)) != base
    moved = doc(spec__labelSelector={"matchLabels": {"apps": "other"}})
    assert template_hash(parse_inferenceset(moved)) != base
    alpha = doc(apiVersion="kaito.sh/v1alpha1")
    assert template_hash(parse_inferenceset(alpha)) == base  # the same set in either version
    relabelled = doc()
    relabelled["spec"]["template"]["metadata"]["labels"] = {"tier": "silver"}
    assert template_hash(parse_inferenceset(relabelled)) == base  # labels sync in place
    bare = doc()
    del bare["spec"]["template"]["metadata"]
    labelled = doc()
    labelled["spec"]["template"]["metadata"] = {"labels": {"tier": "gold"}}
    assert template_hash(parse_inferenceset(bare)) == template_hash(parse_inferenceset(labelled))
    annotated = doc()
    annotated["spec"]["template"]["metadata"]["annotations"] = {"note": "y"}
    assert template_hash(parse_inferenceset(annotated)) != base


@pytest.mark.parametrize(
    ("strategy", "replicas", "expected"),
    [
        ({}, 3, 1),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}, 5, 2),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}, 5, 2),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}, 3, 1),
    ],
)
def test_max_unavailable(strategy: dict[str, Any], replicas: int, expected: int) -> None:
    iset = parse_inferenceset(doc(spec__updateStrategy=strategy, spec__replicas=replicas))
    assert max_unavailable(iset) == expected


@pytest.mark.parametrize("value", [0, "x", "150%", True])
def test_max_unavailable_rejects_unusable_values(value: Any) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": value}}
    with pytest.raises(ValueError, match="maxUnavailable"):
        max_unavailable(parse_inferenceset(doc(spec__updateStrategy=strategy)))


def test_crd_has_upstreams_columns_scale_subresource_and_storage_version() -> None:
    crd = inferenceset_crd.build_inferenceset_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "inferencesets.kaito.sh"
    assert spec["names"]["shortNames"] == ["is", "isets"]
    assert spec["names"]["categories"] == ["inferenceset"]
    versions = {v["name"]: v for v in spec["versions"]}
    assert [v["name"] for v in spec["versions"] if v["storage"]] == ["v1beta1"]
    for version in versions.values():
        assert [c["name"] for c in version["additionalPrinterColumns"]] == [
            "Replicas",
            "ReadyReplicas",
            "Age",
        ]
        assert version["subresources"] == {
            "scale": {
                "labelSelectorPath": ".status.selector",
                "specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas",
            },
            "status": {},
        }
        props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert props["replicas"]["default"] == 1
        assert props["replicas"]["minimum"] == 0
        assert props["updateStrategy"]["default"]["rollingUpdate"] == {"maxUnavailable": 1}
        assert props["updateStrategy"]["x-kubernetes-preserve-unknown-fields"] is True
        assert (
            "labelSelector"
            in version["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"]
        )
    beta_resource = versions["v1beta1"]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["template"]["properties"]["resource"]["properties"]
    alpha_resource = versions["v1alpha1"]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["template"]["properties"]["resource"]["properties"]
    assert "partition" in beta_resource
    assert "partition" not in alpha_resource


def test_rendered_crd_file_is_the_committed_one() -> None:
    from pathlib import Path

    ((name, text),) = inferenceset_crd.render_crd().items()
    committed = Path(__file__).resolve().parents[3] / "config" / "crd" / "bases" / name
    assert committed.read_text() == text
