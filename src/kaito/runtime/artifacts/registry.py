"""Talking to an OCI registry: credentials, retries and challenges, on top of oras-py.

oras-py speaks the distribution API; its request loop is replaced here because its retries wait
minutes (2 s + 3^n per attempt) and it cannot answer a registry's ``Basic`` challenge. Ours
retries network errors and 5xx with a short backoff, answers ``Basic`` and ``Bearer`` challenges
with credentials from flags or a docker ``config.json`` (the projected ``imagePushSecret``), sends
them to a token service only on the registry's own host (or one listed in
``KNOWN_TOKEN_HOSTS``), and turns a rejection into :class:`AuthenticationError` naming the
registry.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import oras.auth.utils
import oras.container
import oras.provider
import requests

from kaito.runtime.artifacts import settings
from kaito.runtime.artifacts.errors import (
    ArtifactError,
    AuthenticationError,
    RegistryUnreachableError,
)

logger = logging.getLogger(__name__)

_RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"
# Token services that registries are known to delegate to on another host (HTTPS only).
KNOWN_TOKEN_HOSTS: dict[str, tuple[str, ...]] = {
    "docker.io": ("auth.docker.io",),
    "index.docker.io": ("auth.docker.io",),
    "registry-1.docker.io": ("auth.docker.io",),
}


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials and transport for one registry conversation."""

    username: str | None = None
    """With ``password``: used instead of any docker config."""
    password: str | None = None
    docker_configs: tuple[Path, ...] = ()
    """Docker ``config.json`` files, tried in order (one per projected pull secret): the first
    holding credentials for the registry wins. Default ``$DOCKER_CONFIG/config.json`` or
    ``~/.docker``."""
    plain_http: bool = False
    """Talk HTTP instead of HTTPS (local test registries)."""
    insecure: bool = False
    """Skip TLS certificate verification."""
    attempts: int = 4
    """Tries per request on network errors and 5xx."""
    backoff_seconds: float = 1.0
    """Pause before the second try; doubled after each further failure."""
    timeout_seconds: float = 30.0
    """Connect and read timeout per request."""
    trusted_token_hosts: tuple[str, ...] = ()
    """Host names (besides the registry's own) whose HTTPS token service may receive the
    credentials when a ``Bearer`` challenge names it as realm."""


def load_docker_credentials(config_path: Path, registry: str) -> tuple[str, str] | None:
    """The ``(username, password)`` stored for ``registry`` in a docker ``config.json``.

    Raises:
        ArtifactError: the file exists but is not a docker config.
    """
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read docker config {config_path}: {exc}") from exc
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    if registry in {"docker.io", "index.docker.io", "registry-1.docker.io"}:
        keys.append(_DOCKER_HUB_KEY)
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("username") and entry.get("password"):
            return str(entry["username"]), str(entry["password"])
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise ArtifactError(
                    f"docker config {config_path}: the auth entry for {key} is not base64"
                ) from exc
            return user, password
    return None


