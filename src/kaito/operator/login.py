"""Kopf's credentials from an explicit kubeconfig file (``kaito operator --kubeconfig``).

Kopf's own kubeconfig login reads only ``$KUBECONFIG``; the operator's API client (lightkube) and
its watches (Kopf) must use the same identity, so both read the file the settings name. Supports
what kubeconfigs for a service account or an administrator hold: a token, a client certificate
(file or inline data), a CA (file or inline data) and ``insecure-skip-tls-verify``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kopf
import yaml


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used (the message names the file and the missing part)."""


def _named(entries: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(what) or {})
    raise KubeconfigError(f"{path}: no {what} named {name!r}")


def _relative(path: Path, value: str | None) -> str | None:
    """Kubeconfig file paths are relative to the file that names them."""
    if not value:
        return None
    return str((path.parent / value).resolve()) if not Path(value).is_absolute() else value


def connection_info(path: Path) -> kopf.ConnectionInfo:
    """The current context of ``path`` as Kopf connection info."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    current = config.get("current-context")
    if not current:
        raise KubeconfigError(f"{path}: current-context is not set")
    context = _named(config.get("contexts"), current, "context", path)
    cluster = _named(config.get("clusters"), context.get("cluster", ""), "cluster", path)
    user = _named(config.get("users"), context.get("user", ""), "user", path)
    if not cluster.get("server"):
        raise KubeconfigError(f"{path}: cluster {context.get('cluster')!r} has no server")
    return kopf.ConnectionInfo(
        server=str(cluster["server"]),
        ca_path=_relative(path, cluster.get("certificate-authority")),
        ca_data=cluster.get("certificate-authority-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        token=user.get("token"),
        certificate_path=_relative(path, user.get("client-certificate")),
        certificate_data=user.get("client-certificate-data"),
        private_key_path=_relative(path, user.get("client-key")),
        private_key_data=user.get("client-key-data"),
        default_namespace=context.get("namespace"),
    )
