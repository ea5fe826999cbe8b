"""``kaito pull`` against a hostile registry (issue 16, items 4, 5, 6 and 7).

A small fake registry on loopback serves whatever manifest and blobs a test gives it, optionally
behind a ``Bearer`` challenge whose token service runs on another loopback address (127.0.0.2 is
another host as far as the client can tell). Every test states what a hostile registry tries and
checks that the pull refuses it, sends no secret anywhere else, writes nothing outside the target
folder and leaves nothing behind.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.runtime.artifacts import (
    AdapterLayoutError,
    ArtifactError,
    AuthenticationError,
    PullLimits,
    RegistryAuth,
    parse_manifest,
    pull_adapter,
    pull_adapter_private,
)
from kaito.runtime.artifacts.oci import LAYER_MEDIA_TYPE, AdapterRegistry

USER, PASSWORD = "alice", "top-secret-pass"
GOOD_TOKEN = "good-token"
CONFIG_JSON = b'{"r": 8, "peft_type": "LORA"}'
WEIGHTS = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"w" * 64
PLAIN = RegistryAuth(plain_http=True, attempts=1, backoff_seconds=0.01, timeout_seconds=5)


def layer_bytes(members: list[tuple[str, bytes]], *, compress: bool = True) -> bytes:
    """A tar (gzipped unless told) holding ``members`` as regular files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def adapter_layer() -> bytes:
    return layer_bytes(
        [("data/adapter_config.json", CONFIG_JSON), ("data/adapter_model.safetensors", WEIGHTS)]
    )


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_for(*blobs: bytes, sizes: list[int] | None = None) -> bytes:
    layers = [
        {
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": digest_of(blob),
            "size": (sizes[i] if sizes else len(blob)),
        }
        for i, blob in enumerate(blobs)
    ]
    return json.dumps({"schemaVersion": 2, "layers": layers}).encode()


@dataclass
class FakeRegistry:
    """What the fake registry serves and what it saw."""

    manifest: bytes = b"{}"
    blobs: dict[str, bytes] = field(default_factory=dict)
    blob_stream: Callable[[BaseHTTPRequestHandler], None] | None = None
    """Answers every blob request itself (bodies larger than declared, slow drips)."""
    realm: str | None = None
    """With a realm, demand ``Bearer GOOD_TOKEN`` and challenge with this realm."""
    authorizations: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.server_address[1]}"


