"""Adapter push/pull against a real OCI registry (Debian's docker-registry on loopback)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.runtime.artifacts import (
    MODEL_NAME_ANNOTATION,
    AdapterLayoutError,
    ArtifactError,
    AuthenticationError,
    RegistryAuth,
    RegistryUnreachableError,
    pull_adapter,
    push_adapter,
)
from tests.fixtures.registry import RunningRegistry, free_port

PLAIN = RegistryAuth(plain_http=True, attempts=2, backoff_seconds=0.01)


@pytest.fixture
def adapter_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16}', encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(os.urandom(50_000))
    (folder / "README.md").write_text("not shipped", encoding="utf-8")
    return folder


def _manifest(registry: RunningRegistry, repo: str, tag: str) -> dict[str, object]:
    response = httpx.get(
        f"http://{registry.host}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    response.raise_for_status()
    manifest: dict[str, object] = response.json()
    return manifest


def test_pulled_adapter_is_byte_identical_to_the_pushed_one(
    oci_registry: RunningRegistry, adapter_dir: Path, tmp_path: Path
) -> None:
    ref = f"{oci_registry.host}/adapters/roundtrip:v1"
    push_adapter(adapter_dir, ref, base_model="phi-3-mini-4k-instruct", auth=PLAIN)
    out = pull_adapter(ref, tmp_path / "pulled", auth=PLAIN)
    assert sorted(p.name for p in out.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (out / name).read_bytes() == (adapter_dir / name).read_bytes()


def test_artifact_uses_upstream_layout(oci_registry: RunningRegistry, adapter_dir: Path) -> None:
    digest = push_adapter(
        adapter_dir, f"{oci_registry.host}/adapters/layout:v1", base_model="llama-3", auth=PLAIN
    )
    manifest = _manifest(oci_registry, "adapters/layout", "v1")
    assert manifest["annotations"] == {MODEL_NAME_ANNOTATION: "llama-3"}
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert len(layers) == 1
    assert layers[0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    blob = httpx.get(
        f"http://{oci_registry.host}/v2/adapters/layout/blobs/{layers[0]['digest']}"
    ).content
    raw = gzip.decompress(blob)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        files = sorted(m.name for m in tar if m.isfile())
    assert files == ["data/adapter_config.json", "data/adapter_model.safetensors"]
    config_digest = manifest["config"]["digest"]  # type: ignore[index]
    config = httpx.get(
        f"http://{oci_registry.host}/v2/adapters/layout/blobs/{config_digest}"
    ).json()
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(raw).hexdigest()]
    head = httpx.head(
        f"http://{oci_registry.host}/v2/adapters/layout/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert head.headers["Docker-Content-Digest"] == digest


def test_same_adapter_pushes_to_the_same_digest(
    oci_registry: RunningRegistry, adapter_dir: Path
) -> None:
    first = push_adapter(adapter_dir, f"{oci_registry.host}/adapters/same:a", auth=PLAIN)
    time.sleep(1.1)  # a timestamp in the tar would now differ
    second = push_adapter(adapter_dir, f"{oci_registry.host}/adapters/same:b", auth=PLAIN)
    assert first == second


def test_push_without_adapter_files_names_the_missing_one(
    oci_registry: RunningRegistry, adapter_dir: Path
) -> None:
    (adapter_dir / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterLayoutError, match=r"no adapter_model\.safetensors"):
        push_adapter(adapter_dir, f"{oci_registry.host}/adapters/missing:v1", auth=PLAIN)


def test_pull_of_unknown_tag_says_not_found(oci_registry: RunningRegistry, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        pull_adapter(f"{oci_registry.host}/adapters/nothing:v9", tmp_path, auth=PLAIN)


def test_credentials_from_docker_config_are_used(
    oci_registry_with_auth: RunningRegistry, adapter_dir: Path, tmp_path: Path
) -> None:
    secret = f"{oci_registry_with_auth.username}:{oci_registry_with_auth.password}"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "auths": {
                    oci_registry_with_auth.host: {
                        "auth": base64.b64encode(secret.encode()).decode()
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    auth = RegistryAuth(plain_http=True, docker_configs=(config,), attempts=1)
    ref = f"{oci_registry_with_auth.host}/adapters/private:v1"
    push_adapter(adapter_dir, ref, auth=auth)
    out = pull_adapter(ref, tmp_path / "pulled", auth=auth)
    assert (out / "adapter_model.safetensors").read_bytes() == (
        adapter_dir / "adapter_model.safetensors"
    ).read_bytes()


def test_several_docker_configs_are_searched_for_the_registry(
    oci_registry_with_auth: RunningRegistry, adapter_dir: Path, tmp_path: Path
) -> None:
    # One projected pull secret per adapter source: only the second knows this registry.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"auths": {"elsewhere.example": {"auth": "eDp5"}}}))
    right = tmp_path / "right.json"
    secret = f"{oci_registry_with_auth.username}:{oci_registry_with_auth.password}"
    right.write_text(
        json.dumps(
            {
                "auths": {
                    oci_registry_with_auth.host: {
                        "auth": base64.b64encode(secret.encode()).decode()
                    }
                }
            }
        )
    )
    auth = RegistryAuth(plain_http=True, docker_configs=(other, right), attempts=1)
    ref = f"{oci_registry_with_auth.host}/adapters/two-secrets:v1"
    push_adapter(adapter_dir, ref, auth=auth)
    out = pull_adapter(ref, tmp_path / "pulled", auth=auth)
    assert (out / "adapter_config.json").read_bytes() == (
        adapter_dir / "adapter_config.json"
    ).read_bytes()


def test_wrong_password_fails_with_authentication_error(
    oci_registry_with_auth: RunningRegistry, adapter_dir: Path
) -> None:
    auth = RegistryAuth(plain_http=True, username="kaito", password="wrong", attempts=1)
    with pytest.raises(AuthenticationError) as info:
        push_adapter(adapter_dir, f"{oci_registry_with_auth.host}/adapters/x:v1", auth=auth)
    assert str(info.value) == f"authentication failed for {oci_registry_with_auth.host} (HTTP 401)"


def test_missing_credentials_say_which_registry_wants_them(
    oci_registry_with_auth: RunningRegistry, adapter_dir: Path, tmp_path: Path
) -> None:
    auth = RegistryAuth(plain_http=True, docker_configs=(tmp_path / "absent.json",), attempts=1)
    with pytest.raises(AuthenticationError, match="requires credentials and none were given"):
        pull_adapter(f"{oci_registry_with_auth.host}/adapters/x:v1", tmp_path / "o", auth=auth)


def test_unreachable_registry_fails_after_retries(adapter_dir: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(
        RegistryUnreachableError, match=rf"cannot reach registry {host}.*2 attempts"
    ):
        push_adapter(adapter_dir, f"{host}/adapters/x:v1", auth=PLAIN)
    assert time.monotonic() - started < 5


def test_reference_without_registry_is_rejected(adapter_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="must name a registry"):
        push_adapter(adapter_dir, "adapter:v1", auth=PLAIN)


def test_cli_push_waits_for_the_sentinel_then_pull_restores_the_files(
    oci_registry: RunningRegistry, adapter_dir: Path, tmp_path: Path
) -> None:
    sentinel = adapter_dir / "fine_tuning_completed.txt"
    ref = f"{oci_registry.host}/adapters/sidecar:v1"
    timer = threading.Timer(0.5, sentinel.write_text, args=("done",))
    timer.start()
    started = time.monotonic()
    pushed = CliRunner().invoke(
        app,
        [
            "push",
            str(adapter_dir),
            ref,
            "--wait-for",
            str(sentinel),
            "--plain-http",
            "--base-model",
            "tiny",
        ],
    )
    timer.join()
    assert pushed.exit_code == 0, pushed.output
    assert time.monotonic() - started >= 0.5
    assert f"pushed {ref}@sha256:" in pushed.output
    pulled = CliRunner().invoke(app, ["pull", ref, str(tmp_path / "out"), "--plain-http"])
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "out" / "adapter_config.json").read_bytes() == (
        adapter_dir / "adapter_config.json"
    ).read_bytes()


def test_cli_wrong_credentials_exit_1_naming_the_registry(
    oci_registry_with_auth: RunningRegistry, adapter_dir: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "push",
            str(adapter_dir),
            f"{oci_registry_with_auth.host}/a:v1",
            "--plain-http",
            "--username",
            "kaito",
            "--password",
            "nope",
        ],
    )
    assert result.exit_code == 1
    assert f"authentication failed for {oci_registry_with_auth.host}" in result.output
