"""Admission validation of Workspaces: one pure function for the webhook and the CLI (§1.5).

Use :func:`check_workspace` (errors and warnings) or :func:`validate_workspace` (errors only) with a
:class:`ValidationContext` holding the catalog, the cluster lookups and the operator settings. The
rules live in small modules by subject: ``metadata``, ``resource``, ``inference``, ``tuning``,
``sources`` (data sources and destinations) and ``config_files`` (inference/training ConfigMaps).

Messages keep upstream Kaito's wording. Deliberate differences from upstream (all of them are
listed, with the agreement counts, in ``docs/compatibility.md``):

- A gated preset without ``modelAccessSecret`` is admitted with a warning (upstream v0.12.0's
  catalog presets carry no download-auth flag, so upstream admits it).

- The URL policy (``kaito.api.addresses``) also applies to ``v1alpha1`` and is wider: numeric
  IPv4 spellings, IPv4 embedded in IPv6, carrier-grade NAT, Azure WireServer, cluster-local names;
  changed tuning inputs and outputs are re-checked on UPDATE.
- ``v1alpha1`` image references a registry would refuse (upper case, as in the founding example's
  placeholders) are warnings; ``v1beta1`` rejects them as upstream does.
- A ``modelAccessSecret`` on a preset that does not download at runtime is a warning (upstream
  HEAD downloads every catalog model at runtime, so its error never fires there).
- Adapters are validated on CREATE as well as UPDATE; ``kaito.sh/runtime`` values and
  ``matchLabels`` key/value syntax are checked; ``output_dir`` must lie strictly inside ``/mnt``.
- The Hugging Face architecture lookup of unlisted ``org/repo`` presets needs the hub; without it
  (offline, gated repo, timeout) the preset is accepted with a "not checked" warning. A repo the hub
  says does not exist is an error. It runs on CREATE only.
"""

from __future__ import annotations

from kaito.validation.context import (
    ClusterLookup,
    HubLookup,
    LookupUnavailableError,
    NodeInfo,
    ValidationContext,
)
from kaito.validation.findings import FieldError, ValidationReport
from kaito.validation.static_lookup import StaticClusterLookup, StaticHubLookup
from kaito.validation.workspace import check_workspace, validate_workspace

__all__ = [
    "ClusterLookup",
    "FieldError",
    "HubLookup",
    "LookupUnavailableError",
    "NodeInfo",
    "StaticClusterLookup",
    "StaticHubLookup",
    "ValidationContext",
    "ValidationReport",
    "check_workspace",
    "validate_workspace",
]
