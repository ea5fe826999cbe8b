"""Push and pull LoRA adapters as OCI artifacts in upstream's layout, with oras-py.

Upstream's pusher sidecar (reference §2.10) ships a tuned adapter as an OCI image whose single
gzipped tar layer holds ``data/adapter_config.json`` and ``data/adapter_model.safetensors``, whose
config lists the layer's ``diff_ids``, and whose manifest carries the annotation
``sh.kaito.model.name: <base model>``; the inference side mounts such an image as an adapter.
We build exactly that, reproducibly (fixed timestamps and owners, so the same adapter always gets
the same digest), and pull it back byte for byte.

oras-py speaks the distribution API; its request loop is replaced here because its retries wait
minutes (2 s + 3^n per attempt) and it cannot answer a registry's ``Basic`` challenge. Ours
retries network errors and 5xx with a short backoff, answers ``Basic`` and ``Bearer`` challenges
with credentials from flags or a docker ``config.json`` (the projected ``imagePushSecret``), and
turns a rejection into :class:`AuthenticationError` naming the registry.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import oras.auth.utils
import oras.container
import oras.provider
import requests
import urllib3.exceptions

from kaito.runtime.artifacts import settings
from kaito.runtime.artifacts.errors import (
    AdapterLayoutError,
    ArtifactError,
    AuthenticationError,
    RegistryUnreachableError,
)

logger = logging.getLogger(__name__)

MODEL_NAME_ANNOTATION = "sh.kaito.model.name"
TITLE_ANNOTATION = "org.opencontainers.image.title"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_MEDIA_TYPES = frozenset(
    {
        LAYER_MEDIA_TYPE,
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    }
)
LAYER_DIR = "data"
ADAPTER_FILES: tuple[str, ...] = ("adapter_config.json", "adapter_model.safetensors")
_RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"
# Token services that registries are known to delegate to on another host (HTTPS only).
KNOWN_TOKEN_HOSTS: dict[str, tuple[str, ...]] = {
    "docker.io": ("auth.docker.io",),
    "index.docker.io": ("auth.docker.io",),
    "registry-1.docker.io": ("auth.docker.io",),
}
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Docker Distribution refuses manifests above 4 MiB; so do we."""
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


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


GIB = 1024**3


@dataclass(frozen=True)
class PullLimits:
    """Caps on what a pull may cost; exceeding one refuses the pull and removes what it wrote."""

    max_bytes: int = 20 * GIB
    """Total bytes of all layers, downloaded (compressed) and extracted (every tar member)."""
    max_files: int = 10_000
    """Tar members, of any kind, over all layers."""
    layer_seconds: float = 3600.0
    """Wall-clock deadline for downloading one layer."""


def push_adapter(
    src_dir: Path,
    ref: str,
    *,
    base_model: str | None = None,
    auth: RegistryAuth | None = None,
) -> str:
    """Push the adapter in ``src_dir`` to ``ref``; return the manifest digest (``sha256:...``).

    Raises:
        AdapterLayoutError: ``src_dir`` lacks an adapter file.
        AuthenticationError: the registry rejected the credentials.
        RegistryUnreachableError: the registry could not be reached.
        ArtifactError: any other refusal by the registry.
    """
    access = auth or RegistryAuth()
    missing = [name for name in ADAPTER_FILES if not (src_dir / name).is_file()]
    if missing:
        raise AdapterLayoutError(f"{src_dir} has no {', '.join(missing)}: nothing to push")
    container = _parse_ref(ref)
    registry = _AdapterRegistry(container.registry, access)
    with tempfile.TemporaryDirectory(prefix="kaito-push-") as tmp:
        layer_path = Path(tmp) / "layer.tar.gz"
        diff_id = _write_layer(src_dir, layer_path)
        config_path = Path(tmp) / "config.json"
        config_path.write_bytes(_canonical_json(_image_config(diff_id)))
        layer = _descriptor(layer_path, LAYER_MEDIA_TYPE, {TITLE_ANNOTATION: LAYER_DIR})
        config = _descriptor(config_path, CONFIG_MEDIA_TYPE)
        for path, descriptor in ((config_path, config), (layer_path, layer)):
            response = registry.upload_blob(str(path), container, descriptor)
            registry.check(response, f"uploading blob {descriptor['digest']}")
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config,
            "layers": [layer],
        }
        if base_model:
            manifest["annotations"] = {MODEL_NAME_ANNOTATION: base_model}
        body = _canonical_json(manifest)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        response = registry.do_request(
            f"{registry.prefix}://{container.manifest_url()}",
            "PUT",
            data=body,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
        )
        registry.check(response, f"uploading the manifest of {ref}")
    logger.info("pushed %s@%s", ref, digest)
    return digest


