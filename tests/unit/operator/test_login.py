"""Kopf's credentials from ``--kubeconfig``: the same identity as the operator's API client."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito.operator.login import KubeconfigError, connection_info


def _write(path: Path, user: dict, cluster: dict | None = None, current: str = "ctx") -> Path:
    config = {
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "ns"}}],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_token_and_ca_file_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "sa.kubeconfig",
        {"token": "abc"},
        {"server": "https://10.0.0.1:6443", "certificate-authority": "pki/ca.crt"},
    )
    info = connection_info(path)
    assert info.server == "https://10.0.0.1:6443"
    assert info.token == "abc"
    assert info.ca_path == str(tmp_path / "pki" / "ca.crt")
    assert info.default_namespace == "ns"
    assert info.insecure is False


def test_client_certificate_data_and_insecure_flag(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "admin.kubeconfig",
        {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"},
        {"server": "https://h:1", "insecure-skip-tls-verify": True},
    )
    info = connection_info(path)
    assert info.certificate_data == "Q0VSVA=="
    assert info.private_key_data == "S0VZ"
    assert info.insecure is True
    assert info.token is None


def test_missing_context_and_missing_file_name_what_is_wrong(tmp_path: Path) -> None:
    path = _write(tmp_path / "k", {"token": "t"}, current="other")
    with pytest.raises(KubeconfigError, match="no context named 'other'"):
        connection_info(path)
    with pytest.raises(KubeconfigError, match="cannot read kubeconfig"):
        connection_info(tmp_path / "absent")
    path = _write(tmp_path / "k2", {"token": "t"}, cluster={"server": ""})
    with pytest.raises(KubeconfigError, match="has no server"):
        connection_info(path)
