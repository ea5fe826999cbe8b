"""Operator settings: environment (``KAITO_*`` plus upstream's names) and command-line flags.

Upstream's Deployment sets ``CLOUD_PROVIDER``, ``RELEASE_NAMESPACE``, ``PRESET_REGISTRY_NAME`` and
passes ``--feature-gates``, ``--node-provisioner``, ``--metrics-bind-address`` and
``--health-probe-bind-address``; the same names work here so existing manifests keep working.
Flags override the environment (the CLI builds an ``OperatorSettings`` from both).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaito.api import constants
from kaito.api import gates as gates_mod
from kaito.manifests.plan import DEFAULT_OPERATOR_NAMESPACE, ManifestSettings, default_runtime_image
from kaito.runtime.models.settings import DEFAULT_HF_ENDPOINT, offline_flag


class SettingsError(ValueError):
    """A setting has an unusable value (the message names it)."""


def parse_feature_gates(text: str) -> dict[str, bool]:
    """``k=v,k2=v2`` over upstream's defaults; an unknown gate is an error (as upstream)."""
    try:
        return {**constants.DEFAULT_FEATURE_GATES, **gates_mod.parse_feature_gates(text)}
    except gates_mod.FeatureGateError as exc:
        raise SettingsError(f"--feature-gates: {exc}") from exc


def parse_bind_address(text: str) -> tuple[str, int]:
    """``:8080`` / ``0.0.0.0:8080`` / ``0`` (disabled: port 0 is returned)."""
    if text in ("0", ""):
        return ("", 0)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise SettingsError(f"bind address must look like HOST:PORT or :PORT, got {text!r}")
    return (host or "0.0.0.0", int(port))


class OperatorSettings(BaseSettings):
    """Everything ``kaito operator`` can be told."""

    model_config = SettingsConfigDict(env_prefix="KAITO_", extra="ignore", populate_by_name=True)

    node_provisioner: str = Field(
        default=constants.DEFAULT_NODE_PROVISIONER,
        description="azure-gpu-provisioner (alias gpu-provisioner), karpenter or byo.",
    )
    feature_gates: str = Field(default="", description="Feature gates, NAME=true|false,...")
    cloud_provider: str = Field(
        default=constants.DEFAULT_CLOUD_PROVIDER,
        validation_alias=AliasChoices("KAITO_CLOUD_PROVIDER", "CLOUD_PROVIDER", "cloud_provider"),
        description="azure, aws or arc: selects the GPU SKU table.",
    )
    release_namespace: str = Field(
        default=DEFAULT_OPERATOR_NAMESPACE,
        validation_alias=AliasChoices(
            "KAITO_RELEASE_NAMESPACE", "RELEASE_NAMESPACE", "SYSTEM_NAMESPACE", "release_namespace"
        ),
        description="Namespace of the operator: default tuning ConfigMaps and the leader Lease.",
    )
    runtime_image: str = Field(
        default_factory=default_runtime_image, description="Image running kaito-serve/kaito-tune."
    )
    namespaces: list[str] = Field(
        default_factory=list, description="Namespaces to watch; empty means all (cluster-wide)."
    )
    metrics_bind_address: str = Field(default=f":{constants.METRICS_PORT}")
    health_probe_bind_address: str = Field(default=f":{constants.HEALTH_PROBE_PORT}")
    webhook: bool = Field(default=True, description="Serve the validating admission webhook.")
    webhook_port: int = Field(
        default=constants.WEBHOOK_PORT,
        validation_alias=AliasChoices("KAITO_WEBHOOK_PORT", "WEBHOOK_PORT", "webhook_port"),
    )
    webhook_host: str = Field(default="0.0.0.0")
    webhook_cert_dir: str | None = Field(
        default=None,
        description="Directory with tls.crt and tls.key (the mounted workspace-webhook-cert "
        "Secret); without it the webhook serves plain HTTP (tests, local runs).",
    )
    hub_endpoint: str = Field(
        default=DEFAULT_HF_ENDPOINT,
        validation_alias=AliasChoices("KAITO_HUB_ENDPOINT", "HF_ENDPOINT", "hub_endpoint"),
        description="Hugging Face hub the webhook asks for unlisted repos' architectures.",
    )
    hub_offline: bool = Field(
        default=False,
        validation_alias=AliasChoices("KAITO_HUB_OFFLINE", "HF_HUB_OFFLINE", "hub_offline"),
        description="Never ask the hub: unlisted org/repo presets are admitted unchecked.",
    )
    leader_elect: bool = Field(default=True, description="Act only while holding the Lease.")
    pod_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAITO_POD_NAME", "POD_NAME", "pod_name"),
        description="This replica's pod (downward API): its leader-election identity.",
    )
    leader_lease_seconds: float = Field(default=15.0)
    server: str | None = Field(default=None, description="API server URL (tests); else kubeconfig.")
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig file to use instead of in-cluster credentials or $KUBECONFIG "
        "(e.g. a service-account token for a local run).",
    )
    requeue_seconds: float = Field(default=2.0)
    max_concurrent_reconciles: int = Field(default=5)
    default_node_image_family: str = Field(default=constants.NODE_IMAGE_FAMILY_UBUNTU)
    keda_scaler_namespace: str = Field(
        default="kaito-workspace", description="Namespace of the keda-kaito-scaler Service."
    )
    keda_scaler_service: str = Field(
        default="keda-kaito-scaler-svc", description="The keda-kaito-scaler's gRPC Service."
    )
    keda_scaler_port: int = Field(default=10450, description="The keda-kaito-scaler's gRPC port.")

    @field_validator("hub_offline", mode="before")
    @classmethod
    def _hub_offline_flag(cls, value: object) -> bool:
        # HF_HUB_OFFLINE belongs to huggingface_hub; read it as the runtime does and never refuse
        # to start over its spelling (an empty value included).
        if isinstance(value, bool):
            return value
        return offline_flag(str(value))

    @field_validator("node_provisioner")
    @classmethod
    def _known_provisioner(cls, value: str) -> str:
        if value not in constants.NODE_PROVISIONERS:
            raise ValueError(
                f"unknown node provisioner {value!r}; choose one of "
                + ", ".join(constants.NODE_PROVISIONERS)
            )
        return value

    def gates(self) -> dict[str, bool]:
        """Feature gates; ``byo`` forces ``disableNodeAutoProvisioning`` (§2.1)."""
        gates = parse_feature_gates(self.feature_gates)
        gates[constants.FEATURE_DISABLE_NODE_AUTO_PROVISIONING] = (
            self.node_provisioner == constants.NODE_PROVISIONER_BYO
        )
        return gates

    def manifest_settings(self) -> ManifestSettings:
        """The settings the pure manifest builders take."""
        return ManifestSettings(
            runtime_image=self.runtime_image,
            operator_namespace=self.release_namespace,
            cloud=self.cloud_provider,
            node_provisioner=self.node_provisioner,
            default_node_image_family=self.default_node_image_family,
            feature_gates=self.gates(),
        )
