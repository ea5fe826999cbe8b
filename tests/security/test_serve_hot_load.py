"""Issue 16 item 3: hot-load reads only the adapters folder, pulls only from allowed registries.

Before the fix ``/v1/load_lora_adapter`` loaded any folder on the machine, pulled anything that
was not a folder from the registry it named (Docker Hub for a plain path), told missing paths from
forbidden ones, and ran pulls on the threads that also tokenise chat requests.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kaito.runtime.inference import errors
from kaito.runtime.inference.adapters import AdapterSources, HotLoadPolicy, looks_like_oci_reference
from tests.security.conftest import BASE, serving


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every registry request the server tries; none is sent."""
    from kaito.runtime.artifacts import RegistryUnreachableError, oci

    tried: list[str] = []

    def record(self: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        tried.append(url)
        raise RegistryUnreachableError(f"test: no network for {url}")

    monkeypatch.setattr(oci.AdapterRegistry, "do_request", record)
    return tried


def _load(client: Any, name: str, path: str) -> Any:
    return client.post("/v1/load_lora_adapter", json={"lora_name": name, "lora_path": path})


def test_hot_load_reads_only_inside_the_adapters_folder_and_hides_what_exists(
    tiny_model_dir: Path, adapters_dir: Path, lora_dir: Path, tmp_path: Path, connections: list[str]
) -> None:
    (adapters_dir / "escape").symlink_to(lora_dir, target_is_directory=True)
    (adapters_dir / "empty").mkdir()
    refused = [
        str(lora_dir),  # a real adapter outside the folder
        str(adapters_dir / "escape"),  # a symlink out of it
        "escape",
        str(adapters_dir / ".." / adapters_dir.name / "facts"),  # `..`, even when it comes back
        "../adapters/facts",
        str(adapters_dir / "missing"),
        "missing",
        str(adapters_dir / "empty"),  # no adapter_config.json
        str(adapters_dir),
        "/etc",
        "/nonexistent/path",
        "some/plain/path",  # used to be pulled from Docker Hub
        "library/alpine",
        "/etc\x00x",
        "",
    ]
    with serving(tiny_model_dir, adapters_dir) as client:
        messages = set()
        for index, path in enumerate(refused):
            response = _load(client, f"a{index}", path)
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            if path:
                messages.add(error["message"].replace(repr(path), "PATH"))
        assert len(messages) == 1, messages  # one answer: nothing tells which paths exist
        names = {m["id"] for m in client.get("/v1/models").json()["data"]}
        assert not {f"a{index}" for index in range(len(refused))} & names
        assert _load(client, "by-path", str(adapters_dir / "facts")).status_code == 200
        assert _load(client, "by-name", "facts").status_code == 200
        answer = client.post(
            "/v1/completions", json={"model": "by-name", "prompt": "hi", "max_tokens": 2}
        )
        assert answer.status_code == 200, answer.text
    assert connections == []


OCI_REFS = [
    "127.0.0.1:5000/adapters/x:v1",
    "169.254.169.254/latest/meta-data:v1",
    "[fd00:ec2::254]:80/x:v1",
    "evil.example.com/adapters/x:v1",
    "localhost/x:v1",
    "metadata.google.internal/x:v1",
]


def test_oci_hot_load_is_off_unless_a_registry_is_allowed(
    tiny_model_dir: Path, adapters_dir: Path, connections: list[str]
) -> None:
    with serving(tiny_model_dir, adapters_dir) as client:
        for index, ref in enumerate(OCI_REFS):
            response = _load(client, f"oci{index}", ref)
            assert response.status_code == 400, (ref, response.text)
    assert connections == []


async def test_allowed_registries_still_never_reach_metadata_or_private_addresses(
    tmp_path: Path, connections: list[str]
) -> None:
    answers = {
        "registry.example.com": ["93.184.216.34"],
        "rebound.example.com": ["10.0.0.7"],
        "meta.example.com": ["169.254.169.254"],
        "v6meta.example.com": ["fd00:ec2::254"],
    }

    def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    every = frozenset(
        {*answers, "127.0.0.1:5000", "169.254.169.254", "localhost", "[fd00:ec2::254]:80"}
    )
    strict = AdapterSources(HotLoadPolicy(tmp_path, registries=every), resolver=resolve)
    lax = AdapterSources(
        HotLoadPolicy(tmp_path, registries=every, allow_private_registries=True), resolver=resolve
    )
    for ref in [
        "rebound.example.com/x:v1",
        "meta.example.com/x:v1",
        "v6meta.example.com/x:v1",
        "127.0.0.1:5000/x:v1",
        "169.254.169.254/x:v1",
        "localhost/x:v1",
        "[fd00:ec2::254]:80/x:v1",
    ]:
        with pytest.raises(errors.AdapterError, match="is not available"):
            await strict.locate(ref)
    for ref in ["meta.example.com/x:v1", "v6meta.example.com/x:v1", "169.254.169.254/x:v1"]:
        with pytest.raises(errors.AdapterError, match="is not available"):
            await lax.locate(ref)
    assert connections == []
    # An allowed public registry is contacted (and here answers nothing).
    with pytest.raises(errors.AdapterError, match="cannot pull adapter"):
        await strict.locate("registry.example.com/x:v1")
    assert connections
    assert all(url.startswith("https://registry.example.com/") for url in connections)


def test_reference_or_path_is_decided_by_syntax_alone() -> None:
    for ref in ["myacr.azurecr.io/a/b:v1", "localhost:5000/a:v1", "localhost/a", "host:80/a"]:
        assert looks_like_oci_reference(ref), ref
    for path in ["facts", "sub/facts", "/mnt/adapter/facts", "./facts", "library/alpine", ""]:
        assert not looks_like_oci_reference(path), path


def test_hot_loads_waiting_on_a_silent_registry_leave_chat_fast(
    tiny_model_dir: Path, adapters_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kaito.runtime import artifacts
    from kaito.runtime.inference import adapters

    release = threading.Event()
    started: list[str] = []

    def silent_registry(ref: str, **kwargs: Any) -> Path:
        started.append(ref)
        release.wait(20)
        raise artifacts.RegistryUnreachableError("test: the registry never answered")

    monkeypatch.setattr(adapters, "_system_resolve", lambda host, port: ["93.184.216.34"])
    monkeypatch.setattr(artifacts, "pull_adapter_private", silent_registry)
    flags = ["--kaito-adapter-registry", "registry.example.com", "--kaito-adapter-pulls", "2"]
    flags += ["--kaito-adapter-pull-timeout", "3"]
    chat = {"model": BASE, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    try:
        with (
            serving(tiny_model_dir, adapters_dir, *flags) as client,
            ThreadPoolExecutor(10) as pool,
        ):
            assert client.post("/v1/chat/completions", json=chat).status_code == 200  # warm
            loads = [
                pool.submit(_load, client, f"slow{i}", f"registry.example.com/a{i}:v1")
                for i in range(10)
            ]
            time.sleep(0.5)
            begin = time.monotonic()
            answer = client.post("/v1/chat/completions", json=chat)
            took = time.monotonic() - begin
            assert answer.status_code == 200, answer.text
            assert took < 2.0, f"chat took {took:.1f} s while hot-loads hung"
            statuses = sorted(future.result(timeout=30).status_code for future in loads)
            assert statuses == [400, 400] + [429] * 8, statuses
            assert len(started) == 2
    finally:
        release.set()
