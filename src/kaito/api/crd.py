"""The Workspace CustomResourceDefinition, generated from the pydantic types.

The types are the single source of truth: their fields, enums, defaults, bounds and descriptions
become the structural OpenAPI v3 schema of each served version. Kubernetes requires a *structural*
schema: every node typed, everything inlined (no ``$ref``), no ``anyOf`` around types,
``additionalProperties`` never next to ``properties``; schemaless fields (pod templates, volume
sources) marked ``x-kubernetes-preserve-unknown-fields`` and left untyped, as upstream's.
:func:`build_openapi_schema` rewrites pydantic's JSON Schema into that form;
:func:`build_workspace_crd` wraps both versions with the names, printer columns and status
subresource upstream Kaito uses (§1.1), ``v1beta1`` stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kaito.api import constants, reasons, v1alpha1, v1beta1
from kaito.api.wire import WireModel

_DROP_KEYS = frozenset({"title", "additionalProperties", "$defs"})
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_ROOT_DESCRIPTIONS = {
    "apiVersion": (
        "APIVersion defines the versioned schema of this representation of an object. Servers "
        "should convert recognized schemas to the latest internal value, and may reject "
        "unrecognized values."
    ),
    "kind": (
        "Kind is a string value representing the REST resource this object represents. Servers "
        "may infer this from the endpoint the client submits requests to. In CamelCase."
    ),
}


def _condition_column(condition_type: str) -> dict[str, Any]:
    return {
        "name": condition_type,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition_type}")].status',
    }


_INSTANCE_COLUMN = {
    "name": "Instance",
    "type": "string",
    "jsonPath": ".resource.instanceType",
}
_AGE_COLUMN = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
}
_CONDITION_COLUMNS = [
    _condition_column(t)
    for t in (
        reasons.CONDITION_RESOURCE_READY,
        reasons.CONDITION_INFERENCE_READY,
        reasons.CONDITION_JOB_STARTED,
        reasons.CONDITION_WORKSPACE_SUCCEEDED,
    )
]

PRINTER_COLUMNS: dict[str, list[dict[str, Any]]] = {
    constants.VERSION_V1BETA1: [
        _INSTANCE_COLUMN,
        *_CONDITION_COLUMNS,
        {
            "name": "TargetNodeCount",
            "type": "integer",
            "jsonPath": ".status.targetNodeCount",
        },
        {"name": "State", "type": "string", "jsonPath": ".status.state"},
        _AGE_COLUMN,
    ],
    constants.VERSION_V1ALPHA1: [
        _INSTANCE_COLUMN,
        *_CONDITION_COLUMNS,
        _AGE_COLUMN,
        # The v0.1-v0.2 summary condition: shown with `kubectl get -o wide` for old objects.
        {**_condition_column(reasons.CONDITION_WORKSPACE_READY), "priority": 1},
    ],
}

MODELS: dict[str, type[WireModel]] = {
    constants.VERSION_V1ALPHA1: v1alpha1.Workspace,
    constants.VERSION_V1BETA1: v1beta1.Workspace,
}


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    """Inline ``$ref``s and collapse ``anyOf [X, null]`` recursively."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        target = dict(defs[ref.rsplit("/", 1)[-1]])
        if "description" in node:  # the field's own description wins over the class docstring
            target.pop("description", None)
        node = {**target, **node}
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        variants = [v for v in any_of if v != {"type": "null"}]
        if len(variants) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {any_of}")
        variant = dict(variants[0])
        if "description" in node:
            variant.pop("description", None)
        merged = {**variant, **node}
        if "$ref" in variant:
            return _resolve(merged, defs)
        node = merged
    return {key: _resolve(value, defs) for key, value in node.items()}


def _structural(node: Any) -> Any:
    """Drop what structural schemas forbid; type schemaless nodes; sort properties."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "default" and (value is None or value in ("", [], {})):
            continue
        if key == "description" and isinstance(value, str):
            out[key] = value.replace("``", "")  # docstring markup reads badly in kubectl explain
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "properties":
            out[key] = {name: _structural(value[name]) for name in sorted(value)}
            continue
        out[key] = _structural(value)
    if node.get(_PRESERVE):
        # Untyped, as upstream's embedded Kubernetes types: the webhook reports a wrong shape.
        out = {k: v for k, v in out.items() if k in ("description", _PRESERVE)}
    elif isinstance(node.get("additionalProperties"), dict) and "properties" not in node:
        out["additionalProperties"] = _structural(node["additionalProperties"])
    if "required" in out:
        out["required"] = sorted(out["required"])
    return dict(sorted(out.items()))


def build_openapi_schema(model: type[WireModel]) -> dict[str, Any]:
    """The structural ``openAPIV3Schema`` of a Workspace model."""
    raw = model.model_json_schema(mode="validation", by_alias=True)
    resolved = _resolve({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))
    schema: dict[str, Any] = _structural(resolved)
    props = schema["properties"]
    for name, text in _ROOT_DESCRIPTIONS.items():
        props[name] = {"description": text, "type": "string"}
    # The API server owns metadata validation; CRD schemas may only say it is an object.
    props["metadata"] = {"type": "object"}
    return schema


def build_workspace_crd() -> dict[str, Any]:
    """The ``workspaces.kaito.sh`` CustomResourceDefinition, both versions, v1beta1 stored."""
    versions: list[dict[str, Any]] = []
    for version in constants.SERVED_VERSIONS:
        versions.append(
            {
                "additionalPrinterColumns": PRINTER_COLUMNS[version],
                "name": version,
                "schema": {"openAPIV3Schema": build_openapi_schema(MODELS[version])},
                "served": True,
                "storage": version == constants.STORAGE_VERSION,
                "subresources": {"status": {}},
            }
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": constants.WORKSPACE_CRD_NAME,
            "annotations": {"kaito.sh/generated-by": "kaito crds (kaito-py)"},
        },
        "spec": {
            "group": constants.GROUP,
            "names": {
                "categories": list(constants.WORKSPACE_CATEGORIES),
                "kind": constants.KIND_WORKSPACE,
                "listKind": constants.KIND_WORKSPACE_LIST,
                "plural": constants.WORKSPACE_PLURAL,
                "shortNames": list(constants.WORKSPACE_SHORT_NAMES),
                "singular": constants.WORKSPACE_SINGULAR,
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors/aliases, so shared column definitions print in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_crd(definition: dict[str, Any]) -> str:
    """A CRD as the YAML text written to ``config/crd/bases``."""
    return "---\n" + yaml.dump(definition, Dumper=_PlainDumper, sort_keys=False, width=100)


def render_crds() -> dict[str, str]:
    """The Workspace CRD as YAML text, keyed by file name (``kaito.sh_workspaces.yaml``).

    The InferenceSet CRD is rendered by :mod:`kaito.api.inferenceset_crd` (which builds on this
    module's schema generator); ``kaito crds`` writes both.
    """
    return {constants.WORKSPACE_CRD_FILE: dump_crd(build_workspace_crd())}