class AdapterRegistry(oras.provider.Registry):  # type: ignore[misc]
    """oras-py's registry client with our retry, auth and error handling."""

    def __init__(self, hostname: str, access: RegistryAuth) -> None:
        super().__init__(
            hostname=hostname, insecure=access.plain_http, tls_verify=not access.insecure
        )
        self._access = access
        self._hostname = hostname
        self._authorization: str | None = None
        self._credentials = _credentials_for(hostname, access)

    def do_request(
        self,
        url: str,
        method: str = "GET",
        data: dict[str, Any] | bytes | None = None,
        headers: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send one request, answering auth challenges and retrying transient failures."""
        delay = self._access.backoff_seconds
        answered_challenge = False
        attempt = 1
        while True:
            sent = dict(headers or {})
            if self._authorization:
                sent["Authorization"] = self._authorization
            try:
                response: requests.Response = self.session.request(
                    method,
                    url,
                    data=data,
                    json=json,
                    headers=sent,
                    stream=stream,
                    verify=self._tls_verify,
                    timeout=self._access.timeout_seconds,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self._access.attempts:
                    raise RegistryUnreachableError(
                        f"cannot reach registry {self._hostname}: {short_reason(exc)} "
                        f"(after {attempt} attempts)"
                    ) from exc
                logger.warning("registry %s: %s; retrying", self._hostname, short_reason(exc))
            else:
                if response.status_code == 401 and not answered_challenge:
                    answered_challenge = True
                    self._authorization = self._answer(response)
                    continue
                if response.status_code in (401, 403):
                    raise AuthenticationError(
                        f"authentication failed for {self._hostname} (HTTP {response.status_code})"
                    )
                if response.status_code not in _RETRIABLE_STATUS or (
                    attempt >= self._access.attempts
                ):
                    return response
                logger.warning(
                    "registry %s answered HTTP %d; retrying", self._hostname, response.status_code
                )
            attempt += 1
            time.sleep(delay)
            delay *= 2

    def check(self, response: requests.Response, action: str) -> None:
        """Raise :class:`ArtifactError` unless ``response`` is a 2xx."""
        if 200 <= response.status_code < 300:
            return
        raw = b""
        with contextlib.suppress(requests.RequestException):
            raw = next(response.iter_content(1 << 16), b"")
        detail = ""
        try:
            document = json.loads(raw)
            errors = document.get("errors") if isinstance(document, dict) else None
            if isinstance(errors, list):
                detail = "; ".join(
                    str(e.get("message", e))[:200] for e in errors[:5] if isinstance(e, dict)
                )
        except (ValueError, RecursionError):
            detail = raw[:200].decode("utf-8", errors="replace")
        raise ArtifactError(
            f"{action} at {self._hostname} failed: HTTP {response.status_code}"
            + (f" ({detail})" if detail else "")
        )

    def token_service_refusal(self, realm: object) -> str | None:
        """Why the credentials must not go to the token service ``realm``, or ``None``.

        They go to the registry's own host (HTTPS, or plain HTTP only when the registry itself
        is spoken to over plain HTTP), or over HTTPS to a host the caller trusts
        (:attr:`RegistryAuth.trusted_token_hosts`) or that the registry is known to use.
        """
        if not isinstance(realm, str) or not realm:
            return "the challenge names no realm"
        parts = urlsplit(realm)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return "it is not an http(s) URL"
        own = (urlsplit(f"//{self._hostname}").hostname or "").lower().rstrip(".")
        host = parts.hostname.lower().rstrip(".")
        if host == own:
            if scheme == "http" and not self._access.plain_http:
                return "it would send them over plain http to a registry spoken to over https"
            return None
        trusted = {h.lower().rstrip(".") for h in self._access.trusted_token_hosts}
        trusted.update(KNOWN_TOKEN_HOSTS.get(own, ()))
        if host not in trusted:
            return (
                f"{host} is not the registry's host (trust it with --trust-token-host {host} "
                "if it is the registry's token service)"
            )
        if scheme != "https":
            return "a token service on another host must use https"
        return None

    def _answer(self, challenge: requests.Response) -> str:
        header = challenge.headers.get("WWW-Authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        if self._credentials is None:
            raise AuthenticationError(
                f"authentication failed for {self._hostname}: the registry requires credentials "
                "and none were given (use --username/--password or a docker config.json)"
            )
        user, password = self._credentials
        basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        if scheme == "basic":
            return f"Basic {basic}"
        if scheme != "bearer":
            raise AuthenticationError(
                f"authentication failed for {self._hostname}: unsupported challenge '{scheme}'"
            )
        params = oras.auth.utils.parse_auth_header(header)
        refusal = self.token_service_refusal(params.realm)
        if refusal:
            raise AuthenticationError(
                f"authentication failed for {self._hostname}: not sending credentials to the "
                f"token service {str(params.realm)[:200]!r}: {refusal}"
            )
        query = {k: v for k, v in (("service", params.service), ("scope", params.scope)) if v}
        try:
            reply = self.session.get(
                params.realm,
                params=query,
                headers={"Authorization": f"Basic {basic}"},
                verify=self._tls_verify,
                timeout=self._access.timeout_seconds,
                allow_redirects=False,
                stream=True,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RegistryUnreachableError(
                f"cannot reach the token service of {self._hostname}: {short_reason(exc)}"
            ) from exc
        if reply.status_code != 200:
            raise AuthenticationError(
                f"authentication failed for {self._hostname} (token service HTTP "
                f"{reply.status_code})"
            )
        body = read_capped(reply, 1 << 20, f"the token of {self._hostname}")
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            document = None
        token = None
        if isinstance(document, dict):
            token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"authentication failed for {self._hostname}: no token")
        return f"Bearer {token}"


def _credentials_for(registry: str, access: RegistryAuth) -> tuple[str, str] | None:
    if access.username is not None and access.password is not None:
        return access.username, access.password
    if access.username is not None or access.password is not None:
        raise AuthenticationError("give both --username and --password, or neither")
    for config in access.docker_configs or (settings.default_docker_config(),):
        found = load_docker_credentials(config, registry)
        if found is not None:
            return found
    return None


def read_capped(response: requests.Response, limit: int, what: str) -> bytes:
    """The body of a streamed ``response``, refusing one longer than ``limit`` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise ArtifactError(f"{what} is larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            if size > limit:
                raise ArtifactError(f"{what} is larger than {limit} bytes")
            parts.append(chunk)
    except requests.RequestException as exc:
        raise RegistryUnreachableError(f"{what} did not arrive: {short_reason(exc)}") from exc
    finally:
        response.close()
    return b"".join(parts)


def short_reason(exc: BaseException) -> str:
    """A one-phrase reason instead of urllib3's nested retry message."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host"):
        if marker in text:
            return marker.lower()
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return text[:200]
