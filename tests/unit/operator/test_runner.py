"""The operator replica's Kopf settings: the admission webhook and its certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kaito.operator.runner import Operator
from kaito.operator.settings import OperatorSettings
from kaito.operator.webhook import WebhookServer


def _operator(**overrides: Any) -> Operator:
    settings = OperatorSettings(server="http://127.0.0.1:9", leader_elect=False, **overrides)
    return Operator(settings, identity="test")


def test_webhook_is_skipped_rather_than_crashing_while_its_certificate_is_missing(
    tmp_path: Path,
) -> None:
    ks = _operator(webhook_cert_dir=str(tmp_path))._kopf_settings()
    assert ks.admission.server is None


def test_webhook_serves_tls_once_the_certificate_is_mounted(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "tls.key").write_text("key")
    server = _operator(webhook_cert_dir=str(tmp_path))._kopf_settings().admission.server
    assert isinstance(server, WebhookServer)
    assert server.certfile == str(tmp_path / "tls.crt")
    assert server.pkeyfile == str(tmp_path / "tls.key")
    assert not server.insecure


def test_webhook_without_a_certificate_directory_serves_plain_http() -> None:
    server = _operator()._kopf_settings().admission.server
    assert isinstance(server, WebhookServer)
    assert server.insecure


def test_webhook_server_is_ours_with_the_json_depth_check() -> None:
    server = _operator()._kopf_settings().admission.server
    assert isinstance(server, WebhookServer)
