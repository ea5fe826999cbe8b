"""Our generated InferenceSet CRD against upstream v0.12.0's, path by path.

The table (``upstream/inferenceset_crd_schema.yaml``) is derived from upstream's
``config/crd/bases/kaito.sh_inferencesets.yaml`` by ``scripts/upstream_tables.py``, as for the
Workspace CRD (``test_upstream_crd.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api.inferenceset_crd import build_inferenceset_crd
from tests.fixtures.upstream import load_table, schema_table

UPSTREAM: dict[str, dict[str, dict[str, Any]]] = load_table("inferenceset_crd_schema.yaml")
OURS = schema_table(build_inferenceset_crd())
# v1alpha1 InferenceSets report performance with the shared v1beta1 Metric (which has `config`);
# upstream's v1alpha1 copy of the type lacks it. A field more in status rejects nothing.
EXTRA_IN_OURS = {
    "v1alpha1": {".status.performance.metrics{}.config", ".status.performance.metrics{}.config{}"},
    "v1beta1": set(),
}


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_every_upstream_schema_path_has_the_same_type_and_markers(version: str) -> None:
    ours, upstream = OURS[version], UPSTREAM[version]
    differences = {
        path: {"upstream": upstream.get(path), "ours": ours.get(path)}
        for path in sorted(set(ours) | set(upstream))
        if ours.get(path) != upstream.get(path) and path not in EXTRA_IN_OURS[version]
    }
    assert differences == {}
    assert all(path not in upstream for path in EXTRA_IN_OURS[version])


def test_table_holds_the_scale_and_selector_fields() -> None:
    beta = UPSTREAM["v1beta1"]
    assert beta[".spec.replicas"] == {
        "type": "integer",
        "format": "int32",
        "default": 1,
        "minimum": 0,
    }
    assert beta[".spec.labelSelector"]["x-kubernetes-map-type"] == "atomic"
    assert beta["."]["required"] == ["spec"]
