"""Everything validation needs from outside the Workspace, behind small protocols.

The admission webhook and ``kaito validate`` run the same rules; they differ only in what they can
look up. The webhook reads nodes and ConfigMaps from the API server; the CLI has files at best. Both
fill a :class:`ValidationContext`:

- ``lookup`` (:class:`ClusterLookup`): nodes matching labels, ConfigMap data, CSI drivers. A lookup
  that cannot answer raises :class:`LookupUnavailableError` and the rule is reported as "not
  checked" instead of failing.
- the model catalog, GPU SKU tables and MIG profiles are ``kaito.presets``' own: validation is a
  layer above ``presets`` (and below ``manifests``), so the rules import them directly.
- operator settings: feature gates, node-provisioner mode, cloud provider, release namespace,
  Karpenter node classes, an optional DNS resolver for URL checks and an optional hub lookup
  (``hub``) for the architectures of ``org/repo`` presets the catalog does not list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kaito.api import constants, gates
from kaito.api.addresses import Resolver


class LookupUnavailableError(Exception):
    """The lookup cannot answer in this environment (e.g. no cluster); the rule is skipped."""


@dataclass(frozen=True)
class NodeInfo:
    """What validation needs to know about a node."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = True


class ClusterLookup(Protocol):
    """Read-only questions about the cluster."""

    def list_nodes(self, match_labels: Mapping[str, str]) -> Sequence[NodeInfo]:
        """Nodes carrying all of ``match_labels``.

        Raises:
            LookupUnavailableError: nodes cannot be listed here.
        """
        ...

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The ``data`` of a ConfigMap, or None when it does not exist.

        Raises:
            LookupUnavailableError: existence cannot be determined here.
        """
        ...

    def csi_driver_exists(self, name: str) -> bool:
        """Whether a CSIDriver object of that name exists.

        Raises:
            LookupUnavailableError: cannot be determined here.
        """
        ...


class HubLookup(Protocol):
    """Model facts from the Hugging Face hub, for repos the catalog does not list."""

    def model_architectures(self, repo: str) -> Sequence[str]:
        """``architectures`` of the repo's ``config.json``.

        Raises:
            LookupUnavailableError: the hub cannot answer here (offline, gated, timeout).
            LookupError: the hub says the repository or its config does not exist.
        """
        ...


@dataclass(frozen=True)
class ValidationContext:
    """Lookups and operator settings for one validation run.

    Attributes:
        lookup: cluster lookups; the default answers nothing (everything "not checked").
        feature_gates: gate name → enabled; missing names take upstream defaults.
        node_provisioner: ``azure-gpu-provisioner`` (or ``gpu-provisioner``), ``karpenter`` or
            ``byo``; None when unknown (offline CLI): each Workspace is then judged by whether it
            names an instance type, with a warning.
        cloud_provider: ``azure``, ``aws`` or ``arc``: selects the SKU table.
        release_namespace: where the default tuning ConfigMaps live.
        default_namespace: namespace of a Workspace whose metadata names none.
        karpenter_node_classes: allowed ``kaito.sh/node-class-name`` values; None when unknown.
        resolver: resolves host names for URL checks; None when DNS is not available.
        hub: reads unlisted repos' model configs; None when the hub is not reachable.
    """

    lookup: ClusterLookup = field(default_factory=lambda: _NoCluster())
    feature_gates: Mapping[str, bool] = field(default_factory=dict)
    node_provisioner: str | None = constants.DEFAULT_NODE_PROVISIONER
    cloud_provider: str = constants.DEFAULT_CLOUD_PROVIDER
    release_namespace: str = constants.DEFAULT_RELEASE_NAMESPACE
    default_namespace: str = "default"
    karpenter_node_classes: tuple[str, ...] | None = None
    resolver: Resolver | None = None
    hub: HubLookup | None = None

    def gate(self, name: str) -> bool:
        """Whether feature gate ``name`` is on (upstream default when not set)."""
        return gates.gate_enabled(self.feature_gates, name)

    @property
    def nap_disabled(self) -> bool | None:
        """Whether node auto-provisioning is off (bring-your-own nodes); None when unknown."""
        if self.node_provisioner == constants.NODE_PROVISIONER_BYO:
            return True
        if self.gate(constants.FEATURE_DISABLE_NODE_AUTO_PROVISIONING):
            return True
        if self.node_provisioner is None:
            return None
        return False


class _NoCluster:
    """A lookup that can answer nothing."""

    def list_nodes(self, match_labels: Mapping[str, str]) -> Sequence[NodeInfo]:
        raise LookupUnavailableError("no cluster to list nodes from")

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, str] | None:
        raise LookupUnavailableError("no cluster to read ConfigMaps from")

    def csi_driver_exists(self, name: str) -> bool:
        raise LookupUnavailableError("no cluster to read CSI drivers from")
