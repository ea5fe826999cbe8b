"""A Workspace file with the ConfigMaps it names: what ``kaito run -f`` reads.

On a cluster, ``tuning.config`` and ``inference.config`` name ConfigMaps in the Workspace's
namespace. Locally there is no namespace, so a ConfigMap is looked up, in this order, in the same
(multi-document) YAML file as the Workspace and then in the other ``*.yaml``/``*.yml`` files of the
same folder. A tuning Workspace without ``tuning.config`` gets upstream's default template for its
method (``lora-params-template``/``qlora-params-template``), exactly as the operator copies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kaito.api import constants, v1beta1
from kaito.api import workspace as api_workspace
from kaito.local import inferenceset as local_inferenceset
from kaito.manifests import tuning as tuning_manifests

_YAML_SUFFIXES = (".yaml", ".yml")
KIND_CONFIGMAP = "ConfigMap"


class BundleError(Exception):
    """The file cannot be used; ``exit_code`` is 2 for unreadable input, 1 for an invalid one."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class WorkspaceBundle:
    """The Workspace of a file (as v1beta1) and the ConfigMaps found beside it."""

    path: Path
    workspace: v1beta1.Workspace
    original: api_workspace.AnyWorkspace
    """The Workspace as written (v1alpha1 stays v1alpha1 for validation)."""
    configmaps: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """ConfigMaps by name: first the same file's, then the folder's."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about how the file is run (an InferenceSet's one replica)."""


def _load_documents(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}", exit_code=2) from exc
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise BundleError(f"{path} is not valid YAML: {exc}", exit_code=2) from exc


def _configmaps(documents: list[Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for doc in documents:
        if isinstance(doc, Mapping) and doc.get("kind") == KIND_CONFIGMAP:
            name = (doc.get("metadata") or {}).get("name")
            if isinstance(name, str) and name not in found:
                found[name] = doc
    return found


def load_bundle(path: Path) -> WorkspaceBundle:
    """Read the one Workspace of ``path`` and every ConfigMap it could refer to.

    Raises:
        BundleError: unreadable (exit 2), no Workspace or several (exit 2), or a malformed
            Workspace (exit 1, every field problem listed).
    """
    documents = _load_documents(path)
    workspaces = [doc for doc in documents if api_workspace.is_workspace_document(doc)]
    notes: list[str] = []
    if not workspaces:
        try:
            workspaces, notes = local_inferenceset.workspace_documents(documents)
        except api_workspace.WorkspaceParseError as exc:
            raise BundleError(f"{path}: {exc}") from exc
    if not workspaces:
        raise BundleError(
            f"{path} holds no Workspace (kind: Workspace, apiVersion: kaito.sh/...)", 2
        )
    if len(workspaces) > 1:
        names = ", ".join(str((w.get("metadata") or {}).get("name")) for w in workspaces)
        raise BundleError(f"{path} holds {len(workspaces)} Workspaces ({names}); give one", 2)
    try:
        original = api_workspace.parse_workspace(workspaces[0])
    except api_workspace.WorkspaceParseError as exc:
        raise BundleError(f"{path}: {exc}") from exc
    if not original.metadata.name:
        raise BundleError(f"{path}: metadata.name: required field is missing")
    configmaps = _configmaps(documents)
    for sibling in sorted(path.parent.iterdir()) if path.parent.is_dir() else []:
        if sibling == path or sibling.suffix not in _YAML_SUFFIXES or not sibling.is_file():
            continue
        try:
            extra = _configmaps(_load_documents(sibling))
        except BundleError:
            continue  # an unrelated broken file next to ours is not our concern
        for name, doc in extra.items():
            configmaps.setdefault(name, doc)
    return WorkspaceBundle(
        path=path,
        workspace=api_workspace.to_v1beta1(original),
        original=original,
        configmaps=configmaps,
        notes=notes,
    )


def configmap_value(bundle: WorkspaceBundle, name: str, key: str, field_path: str) -> str:
    """The text under ``key`` of the ConfigMap ``name``.

    Raises:
        BundleError: the ConfigMap is not in the file or its folder, or lacks ``key``.
    """
    configmap = bundle.configmaps.get(name)
    if configmap is None:
        raise BundleError(
            f"ConfigMap '{name}' specified in '{field_path}' not found: put it in {bundle.path} "
            f"(as another YAML document) or in a *.yaml file in {bundle.path.parent}"
        )
    data = configmap.get("data") or {}
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, str):
        raise BundleError(f"ConfigMap '{name}' specified in '{field_path}' has no key {key}")
    return value


def resolve_tuning_config(bundle: WorkspaceBundle) -> str:
    """The ``training_config.yaml`` text: the named ConfigMap's, else the method's default."""
    spec = bundle.workspace.tuning
    if spec is None:
        raise BundleError("the Workspace has no tuning section")
    if spec.config:
        return configmap_value(
            bundle, spec.config, constants.CONFIGMAP_KEY_TRAINING, "tuning.config"
        )
    method = (spec.method or constants.TUNING_METHOD_LORA).lower()
    try:
        return tuning_manifests.load_default_tuning_config(method)
    except ValueError as exc:
        raise BundleError(f"tuning.method: {exc}") from exc


def resolve_inference_config(bundle: WorkspaceBundle) -> str | None:
    """The ``inference_config.yaml`` text of ``inference.config``, or None when not set."""
    spec = bundle.workspace.inference
    if spec is None or not spec.config:
        return None
    return configmap_value(
        bundle, spec.config, constants.CONFIGMAP_KEY_INFERENCE, "inference.config"
    )
