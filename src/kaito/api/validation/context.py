"""Everything validation needs from outside the Workspace, behind small protocols.

The admission webhook and ``kaito validate`` run the same rules; they differ only in what they can
look up. The webhook reads nodes and ConfigMaps from the API server; the CLI has files at best. Both
fill a :class:`ValidationContext`:

- ``lookup`` (:class:`ClusterLookup`): nodes matching labels, ConfigMap data, CSI drivers. A lookup
  that cannot answer raises :class:`LookupUnavailableError` and the rule is reported as "not
  checked" instead of failing.
- ``models`` / ``skus`` / ``mig``: the model catalog, GPU SKU tables and MIG profiles. The
  protocols below are shaped after ``kaito.presets.catalog``, ``kaito.presets.skus`` and
  ``kaito.presets.mig`` so callers pass those modules directly; ``kaito.api`` sits below
  ``kaito.presets`` in the layering and therefore cannot import them itself.
- operator settings: feature gates, node-provisioner mode, cloud provider, release namespace,
  Karpenter node classes, an optional DNS resolver for URL checks and an optional hub lookup
  (``hub``) for the architectures of ``org/repo`` presets the catalog does not list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kaito.api import constants
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


class ModelFacts(Protocol):
    """The facts about a preset model that admission rules use (``presets.catalog.ModelSpec``)."""

    @property
    def name(self) -> str:
        """Canonical preset name."""
        ...

    @property
    def hf_repo(self) -> str:
        """Hugging Face repo id."""
        ...

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other accepted names."""
        ...

    @property
    def weights_gib(self) -> float | None:
        """Size of the weights (GiB), None when unknown."""
        ...

    @property
    def token_limit(self) -> int | None:
        """Maximum context length, None when unknown."""
        ...

    @property
    def gated(self) -> bool:
        """Downloading needs an access token."""
        ...

    @property
    def download_at_runtime(self) -> bool:
        """Weights are downloaded by the serving pod (not baked into an image)."""
        ...

    @property
    def deprecated(self) -> bool:
        """No longer served."""
        ...

    @property
    def supports_distributed(self) -> bool:
        """Can span several nodes."""
        ...

    @property
    def supports_tuning(self) -> bool:
        """Can be fine-tuned with LoRA/QLoRA."""
        ...

    @property
    def transformers_runtime(self) -> bool:
        """Can run on the Hugging Face transformers runtime."""
        ...

    @property
    def architectures(self) -> tuple[str, ...]:
        """``architectures`` of the model config; empty when unknown."""
        ...

    @property
    def best_effort(self) -> bool:
        """An ``org/repo`` the catalog does not list (facts unknown until looked up)."""
        ...


class ModelCatalog(Protocol):
    """Preset lookups (satisfied by the ``kaito.presets.catalog`` module)."""

    def get_model(self, name: str) -> ModelFacts:
        """Resolve a preset name.

        Raises:
            ValueError: unknown or deprecated preset; the message names it, and an unknown-name
                error may carry ``suggestions``.
        """
        ...

    def list_models(
        self, *, tuning_only: bool = False, include_deprecated: bool = False
    ) -> Sequence[ModelFacts]:
        """Catalog entries."""
        ...

    def vllm_serves(self, architectures: Sequence[str]) -> bool | None:
        """Whether vLLM serves any of the architectures; None when none are given."""
        ...

    def vllm_lora_support(self, architectures: Sequence[str]) -> bool | None:
        """Whether vLLM takes LoRA adapters for such a model; None when unknown."""
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


class GPUFacts(Protocol):
    """GPU configuration of a node type (``presets.skus.GPUConfig``)."""

    @property
    def sku(self) -> str:
        """Instance type (or GPU product for bring-your-own nodes)."""
        ...

    @property
    def gpu_count(self) -> int:
        """GPUs per node."""
        ...

    @property
    def total_memory_gib(self) -> float:
        """GPU memory of the whole node, GiB."""
        ...

    @property
    def gpu_model(self) -> str:
        """GPU model or product name."""
        ...


class SkuTable(Protocol):
    """GPU SKU lookups (satisfied by the ``kaito.presets.skus`` module)."""

    def get_sku(self, instance_type: str, cloud: str = ...) -> GPUFacts | None:
        """The SKU's GPU configuration, or None when the cloud's table does not list it."""
        ...

    def list_skus(self, cloud: str = ..., *, include_legacy: bool = ...) -> Sequence[GPUFacts]:
        """All SKUs of a cloud."""
        ...

    def is_accepted_unknown_azure_sku(self, name: str) -> bool:
        """Whether Azure admission accepts an unlisted SKU (``Standard_N*``/``Standard_D*``)."""
        ...

    def gpu_config_from_node_labels(self, labels: Mapping[str, str]) -> GPUFacts | None:
        """GPU configuration from GPU Feature Discovery labels, None when labels are missing."""
        ...


class MigProfileFacts(Protocol):
    """One MIG profile (``presets.mig.MigProfile``)."""

    @property
    def name(self) -> str:
        """Profile name, e.g. ``1g.10gb``."""
        ...

    @property
    def memory_gib(self) -> int:
        """Memory of one slice, GiB."""
        ...


class MigTable(Protocol):
    """MIG profile lookups (satisfied by the ``kaito.presets.mig`` module)."""

    def get_mig_profile(self, name: str) -> MigProfileFacts | None:
        """The profile, or None when unknown."""
        ...


@dataclass(frozen=True)
class ValidationContext:
    """Lookups and operator settings for one validation run.

    Attributes:
        models: the model catalog (pass ``kaito.presets.catalog``).
        skus: the SKU tables (pass ``kaito.presets.skus``).
        mig: MIG profiles (pass ``kaito.presets.mig``).
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

    models: ModelCatalog
    skus: SkuTable
    mig: MigTable
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
        if name in self.feature_gates:
            return bool(self.feature_gates[name])
        return constants.DEFAULT_FEATURE_GATES.get(name, False)

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