def pull_adapter(
    ref: str,
    dest: Path,
    *,
    auth: RegistryAuth | None = None,
    limits: PullLimits | None = None,
) -> Path:
    """Pull the adapter at ``ref`` into ``dest`` (its ``data/`` files); return ``dest``.

    Every layer is downloaded (stopping at its declared size, digest checked) and extracted into
    a fresh private folder inside ``dest`` first; only when everything arrived within ``limits``
    and the adapter files are present are the files moved into ``dest`` (``os.replace``, which
    replaces a planted symlink instead of writing through it). A refused pull leaves ``dest`` as
    it found it (and removes it if the pull created it).

    Raises:
        AdapterLayoutError: the artifact has no layer or no adapter files, or ``dest`` is a
            symlink.
        AuthenticationError, RegistryUnreachableError, ArtifactError: see :func:`push_adapter`;
            also a malformed manifest and an exceeded limit.
    """
    access = auth or RegistryAuth()
    caps = limits or PullLimits()
    container = _parse_ref(ref)
    registry = _AdapterRegistry(container.registry, access)
    if dest.is_symlink():
        raise AdapterLayoutError(f"refusing to pull into {dest}: it is a symbolic link")
    response = registry.do_request(
        f"{registry.prefix}://{container.manifest_url()}",
        "GET",
        headers={"Accept": f"{MANIFEST_MEDIA_TYPE}, {DOCKER_MANIFEST_MEDIA_TYPE}"},
        stream=True,
    )
    if response.status_code == 404:
        raise ArtifactError(f"{ref} not found in {container.registry}")
    registry.check(response, f"fetching the manifest of {ref}")
    body = _read_capped(response, MAX_MANIFEST_BYTES, f"the manifest of {ref}")
    layers = [d for d in parse_manifest(body, ref) if d["mediaType"] in LAYER_MEDIA_TYPES]
    if not layers:
        raise AdapterLayoutError(f"{ref} has no tar layer holding an adapter")
    declared = sum(int(d["size"]) for d in layers)
    if declared > caps.max_bytes:
        raise ArtifactError(
            f"{ref}: its layers declare {declared} bytes, more than the limit of {caps.max_bytes}"
        )
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or not dest.is_dir():
        raise AdapterLayoutError(f"refusing to pull into {dest}: not a plain folder")
    staging = Path(tempfile.mkdtemp(prefix=".kaito-pull-", dir=dest))
    try:
        budget = _Budget(caps)
        extracted: list[str] = []
        for index, layer in enumerate(layers):
            blob = staging / f".layer-{index}"
            _download_verified(registry, container, layer, blob, caps)
            files = staging / "files"
            extracted += _extract_layer(blob, files, budget)
            blob.unlink()
        missing = [name for name in ADAPTER_FILES if name not in extracted]
        if missing:
            raise AdapterLayoutError(f"{ref} does not contain {LAYER_DIR}/{', '.join(missing)}")
        for name in dict.fromkeys(extracted):
            _move_into(staging / "files", name, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                dest.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("pulled %s into %s (%s)", ref, dest, ", ".join(sorted(set(extracted))))
    return dest


def pull_adapter_private(
    ref: str,
    *,
    parent: Path | None = None,
    auth: RegistryAuth | None = None,
    limits: PullLimits | None = None,
) -> Path:
    """Pull ``ref`` into a new folder that only this user can open; return that folder.

    The folder comes from :func:`tempfile.mkdtemp` (mode 0700, unpredictable name) under
    ``parent`` (default: the system temporary folder), so another local user can neither guess
    it nor plant links in it. On failure it is removed. The caller owns the folder afterwards.
    """
    folder = Path(tempfile.mkdtemp(prefix="kaito-adapter-", dir=parent))
    try:
        return pull_adapter(ref, folder, auth=auth, limits=limits)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def parse_manifest(body: bytes, ref: str) -> list[dict[str, Any]]:
    """The layer descriptors of an image manifest, checked; raise naming ``ref`` otherwise.

    Each descriptor has a string ``mediaType``, a ``sha256:<64 hex>`` digest and a
    non-negative integer ``size``.

    Raises:
        ArtifactError: the body is not a JSON object with a list of such descriptors.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"the manifest of {ref} is not JSON") from exc
    if not isinstance(document, dict):
        raise ArtifactError(f"the manifest of {ref} is not a JSON object")
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise ArtifactError(f"the manifest of {ref} has no list of layers")
    checked: list[dict[str, Any]] = []
    for index, layer in enumerate(layers):
        where = f"the manifest of {ref}: layer {index}"
        if not isinstance(layer, dict):
            raise ArtifactError(f"{where} is not an object")
        media_type, digest, size = layer.get("mediaType"), layer.get("digest"), layer.get("size")
        if not isinstance(media_type, str):
            raise ArtifactError(f"{where} has no mediaType")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ArtifactError(f"{where} has no sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ArtifactError(f"{where} has no valid size")
        checked.append(layer)
    return checked


def wait_for_file(path: Path, *, timeout_seconds: float = 0.0, poll_seconds: float = 2.0) -> None:
    """Block until ``path`` exists (the sidecar waiting for the tuning sentinel).

    Raises:
        ArtifactError: ``timeout_seconds`` (> 0) passed first.
    """
    deadline = time.monotonic() + timeout_seconds if timeout_seconds > 0 else None
    while not path.exists():
        if deadline is not None and time.monotonic() >= deadline:
            raise ArtifactError(f"{path} did not appear within {timeout_seconds:g} s")
        time.sleep(poll_seconds)


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


class _AdapterRegistry(oras.provider.Registry):  # type: ignore[misc]
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
                        f"cannot reach registry {self._hostname}: {_short(exc)} "
                        f"(after {attempt} attempts)"
                    ) from exc
                logger.warning("registry %s: %s; retrying", self._hostname, _short(exc))
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
                f"cannot reach the token service of {self._hostname}: {_short(exc)}"
            ) from exc
        if reply.status_code != 200:
            raise AuthenticationError(
                f"authentication failed for {self._hostname} (token service HTTP "
                f"{reply.status_code})"
            )
        body = _read_capped(reply, 1 << 20, f"the token of {self._hostname}")
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


def _parse_ref(ref: str) -> oras.container.Container:
    try:
        container = oras.container.Container(ref)
    except ValueError as exc:
        raise ArtifactError(f"'{ref}' is not an OCI reference: {exc}") from exc
    if "/" not in ref.split("@")[0] or not container.registry:
        raise ArtifactError(f"'{ref}' must name a registry, e.g. registry.example.com/adapter:v1")
    return container


def _write_layer(src_dir: Path, target: Path) -> str:
    """Write the reproducible ``data/`` tar.gz; return the uncompressed tar's ``sha256:`` digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo(LAYER_DIR)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(_normalised(folder))
        for name in ADAPTER_FILES:
            path = src_dir / name
            info = tarfile.TarInfo(f"{LAYER_DIR}/{name}")
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(_normalised(info), handle)
    raw = buffer.getvalue()
    with target.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped:
        zipped.write(raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _image_config(diff_id: str) -> dict[str, Any]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }


def _descriptor(
    path: Path, media_type: str, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    data = path.read_bytes()
    descriptor: dict[str, Any] = {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _read_capped(response: requests.Response, limit: int, what: str) -> bytes:
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
        raise RegistryUnreachableError(f"{what} did not arrive: {_short(exc)}") from exc
    finally:
        response.close()
    return b"".join(parts)


def _download_verified(
    registry: _AdapterRegistry,
    container: oras.container.Container,
    layer: dict[str, Any],
    target: Path,
    limits: PullLimits,
) -> None:
    """Download one layer, stopping at its declared size and its deadline; check its digest."""
    digest = str(layer["digest"])
    declared = int(layer["size"])
    url = f"{registry.prefix}://{container.get_blob_url(digest)}"
    response = registry.do_request(url, "GET", stream=True)
    registry.check(response, f"downloading layer {digest}")
    deadline = time.monotonic() + limits.layer_seconds
    hasher = hashlib.sha256()
    received = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in _iter_available(response):
                received += len(chunk)
                if received > declared:
                    raise ArtifactError(
                        f"layer {digest} is larger than its declared size of {declared} bytes"
                    )
                if time.monotonic() > deadline:
                    raise ArtifactError(
                        f"layer {digest} did not arrive within {limits.layer_seconds:g} s"
                    )
                hasher.update(chunk)
                handle.write(chunk)
    except requests.RequestException as exc:
        raise RegistryUnreachableError(f"layer {digest} did not arrive: {_short(exc)}") from exc
    finally:
        response.close()
    if received != declared:
        raise ArtifactError(
            f"layer {digest} arrived with {received} bytes, not its declared {declared}"
        )
    if "sha256:" + hasher.hexdigest() != digest:
        raise ArtifactError(f"layer {digest} arrived corrupted (digest mismatch)")


def _iter_available(response: requests.Response) -> Iterator[bytes]:
    """The body in pieces as they arrive (not 64 KiB at a time), so deadlines are kept."""
    raw = response.raw
    try:
        while True:
            chunk = raw.read1(1 << 16, decode_content=True)
            if not chunk:
                return
            yield chunk
    except urllib3.exceptions.HTTPError as exc:
        raise requests.ConnectionError(str(exc)) from exc


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_MAX_HEADER_BYTES = 1 << 20
_LONG_HEADER_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)


class _Budget:
    """What is left of a pull's :class:`PullLimits` over all its layers."""

    def __init__(self, limits: PullLimits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_bytes
        self.files_left = limits.max_files

    def take_bytes(self, count: int) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise ArtifactError(
                f"the adapter expands to more than {self.limits.max_bytes} bytes "
                "(raise the limit with --max-bytes if it is genuine)"
            )

    def take_member(self) -> None:
        self.files_left -= 1
        if self.files_left < 0:
            raise ArtifactError(
                f"the adapter holds more than {self.limits.max_files} entries "
                "(raise the limit with --max-files if it is genuine)"
            )


class _CappedReader(io.RawIOBase):
    """A read-only stream that charges every byte read to a :class:`_Budget`."""

    def __init__(self, source: Any, budget: _Budget) -> None:
        self._source = source
        self._budget = budget

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._source.read(size if size is not None and size >= 0 else 1 << 20)
        self._budget.take_bytes(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses long-name and pax headers above 1 MiB, which tarfile would read into memory."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADER_TYPES and self.size > _MAX_HEADER_BYTES:
            raise AdapterLayoutError(f"refusing a {self.size}-byte tar header in the layer")
        return super()._proc_member(tarfile_)  # type: ignore[misc,no-any-return]


def _extract_layer(blob: Path, dest: Path, budget: _Budget) -> list[str]:
    """Copy the regular files under ``data/`` into ``dest``, refusing unsafe member names.

    ``dest`` is the pull's private staging folder: files are created with ``O_EXCL`` and
    ``O_NOFOLLOW``. Every member (also skipped ones) counts against ``budget``.
    """
    names: list[str] = []
    dest.mkdir(exist_ok=True)
    with blob.open("rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        source: Any = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        capped = io.BufferedReader(_CappedReader(source, budget), buffer_size=1 << 16)
        try:
            with tarfile.open(fileobj=capped, mode="r|", tarinfo=_BoundedTarInfo) as tar:
                for member in tar:
                    budget.take_member()
                    relative = _member_path(member)
                    if relative is None:
                        continue
                    if member.size > budget.bytes_left:
                        budget.take_bytes(member.size)
                    _write_member(tar, member, dest, relative)
                    names.append(relative.as_posix())
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise AdapterLayoutError(f"the layer is not a readable tar archive: {exc}") from exc
    return names


def _member_path(member: tarfile.TarInfo) -> PurePosixPath | None:
    """Where a ``data/`` regular file goes, relative to the adapter folder; None to skip."""
    path = PurePosixPath(member.name.lstrip("./") if member.name != "." else "")
    if not member.isfile() or len(path.parts) < 2 or path.parts[0] != LAYER_DIR:
        return None
    relative = PurePosixPath(*path.parts[1:])
    if any(part in {"..", "", "."} for part in relative.parts) or relative.is_absolute():
        raise AdapterLayoutError(f"refusing unsafe path '{member.name}' in the layer")
    if "\x00" in member.name:
        raise AdapterLayoutError("refusing a member name with a NUL byte in the layer")
    return relative


def _write_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, relative: PurePosixPath
) -> None:
    target = dest.joinpath(*relative.parts)
    try:
        for parent in reversed(target.relative_to(dest).parents[:-1]):
            folder = dest / parent
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise AdapterLayoutError(f"the layer uses '{parent}' both as file and folder")
            folder.mkdir(exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            raise AdapterLayoutError(f"the layer uses '{relative}' both as file and folder")
        target.unlink(missing_ok=True)  # a repeated member: the last one wins, as in tar
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise AdapterLayoutError(f"cannot extract '{member.name}': {exc.strerror}") from exc
    source = tar.extractfile(member)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            with source:
                shutil.copyfileobj(source, out, 1 << 16)


def _move_into(staged_root: Path, name: str, dest: Path) -> None:
    """Move one extracted file into ``dest``, never through a symlink planted there."""
    relative = PurePosixPath(name)
    folder = dest
    for part in relative.parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise AdapterLayoutError(f"refusing to write into {folder}: not a plain folder")
        folder.mkdir(exist_ok=True)
    target = folder / relative.name
    if target.is_dir() and not target.is_symlink():
        raise AdapterLayoutError(f"refusing to replace the folder {target} with a file")
    os.replace(staged_root.joinpath(*relative.parts), target)


def _short(exc: BaseException) -> str:
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