class TokenService:
    """A token endpoint recording every Authorization header it receives."""

    def __init__(self, address: str) -> None:
        self.seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.seen.append(self.headers.get("Authorization", ""))
                body = json.dumps({"token": GOOD_TOKEN}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((address, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(state: FakeRegistry) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization", "")
            state.authorizations.append(authorization)
            if state.realm and authorization != f"Bearer {GOOD_TOKEN}":
                challenge = f'Bearer realm="{state.realm}",service="fake",scope="repository:a:pull"'
                self._send(401, b"{}", {"WWW-Authenticate": challenge})
                return
            if "/manifests/" in self.path:
                self._send(200, state.manifest, {"Content-Type": LAYER_MEDIA_TYPE})
                return
            if "/blobs/" in self.path:
                if state.blob_stream is not None:
                    state.blob_stream(self)
                    return
                blob = state.blobs.get(self.path.rsplit("/", 1)[-1])
                self._send(200 if blob is not None else 404, blob or b"{}")
                return
            self._send(404, b"{}")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    state = FakeRegistry()
    state.server = _serve(state)
    try:
        yield state
    finally:
        state.server.shutdown()
        state.server.server_close()


def serve_adapter(registry: FakeRegistry, *blobs: bytes) -> None:
    registry.blobs = {digest_of(b): b for b in blobs}
    registry.manifest = manifest_for(*blobs)


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# -- item 4: credentials only to the registry's own token service ----------------------------------


def test_bearer_realm_on_another_host_never_receives_the_credentials(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    elsewhere = TokenService("127.0.0.2")
    try:
        registry.realm = elsewhere.url
        serve_adapter(registry, adapter_layer())
        auth = RegistryAuth(
            username=USER, password=PASSWORD, plain_http=True, attempts=1, timeout_seconds=5
        )
        with pytest.raises(AuthenticationError, match="not the registry's host"):
            pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=auth)
        assert elsewhere.seen == []
    finally:
        elsewhere.close()
    assert not (tmp_path / "out").exists()


def test_bearer_realm_on_the_registry_host_gets_the_credentials(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    own = TokenService("127.0.0.1")
    try:
        registry.realm = own.url
        serve_adapter(registry, adapter_layer())
        auth = RegistryAuth(
            username=USER, password=PASSWORD, plain_http=True, attempts=1, timeout_seconds=5
        )
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=auth)
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        assert own.seen == [f"Basic {basic}"]
    finally:
        own.close()
    assert (tmp_path / "out" / "adapter_config.json").read_bytes() == CONFIG_JSON


@pytest.mark.parametrize(
    ("registry_host", "plain_http", "trusted", "realm", "allowed"),
    [
        ("reg.example", False, (), "https://reg.example/token", True),
        ("reg.example:5000", False, (), "https://reg.example:5001/token", True),
        ("reg.example", False, (), "http://reg.example/token", False),  # downgrade
        ("reg.example", True, (), "http://reg.example/token", True),
        ("reg.example", False, (), "https://auth.evil.example/token", False),
        ("reg.example", False, (), "https://reg.example.evil.example/token", False),
        ("reg.example", False, (), "https://evil.example/reg.example", False),
        ("reg.example", False, ("auth.example",), "https://auth.example/token", True),
        ("reg.example", False, ("auth.example",), "http://auth.example/token", False),
        ("reg.example", True, ("auth.example",), "http://auth.example/token", False),
        ("registry-1.docker.io", False, (), "https://auth.docker.io/token", True),
        ("registry-1.docker.io", False, (), "http://auth.docker.io/token", False),
        ("reg.example", False, (), "ftp://reg.example/token", False),
        ("reg.example", False, (), "file:///etc/passwd", False),
        ("reg.example", False, (), "", False),
        ("reg.example", False, (), None, False),
        ("reg.example", False, (), "https://user@evil.example/@reg.example", False),
    ],
)
def test_token_service_policy(
    registry_host: str,
    plain_http: bool,
    trusted: tuple[str, ...],
    realm: str | None,
    allowed: bool,
) -> None:
    access = RegistryAuth(plain_http=plain_http, trusted_token_hosts=trusted)
    client = AdapterRegistry(registry_host, access)
    assert (client.token_service_refusal(realm) is None) is allowed


def test_cli_trust_token_host_is_passed_through(registry: FakeRegistry, tmp_path: Path) -> None:
    elsewhere = TokenService("127.0.0.2")
    try:
        registry.realm = elsewhere.url
        serve_adapter(registry, adapter_layer())
        result = CliRunner().invoke(
            app,
            [
                *("pull", f"{registry.host}/a:v1", str(tmp_path / "out"), "--plain-http"),
                *("-u", USER, "-p", PASSWORD, "--attempts", "1"),
                *("--trust-token-host", "127.0.0.2"),
            ],
        )
        # Trusted, but over plain http: still refused, and nothing was sent.
        assert result.exit_code == 1, result.output
        assert "must use https" in result.output
        assert elsewhere.seen == []
    finally:
        elsewhere.close()


# -- item 5: no writes through planted links ---------------------------------------------------


def test_planted_symlink_in_the_target_is_replaced_not_written_through(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    serve_adapter(registry, adapter_layer())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "adapter_config.json").symlink_to(victim)
    (dest / "adapter_model.safetensors").symlink_to(tmp_path / "not-there-yet")
    pull_adapter(f"{registry.host}/a:v1", dest, auth=PLAIN)
    assert victim.read_text() == "precious"
    assert not (tmp_path / "not-there-yet").exists()
    assert not (dest / "adapter_config.json").is_symlink()
    assert (dest / "adapter_config.json").read_bytes() == CONFIG_JSON
    assert leftovers(dest) == ["adapter_config.json", "adapter_model.safetensors"]


def test_target_that_is_a_symlink_is_refused(registry: FakeRegistry, tmp_path: Path) -> None:
    serve_adapter(registry, adapter_layer())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(AdapterLayoutError, match="symbolic link"):
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=PLAIN)
    assert leftovers(elsewhere) == []


def test_private_pull_folder_is_unpredictable_and_owner_only(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    serve_adapter(registry, adapter_layer())
    first = pull_adapter_private(f"{registry.host}/a:v1", parent=tmp_path, auth=PLAIN)
    second = pull_adapter_private(f"{registry.host}/a:v1", parent=tmp_path, auth=PLAIN)
    assert first != second
    assert first.parent == tmp_path
    assert (first.stat().st_mode & 0o777) == 0o700
    assert (first / "adapter_model.safetensors").read_bytes() == WEIGHTS
    registry.blobs = {}
    with pytest.raises(ArtifactError):
        pull_adapter_private(f"{registry.host}/a:v1", parent=tmp_path, auth=PLAIN)
    assert sorted(tmp_path.iterdir()) == sorted([first, second])


# -- item 6: size, count and time caps; a refused pull leaves nothing ------------------------------


def test_decompression_bomb_is_refused_and_cleaned_up(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    bomb = layer_bytes(
        [
            ("data/adapter_config.json", CONFIG_JSON),
            ("data/adapter_model.safetensors", b"\0" * (8 << 20)),
        ]
    )
    assert len(bomb) < 64 << 10
    serve_adapter(registry, bomb)
    dest = tmp_path / "out"
    with pytest.raises(ArtifactError, match="expands to more than"):
        pull_adapter(
            f"{registry.host}/a:v1", dest, auth=PLAIN, limits=PullLimits(max_bytes=1 << 20)
        )
    assert not dest.exists()


def test_refused_pull_leaves_an_existing_folder_as_it_was(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    layer = layer_bytes(
        [("data/adapter_config.json", CONFIG_JSON)] + [(f"data/f{i}", b"x") for i in range(50)]
    )
    serve_adapter(registry, layer)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="more than 10 entries"):
        pull_adapter(f"{registry.host}/a:v1", dest, auth=PLAIN, limits=PullLimits(max_files=10))
    assert leftovers(dest) == ["keep.txt"]
    # Missing adapter files after a full extraction: also nothing left behind.
    serve_adapter(registry, layer_bytes([("data/adapter_config.json", CONFIG_JSON)]))
    with pytest.raises(AdapterLayoutError, match=r"adapter_model\.safetensors"):
        pull_adapter(f"{registry.host}/a:v1", dest, auth=PLAIN)
    assert leftovers(dest) == ["keep.txt"]


def test_layer_larger_than_declared_stops_at_the_declared_size(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    sent = {"bytes": 0}
    chunk = b"z" * (64 << 10)

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            for _ in range(3200):  # 200 MiB if nobody stops reading
                handler.wfile.write(chunk)
                sent["bytes"] += len(chunk)
        except OSError:
            pass

    registry.blob_stream = endless
    registry.manifest = manifest_for(b"0123456789")
    started = time.monotonic()
    with pytest.raises(ArtifactError, match="larger than its declared size of 10 bytes"):
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=PLAIN)
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    assert sent["bytes"] < 32 << 20
    assert not (tmp_path / "out").exists()


def test_layer_shorter_than_declared_is_refused(registry: FakeRegistry, tmp_path: Path) -> None:
    layer = adapter_layer()
    registry.blobs = {digest_of(layer): layer}
    registry.manifest = manifest_for(layer, sizes=[len(layer) + 10])
    with pytest.raises(ArtifactError, match="not its declared"):
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=PLAIN)


def test_layers_declaring_more_than_the_limit_are_refused_before_download(
    registry: FakeRegistry, tmp_path: Path
) -> None:
    registry.manifest = manifest_for(b"x", sizes=[50 << 30])
    with pytest.raises(ArtifactError, match="more than the limit"):
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=PLAIN)
    assert registry.authorizations == [""]  # the manifest only


def test_slow_drip_layer_hits_the_layer_deadline(registry: FakeRegistry, tmp_path: Path) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        try:
            for _ in range(1000):
                handler.wfile.write(b"a")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    registry.blob_stream = drip
    registry.manifest = manifest_for(b"a" * 1000)
    started = time.monotonic()
    with pytest.raises(ArtifactError, match="did not arrive within 1 s"):
        pull_adapter(
            f"{registry.host}/a:v1",
            tmp_path / "out",
            auth=PLAIN,
            limits=PullLimits(layer_seconds=1),
        )
    assert time.monotonic() - started < 5


def test_huge_pax_header_is_refused(registry: FakeRegistry, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("data/adapter_config.json")
        info.pax_headers = {"comment": "x" * (2 << 20)}
        info.size = len(CONFIG_JSON)
        tar.addfile(info, io.BytesIO(CONFIG_JSON))
    serve_adapter(registry, gzip.compress(buffer.getvalue()))
    with pytest.raises(AdapterLayoutError, match="tar header"):
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=PLAIN)
    assert not (tmp_path / "out").exists()


# -- item 7: malformed manifests are clear errors, never tracebacks --------------------------------

DIGEST = "sha256:" + "a" * 64
MALFORMED: list[tuple[str, bytes]] = [
    ("not JSON", b"<html>nope</html>"),
    ("empty", b""),
    ("a list", b"[1, 2]"),
    ("a string", b'"manifest"'),
    ("layers a string", b'{"layers": "data"}'),
    ("layers null", b'{"layers": null}'),
    ("layers missing", b'{"schemaVersion": 2}'),
    ("layer not an object", b'{"layers": [1]}'),
    ("layer without digest", b'{"layers": [{"mediaType": "x", "size": 1}]}'),
    (
        "digest traversal",
        json.dumps(
            {"layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": "sha256:../../x", "size": 1}]}
        ).encode(),
    ),
    (
        "size a string",
        json.dumps(
            {"layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": DIGEST, "size": "1"}]}
        ).encode(),
    ),
    (
        "size negative",
        json.dumps(
            {"layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": DIGEST, "size": -1}]}
        ).encode(),
    ),
    (
        "size a boolean",
        json.dumps(
            {"layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": DIGEST, "size": True}]}
        ).encode(),
    ),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
    ("invalid UTF-8", b'{"layers": "\xff\xfe"}'),
]


