"""Push and pull LoRA adapters as OCI artifacts in upstream's layout, with oras-py.

Upstream's pusher sidecar (reference §2.10) ships a tuned adapter as an OCI image whose single
gzipped tar layer holds ``data/adapter_config.json`` and ``data/adapter_model.safetensors``, whose
config lists the layer's ``diff_ids``, and whose manifest carries the annotation
``sh.kaito.model.name: <base model>``; the inference side mounts such an image as an adapter.
We build exactly that, reproducibly (fixed timestamps and owners, so the same adapter always gets
the same digest), and pull it back byte for byte.

Talking to the registry (credentials, retries, challenges) is
:mod:`kaito.runtime.artifacts.registry`; the layer itself (written reproducibly, extracted within
limits) is :mod:`kaito.runtime.artifacts.layers`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oras.auth.utils
import oras.container
import oras.provider
import requests
import urllib3.exceptions

from kaito.api.constants import ADAPTER_FILES as ADAPTER_FILES
from kaito.runtime.artifacts.errors import (
    AdapterLayoutError,
    ArtifactError,
    RegistryUnreachableError,
)
from kaito.runtime.artifacts.layers import LAYER_DIR as LAYER_DIR
from kaito.runtime.artifacts.layers import (
    O_NOFOLLOW,
    Budget,
    extract_layer,
    move_into,
    write_layer,
)
from kaito.runtime.artifacts.layers import PullLimits as PullLimits
from kaito.runtime.artifacts.registry import AdapterRegistry as AdapterRegistry
from kaito.runtime.artifacts.registry import RegistryAuth as RegistryAuth
from kaito.runtime.artifacts.registry import load_docker_credentials as load_docker_credentials
from kaito.runtime.artifacts.registry import read_capped, short_reason

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
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Docker Distribution refuses manifests above 4 MiB; so do we."""
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


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
    registry = AdapterRegistry(container.registry, access)
    with tempfile.TemporaryDirectory(prefix="kaito-push-") as tmp:
        layer_path = Path(tmp) / "layer.tar.gz"
        diff_id = write_layer(src_dir, layer_path)
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
    registry = AdapterRegistry(container.registry, access)
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
    body = read_capped(response, MAX_MANIFEST_BYTES, f"the manifest of {ref}")
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
        budget = Budget(caps)
        extracted: list[str] = []
        for index, layer in enumerate(layers):
            blob = staging / f".layer-{index}"
            _download_verified(registry, container, layer, blob, caps)
            files = staging / "files"
            extracted += extract_layer(blob, files, budget)
            blob.unlink()
        missing = [name for name in ADAPTER_FILES if name not in extracted]
        if missing:
            raise AdapterLayoutError(f"{ref} does not contain {LAYER_DIR}/{', '.join(missing)}")
        for name in dict.fromkeys(extracted):
            move_into(staging / "files", name, dest)
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


def _parse_ref(ref: str) -> oras.container.Container:
    try:
        container = oras.container.Container(ref)
    except ValueError as exc:
        raise ArtifactError(f"'{ref}' is not an OCI reference: {exc}") from exc
    if "/" not in ref.split("@")[0] or not container.registry:
        raise ArtifactError(f"'{ref}' must name a registry, e.g. registry.example.com/adapter:v1")
    return container


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
    registry: AdapterRegistry,
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
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o600)
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
        raise RegistryUnreachableError(
            f"layer {digest} did not arrive: {short_reason(exc)}"
        ) from exc
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
