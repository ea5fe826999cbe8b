"""``kaito run`` of an InferenceSet: one replica, as a Workspace named after the set.

A cluster gives each replica its own GPU nodes; one machine has one GPU (or CPU) budget, and N
identical servers of the same model would only compete for it while nothing in front of them
spreads requests (there is no Service locally). So ``kaito run`` serves one replica: the child
Workspace the operator would create (:func:`kaito.api.inferenceset_children.build_child_workspace`),
named after the set instead of a generated name, and says so in a note. ``kaito validate`` and
``kaito render`` still judge and show every replica.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kaito.api import inferenceset as api_inferenceset
from kaito.api.inferenceset_children import build_child_workspace


def workspace_documents(documents: Sequence[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The Workspace each InferenceSet in ``documents`` runs as locally, and a note for each.

    Raises:
        WorkspaceParseError: an InferenceSet is malformed (every field problem listed).
    """
    workspaces: list[dict[str, Any]] = []
    notes: list[str] = []
    for doc in documents:
        if not isinstance(doc, Mapping) or not api_inferenceset.is_inferenceset_document(doc):
            continue
        iset = api_inferenceset.to_storage(api_inferenceset.parse_inferenceset(doc))
        child = build_child_workspace(iset, byo=False)
        child.metadata.name = iset.metadata.name
        child.metadata.generate_name = None
        workspaces.append(child.to_wire())
        notes.append(
            f"InferenceSet {iset.metadata.name}: running 1 replica locally as Workspace "
            f"{iset.metadata.name} (spec.replicas={iset.spec.replicas} is for a cluster, where "
            "each replica gets its own GPU nodes; here replicas would share one machine)"
        )
    return workspaces, notes
