"""The webhook's validation, run offline for ``kaito run``.

``kaito run`` must accept exactly what the cluster would accept, so it calls the same pure
``kaito.validation`` as the admission webhook and ``kaito validate``. Lookups that need a
cluster are answered from what is at hand: ConfigMaps come from the Workspace file and its folder
(authoritatively: one that is not there does not exist), the default tuning templates are kaito-py's
own, and the node-provisioning mode is judged from whether the Workspace names an instance type.
"""

from __future__ import annotations

from collections.abc import Mapping

from kaito import validation
from kaito.local import bundle as local_bundle


def build_context(
    found: local_bundle.WorkspaceBundle, feature_gates: Mapping[str, bool]
) -> validation.ValidationContext:
    """The validation context of a local run: catalog, SKU tables, the bundle's files, gates.

    The feature gates are the ones that pick the run's runtime, so the rules judge what runs.
    """
    configmaps: dict[tuple[str | None, str], Mapping[str, str]] = {}
    for name, doc in found.configmaps.items():
        data = doc.get("data") or {}
        if isinstance(data, Mapping):
            configmaps[(None, name)] = {str(k): str(v) for k, v in data.items()}
    lookup = validation.StaticClusterLookup(configmaps=configmaps, authoritative=True)
    return validation.ValidationContext(
        lookup=lookup,
        node_provisioner=None,
        feature_gates=feature_gates,
    )


def validate_offline(
    found: local_bundle.WorkspaceBundle, feature_gates: Mapping[str, bool]
) -> list[str]:
    """Every validation error of the bundle's Workspace, as ``field: message`` lines."""
    report = validation.check_workspace(found.original, build_context(found, feature_gates))
    return [str(error) for error in report.errors]
