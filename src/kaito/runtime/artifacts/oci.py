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
import gzip
import hashlib
import io
import json
import logging
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import oras.auth.utils
import oras.container
import oras.provider
import requests

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


def pull_adapter(ref: str, dest: Path, *, auth: RegistryAuth | None = None) -> Path:
    """Pull the adapter at ``ref`` into ``dest`` (its ``data/`` files); return ``dest``.

    Raises:
        AdapterLayoutError: the artifact has no layer or no adapter files.
        AuthenticationError, RegistryUnreachableError, ArtifactError: see :func:`push_adapter`.
    """
    access = auth or RegistryAuth()
    container = _parse_ref(ref)
    registry = _AdapterRegistry(container.registry, access)
    response = registry.do_request(
        f"{registry.prefix}://{container.manifest_url()}",
        "GET",
        headers={"Accept": f"{MANIFEST_MEDIA_TYPE}, {DOCKER_MANIFEST_MEDIA_TYPE}"},
    )
    if response.status_code == 404:
        raise ArtifactError(f"{ref} not found in {container.registry}")
    registry.check(response, f"fetching the manifest of {ref}")
    manifest = response.json()
    layers = [d for d in manifest.get("layers", []) if d.get("mediaType") in LAYER_MEDIA_TYPES]
    if not layers:
        raise AdapterLayoutError(f"{ref} has no tar layer holding an adapter")
    dest.mkdir(parents=True, exist_ok=True)
    extracted: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kaito-pull-") as tmp:
        for index, layer in enumerate(layers):
            blob = Path(tmp) / f"layer-{index}"
            _download_verified(registry, container, layer, blob)
            extracted += _extract_layer(blob, dest)
    missing = [name for name in ADAPTER_FILES if name not in extracted]
    if missing:
        raise AdapterLayoutError(f"{ref} does not contain {LAYER_DIR}/{', '.join(missing)}")
    logger.info("pulled %s into %s (%s)", ref, dest, ", ".join(sorted(extracted)))
    return dest


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
        detail = ""
        try:
            errors = response.json().get("errors") or []
            detail = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        except ValueError:
            detail = response.text[:200]
        raise ArtifactError(
            f"{action} at {self._hostname} failed: HTTP {response.status_code}"
            + (f" ({detail})" if detail else "")
        )

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
        query = {k: v for k, v in (("service", params.service), ("scope", params.scope)) if v}
        try:
            reply = self.session.get(
                params.realm,
                params=query,
                headers={"Authorization": f"Basic {basic}"},
                verify=self._tls_verify,
                timeout=self._access.timeout_seconds,
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
        token = reply.json().get("token") or reply.json().get("access_token")
        if not token:
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


def _download_verified(
    registry: _AdapterRegistry,
    container: oras.container.Container,
    layer: dict[str, Any],
    target: Path,
) -> None:
    digest = str(layer.get("digest", ""))
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256" or not expected:
        raise ArtifactError(f"layer digest '{digest}' is not a sha256 digest")
    url = f"{registry.prefix}://{container.get_blob_url(digest)}"
    response = registry.do_request(url, "GET", stream=True)
    registry.check(response, f"downloading layer {digest}")
    hasher = hashlib.sha256()
    with target.open("wb") as handle:
        for chunk in response.iter_content(chunk_size=1 << 16):
            hasher.update(chunk)
            handle.write(chunk)
    if hasher.hexdigest() != expected:
        raise ArtifactError(f"layer {digest} arrived corrupted (digest mismatch)")


def _extract_layer(blob: Path, dest: Path) -> list[str]:
    """Copy the regular files under ``data/`` into ``dest``, refusing unsafe member names."""
    names: list[str] = []
    with tarfile.open(blob, mode="r:*") as tar:
        for member in tar:
            path = PurePosixPath(member.name.lstrip("./") if member.name != "." else "")
            if not member.isfile() or len(path.parts) < 2 or path.parts[0] != LAYER_DIR:
                continue
            relative = PurePosixPath(*path.parts[1:])
            if any(part in {"..", ""} for part in relative.parts) or relative.is_absolute():
                raise AdapterLayoutError(f"refusing unsafe path '{member.name}' in the layer")
            target = dest.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                continue
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)
            names.append(relative.as_posix())
    return names


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
