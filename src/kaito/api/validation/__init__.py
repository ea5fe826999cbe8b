"""Admission validation of Workspaces: one pure function for the webhook and the CLI (§1.5).

Use :func:`check_workspace` (errors and warnings) or :func:`validate_workspace` (errors only) with a
:class:`ValidationContext` holding the catalog, the cluster lookups and the operator settings. The
rules live in small modules by subject: ``metadata``, ``resource``, ``inference``, ``tuning``,
``sources`` (data sources and destinations) and ``config_files`` (inference/training ConfigMaps).
"""

from __future__ import annotations

from kaito.api.validation.context import (
    ClusterLookup,
    GPUFacts,
    LookupUnavailableError,
    MigTable,
    ModelCatalog,
    ModelFacts,
    NodeInfo,
    SkuTable,
    ValidationContext,
)
from kaito.api.validation.findings import FieldError, ValidationReport
from kaito.api.validation.static_lookup import StaticClusterLookup
from kaito.api.validation.workspace import check_workspace, validate_workspace

__all__ = [
    "ClusterLookup",
    "FieldError",
    "GPUFacts",
    "LookupUnavailableError",
    "MigTable",
    "ModelCatalog",
    "ModelFacts",
    "NodeInfo",
    "SkuTable",
    "StaticClusterLookup",
    "ValidationContext",
    "ValidationReport",
    "check_workspace",
    "validate_workspace",
]
