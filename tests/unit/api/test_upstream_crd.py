"""Our generated Workspace CRD against upstream v0.12.0's, path by path.

The table (``upstream/workspace_crd_schema.yaml``) is derived from upstream's
``config/crd/bases/kaito.sh_workspaces.yaml`` by ``scripts/upstream_tables.py``: every schema path
with its type, format, enum, default, bounds, required list and the ``x-kubernetes-*`` markers that
decide how server-side apply merges. A constraint upstream's schema lacks must be enforced by our
webhook (with upstream's message), not by the schema, so the tables must agree exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.api.crd import build_workspace_crd
from tests.fixtures.upstream import load_table, schema_table

UPSTREAM: dict[str, dict[str, dict[str, Any]]] = load_table("workspace_crd_schema.yaml")
OURS = schema_table(build_workspace_crd())


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_every_upstream_schema_path_has_the_same_type_and_markers(version: str) -> None:
    ours, upstream = OURS[version], UPSTREAM[version]
    differences = {
        path: {"upstream": upstream.get(path), "ours": ours.get(path)}
        for path in sorted(set(ours) | set(upstream))
        if ours.get(path) != upstream.get(path)
    }
    assert differences == {}


def test_table_holds_the_markers_server_side_apply_depends_on() -> None:
    beta = UPSTREAM["v1beta1"]
    assert beta[".resource.labelSelector"]["x-kubernetes-map-type"] == "atomic"
    assert beta[".resource.labelSelector.matchExpressions"]["x-kubernetes-list-type"] == "atomic"
    assert beta[".status.conditions[].observedGeneration"]["format"] == "int64"
    assert beta[".status.targetNodeCount"]["format"] == "int32"
    assert "required" not in beta["."]
    assert "minimum" not in beta[".resource.count"]
