"""The Workspace revision: its hash and the ControllerRevision that records it (§2.2 step 4).

Every change to ``resource``, ``inference`` or ``tuning`` is a new revision. The controller writes
the hash and revision number onto the Workspace as annotations, stamps the revision onto the
StatefulSet or Job, and keeps a bounded history of ControllerRevisions so a user can see what
changed and when.
"""

from __future__ import annotations

from typing import Any

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace
from kaito.manifests import naming, podspec
from kaito.manifests.plan import WorkspaceRef

JSON = podspec.JSON


def revision_data(ws: AnyWorkspace) -> JSON:
    """The three hashed sections in their wire form (``None`` where a section is absent)."""
    return {
        "resource": ws.resource.to_wire(),
        "inference": ws.inference.to_wire() if ws.inference is not None else None,
        "tuning": ws.tuning.to_wire() if ws.tuning is not None else None,
    }


def workspace_hash(ws: AnyWorkspace) -> str:
    """sha256 (hex) over the JSON of ``resource``, ``inference`` and ``tuning`` of ``ws``."""
    data = revision_data(ws)
    return naming.workspace_hash(data["resource"], data["inference"], data["tuning"])


def build_controller_revision(ws: AnyWorkspace, revision: int) -> JSON:
    """The ControllerRevision ``<ws>-<hash[:5]>`` holding revision number ``revision`` of ``ws``.

    Args:
        ws: The Workspace.
        revision: The revision number: one more than the newest existing revision (1 for the first).
    """
    if revision < 1:
        raise ValueError(f"revision must be >= 1, got {revision}")
    ref = WorkspaceRef.of(ws)
    digest = workspace_hash(ws)
    data: dict[str, Any] = {k: v for k, v in revision_data(ws).items() if v is not None}
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": podspec.object_meta(
            naming.controller_revision_name(ref.name, digest),
            ref.namespace,
            labels={constants.LABEL_WORKSPACE_NAME_REVISION: ref.name},
            annotations={constants.ANNOTATION_WORKSPACE_HASH: digest},
            owner=ref.owner_reference(),
        ),
        "data": data,
        "revision": revision,
    }
