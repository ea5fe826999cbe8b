"""Operator settings: upstream's environment names, feature gates, bind addresses."""

from __future__ import annotations

import pytest

from kaito.operator.settings import (
    OperatorSettings,
    SettingsError,
    parse_bind_address,
    parse_feature_gates,
)


def test_feature_gates_override_upstream_defaults() -> None:
    gates = parse_feature_gates("vLLM=false, enableMIG=true")
    assert gates["vLLM"] is False
    assert gates["enableMIG"] is True
    assert gates["enableInferenceSetController"] is True  # untouched default


@pytest.mark.parametrize("text", ["nosuch=true", "vLLM", "vLLM=maybe"])
def test_malformed_or_unknown_feature_gates_are_rejected(text: str) -> None:
    with pytest.raises(SettingsError):
        parse_feature_gates(text)


def test_upstream_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUD_PROVIDER", "aws")
    monkeypatch.setenv("RELEASE_NAMESPACE", "kaito-workspace")
    monkeypatch.setenv("KAITO_NODE_PROVISIONER", "karpenter")
    settings = OperatorSettings()
    assert settings.cloud_provider == "aws"
    assert settings.release_namespace == "kaito-workspace"
    assert settings.manifest_settings().node_provisioner == "karpenter"
    assert settings.manifest_settings().operator_namespace == "kaito-workspace"


def test_byo_provisioner_forces_node_auto_provisioning_off() -> None:
    assert OperatorSettings(node_provisioner="byo").gates()["disableNodeAutoProvisioning"] is True
    gates = OperatorSettings(
        node_provisioner="karpenter", feature_gates="disableNodeAutoProvisioning=true"
    ).gates()
    assert gates["disableNodeAutoProvisioning"] is False


def test_gpu_provisioner_alias_is_accepted() -> None:
    assert (
        OperatorSettings(node_provisioner="gpu-provisioner").node_provisioner == "gpu-provisioner"
    )
    with pytest.raises(ValueError, match="unknown node provisioner"):
        OperatorSettings(node_provisioner="aks")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:9", ("127.0.0.1", 9)), ("0", ("", 0))],
)
def test_bind_addresses_parse_like_controller_runtime(text: str, expected: tuple[str, int]) -> None:
    assert parse_bind_address(text) == expected


def test_bind_address_without_port_is_rejected() -> None:
    with pytest.raises(SettingsError, match="HOST:PORT"):
        parse_bind_address("localhost")
