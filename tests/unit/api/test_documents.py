"""Multi-document YAML: splitting, kinds and ConfigMap collection."""

from __future__ import annotations

import pytest

from kaito.api import documents

STREAM = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: ws}
---
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: team}
data:
  inference_config.yaml: |
    vllm: {max-model-len: 4096}
  number: 5
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
---
- just
- a list
"""


def test_documents_are_split_and_empty_ones_dropped() -> None:
    docs = documents.parse_yaml_documents(STREAM)
    assert [documents.document_kind(d) for d in docs] == [
        "Workspace",
        "ConfigMap",
        "ConfigMap",
        None,
    ]


def test_configmaps_are_collected_by_namespace_and_name() -> None:
    cms = documents.collect_configmaps(documents.parse_yaml_documents(STREAM))
    assert cms[("team", "cfg")]["inference_config.yaml"] == "vllm: {max-model-len: 4096}\n"
    assert cms[("team", "cfg")]["number"] == "5"
    assert cms[(None, "plain")] == {}


def test_malformed_yaml_names_line_and_column() -> None:
    with pytest.raises(documents.DocumentError, match=r"invalid YAML \(line 2, column 4\)"):
        documents.parse_yaml_documents("a: 1\nb: : [\n")


def test_configmap_without_name_is_ignored() -> None:
    assert documents.configmap_entry({"kind": "ConfigMap", "metadata": {}}) is None
    assert documents.configmap_entry({"kind": "Secret", "metadata": {"name": "x"}}) is None
