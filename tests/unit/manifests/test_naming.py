from __future__ import annotations

import re

import pytest

from kaito.api import constants
from kaito.api.meta import LabelSelector
from kaito.manifests import naming

NODECLAIM_RE = re.compile(constants.NODECLAIM_NAME_PATTERN)


def test_nodeclaim_name_is_a_pure_function_of_namespace_name_and_index():
    first = naming.nodeclaim_name("default", "workspace-phi-4", 0)
    assert first == naming.nodeclaim_name("default", "workspace-phi-4", 0)
    assert first.startswith("ws")
    assert len(first) == 11


@pytest.mark.parametrize(
    ("namespace", "name", "index"),
    [
        ("default", "a", 0),
        ("kube-system", "workspace-with-a-very-long-name-" + "x" * 30, 7),
        ("n", "UPPER-is-not-allowed-but-hash-is-hex", 123),
    ],
)
def test_nodeclaim_name_matches_the_gpu_provisioner_agent_pool_regex(namespace, name, index):
    assert NODECLAIM_RE.match(naming.nodeclaim_name(namespace, name, index))


def test_nodeclaim_names_differ_by_index_namespace_and_name():
    names = {
        naming.nodeclaim_name("ns", "ws", 0),
        naming.nodeclaim_name("ns", "ws", 1),
        naming.nodeclaim_name("ns2", "ws", 0),
        naming.nodeclaim_name("ns", "ws2", 0),
        # "a/b" + "c" must not collide with "a" + "b/c": the separator is part of the hash input.
        naming.nodeclaim_name("a-b", "c", 0),
        naming.nodeclaim_name("a", "b-c", 0),
    }
    assert len(names) == 6


def test_nodeclaim_name_rejects_a_negative_index():
    with pytest.raises(ValueError, match="index"):
        naming.nodeclaim_name("ns", "ws", -1)


def test_nodepool_name_is_namespace_dash_name_when_short():
    assert naming.nodepool_name("team-a", "phi-4") == "team-a-phi-4"


def test_long_nodepool_names_are_cut_to_63_with_a_distinguishing_hash():
    a = naming.nodepool_name("namespace-" + "n" * 30, "workspace-" + "w" * 30 + "-one")
    b = naming.nodepool_name("namespace-" + "n" * 30, "workspace-" + "w" * 30 + "-two")
    assert len(a) <= 63
    assert len(b) <= 63
    assert a != b
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", a)


def test_selector_labels_drop_reserved_keys_and_sort():
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {
                "zone": "eu",
                constants.LABEL_WORKSPACE: "someone-elses",
                constants.LABEL_KARPENTER_WORKSPACE_NAME: "x",
                "app": "phi",
            }
        }
    )
    assert list(naming.selector_labels(selector).items()) == [("app", "phi"), ("zone", "eu")]


def test_selector_labels_take_single_value_in_expressions():
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"app": "phi", constants.LABEL_WORKSPACE_NAMESPACE: "evil"},
            "matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}],
        }
    )
    assert naming.selector_labels(selector) == {"app": "phi", "gpu": "a100"}


def test_selector_expressions_that_are_not_labels_are_errors():
    selector = LabelSelector.model_validate(
        {"matchExpressions": [{"key": "two", "operator": "In", "values": ["a", "b"]}]}
    )
    with pytest.raises(ValueError, match="single value"):
        naming.selector_labels(selector)


def test_container_names_are_dns_labels_even_for_dotted_adapter_names():
    name = naming.container_name("puller-", "My.Adapter_v1")
    assert name == "puller-my-adapter-v1"
    long = naming.container_name("puller-", "a" * 80)
    assert len(long) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", long)


def test_workspace_hash_ignores_key_order_but_not_values():
    one = naming.workspace_hash({"a": 1, "b": 2}, None, {"x": [1, 2]})
    same = naming.workspace_hash({"b": 2, "a": 1}, None, {"x": [1, 2]})
    other = naming.workspace_hash({"a": 1, "b": 3}, None, {"x": [1, 2]})
    assert one == same
    assert one != other
    assert re.fullmatch(r"[0-9a-f]{64}", one)


def test_controller_revision_name_uses_five_hash_characters():
    assert naming.controller_revision_name("ws", "abcdef0123") == "ws-abcde"
