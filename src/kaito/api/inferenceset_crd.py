"""The ``inferencesets.kaito.sh`` CustomResourceDefinition, generated from the pydantic types.

Same generator as the Workspace CRD (:func:`kaito.api.crd.build_openapi_schema`); what differs is
upstream's surface for this kind: printer columns ``Replicas``, ``ReadyReplicas`` and ``Age``, the
``status`` and ``scale`` subresources (``.spec.replicas``, ``.status.replicas``,
``.status.selector``: what ``kubectl scale``, an HPA and KEDA drive), short names ``is``/``isets``
and the default update strategy on the schemaless ``updateStrategy``.
"""

from __future__ import annotations

import copy
from typing import Any

from kaito.api import constants, crd, inferenceset

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "ReadyReplicas", "type": "integer", "jsonPath": ".status.readyReplicas"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
SCALE_SUBRESOURCE: dict[str, str] = {
    "labelSelectorPath": ".status.selector",
    "specReplicasPath": ".spec.replicas",
    "statusReplicasPath": ".status.replicas",
}


def build_schema(version: str) -> dict[str, Any]:
    """The structural schema of one version, with upstream's defaults on schemaless fields."""
    schema = crd.build_openapi_schema(inferenceset.MODELS[version])
    spec = schema["properties"]["spec"]
    spec["properties"]["updateStrategy"]["default"] = copy.deepcopy(
        inferenceset.DEFAULT_UPDATE_STRATEGY
    )
    return schema


def build_inferenceset_crd() -> dict[str, Any]:
    """Both versions served, ``v1beta1`` stored."""
    versions = [
        {
            "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS),
            "name": version,
            "schema": {"openAPIV3Schema": build_schema(version)},
            "served": True,
            "storage": version == constants.STORAGE_VERSION,
            "subresources": {"scale": dict(SCALE_SUBRESOURCE), "status": {}},
        }
        for version in constants.SERVED_VERSIONS
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": constants.INFERENCESET_CRD_NAME,
            "annotations": {"kaito.sh/generated-by": "kaito crds (kaito-py)"},
        },
        "spec": {
            "group": constants.GROUP,
            "names": {
                "categories": list(constants.INFERENCESET_CATEGORIES),
                "kind": constants.KIND_INFERENCESET,
                "listKind": constants.KIND_INFERENCESET_LIST,
                "plural": constants.INFERENCESET_PLURAL,
                "shortNames": list(constants.INFERENCESET_SHORT_NAMES),
                "singular": constants.INFERENCESET_SINGULAR,
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    }


def render_crd() -> dict[str, str]:
    """The CRD as YAML text keyed by its file name (``kaito.sh_inferencesets.yaml``)."""
    return {constants.INFERENCESET_CRD_FILE: crd.dump_crd(build_inferenceset_crd())}