@pytest.mark.parametrize(("case", "body"), MALFORMED, ids=[c for c, _ in MALFORMED])
def test_malformed_manifest_exits_1_naming_the_reference(
    registry: FakeRegistry, tmp_path: Path, case: str, body: bytes
) -> None:
    registry.manifest = body
    ref = f"{registry.host}/a:v1"
    result = CliRunner().invoke(
        app, ["pull", ref, str(tmp_path / "out"), "--plain-http", "--attempts", "1"]
    )
    assert result.exit_code == 1, (case, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "kaito pull: error:" in result.output
    assert ref in result.output
    assert not (tmp_path / "out").exists()


def test_oversized_manifest_is_refused(registry: FakeRegistry, tmp_path: Path) -> None:
    registry.manifest = b'{"layers": [], "pad": "' + b"x" * (5 << 20) + b'"}'
    with pytest.raises(ArtifactError, match="larger than"):
        pull_adapter(f"{registry.host}/a:v1", tmp_path / "out", auth=PLAIN)


def test_registry_error_bodies_of_any_shape_give_a_clean_error() -> None:
    client = AdapterRegistry("reg.example", RegistryAuth())

    class Reply:
        status_code = 500

        def __init__(self, body: bytes) -> None:
            self.body = body

        def iter_content(self, size: int) -> Iterator[bytes]:
            yield self.body

    for body in (b"[1]", b'{"errors": "x"}', b'{"errors": [1, {"message": 2}]}', b"\xff", b""):
        with pytest.raises(ArtifactError, match="HTTP 500"):
            client.check(Reply(body), "doing it")  # type: ignore[arg-type]


def test_parse_manifest_keeps_well_formed_layers() -> None:
    body = manifest_for(b"abc")
    (layer,) = parse_manifest(body, "r/a:v1")
    assert layer["digest"] == digest_of(b"abc")
