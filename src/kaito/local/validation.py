"""The webhook's validation, run offline for ``kaito run``.

``kaito run`` must accept exactly what the cluster would accept, so it calls the same pure
``kaito.api.validation`` as the admission webhook and ``kaito validate``. Lookups that need a
cluster are answered from what is at hand: ConfigMaps come from the Workspace file and its folder
(authoritatively: one that is not there does not exist), the default tuning templates are kaito-py's
own, and the node-provisioning mode is judged from whether the Workspace names an instance type.
"""

from __future__ import annotations

from collections.abc import Mapping

from kaito.api import validation
from kaito.local import bundle as local_bundle
from kaito.presets import catalog, mig, skus


def build_context(found: local_bundle.WorkspaceBundle) -> validation.ValidationContext:
    """The validation context of a local run: the catalog, SKU tables and the bundle's files."""
    configmaps: dict[tuple[str | None, str], Mapping[str, str]] = {}
    for name, doc in found.configmaps.items():
        data = doc.get("data") or {}
        if isinstance(data, Mapping):
            configmaps[(None, name)] = {str(k): str(v) for k, v in data.items()}
    lookup = validation.StaticClusterLookup(configmaps=configmaps, authoritative=True)
    return validation.ValidationContext(
        models=catalog,
        skus=skus,
        mig=mig,
        lookup=lookup,
        node_provisioner=None,
    )


def validate_offline(found: local_bundle.WorkspaceBundle) -> list[str]:
    """Every validation error of the bundle's Workspace, as ``field: message`` lines."""
    report = validation.check_workspace(found.original, build_context(found))
    return [str(error) for error in report.errors]
