"""``kaito fetch-data`` against hostile servers and addresses (issue 16, item 6).

A server that sends too much, or drips bytes forever, must be cut off by ``--max-bytes`` and by
``--timeout`` (a deadline per file, not per read), leaving no partial file; metadata endpoints
stay refused under ``--allow-private``, also when an IPv6 address carries them.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.runtime.artifacts import FetchOptions, ForbiddenAddressError, fetch_files
from kaito.runtime.artifacts.download import forbidden_reason
from tests.fixtures.http_server import start_local_server, stop


class _Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/big.jsonl":  # no Content-Length: only counting can stop it
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(800):  # 50 MiB
                    self.wfile.write(b"x" * (64 << 10))
            except OSError:
                pass
            return
        if self.path == "/declared.jsonl":
            self.send_response(200)
            self.send_header("Content-Length", str(50 << 30))
            self.end_headers()
            return
        if self.path == "/drip.jsonl":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def hostile() -> Iterator[str]:
    httpd = start_local_server(_Hostile)
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        stop(httpd)


@pytest.fixture
def silent() -> Iterator[str]:
    """A TCP server that accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not done.is_set():
            try:
                accepted.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        done.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        sock.close()


def _fetch(url: str, dest: Path, *extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["fetch-data", url, "--dest", str(dest), "--allow-private", "--retry-delay", "0.1", *extra],
    )
    return result.exit_code, result.output, time.monotonic() - started


def test_max_bytes_stops_the_download_and_deletes_the_partial_file(
    hostile: str, tmp_path: Path
) -> None:
    code, output, _ = _fetch(f"{hostile}/big.jsonl", tmp_path, "--max-bytes", str(1 << 20))
    assert code == 1
    assert "larger than --max-bytes" in output
    assert list(tmp_path.iterdir()) == []


def test_declared_size_above_max_bytes_is_refused_at_once(hostile: str, tmp_path: Path) -> None:
    code, output, elapsed = _fetch(f"{hostile}/declared.jsonl", tmp_path)
    assert code == 1
    assert "more than --max-bytes" in output
    assert elapsed < 5
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_a_deadline_for_the_whole_file(hostile: str, tmp_path: Path) -> None:
    code, output, elapsed = _fetch(
        f"{hostile}/drip.jsonl", tmp_path, "--timeout", "2", "--attempts", "3"
    )
    assert code == 1
    assert "did not arrive within 2 s" in output
    assert elapsed < 5, elapsed
    assert list(tmp_path.iterdir()) == []


def test_timeout_bounds_a_server_that_never_answers(silent: str, tmp_path: Path) -> None:
    code, _output, elapsed = _fetch(f"{silent}/x.jsonl", tmp_path, "--timeout", "1")
    assert code == 1
    assert elapsed < 4, elapsed
    assert list(tmp_path.iterdir()) == []


def _teredo(client: str) -> str:
    obfuscated = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | obfuscated))


METADATA = [
    "169.254.169.254",
    "168.63.129.16",
    "100.100.100.200",
    "169.254.170.2",
    "192.0.0.192",
    "fd00:ec2::254",
    "fd00:ec2::23",
    "fd00:ec2::123",
    "::ffff:169.254.169.254",
    "::ffff:168.63.129.16",
    "::169.254.169.254",
    "64:ff9b::169.254.169.254",
    "64:ff9b::168.63.129.16",
    "64:ff9b::100.100.100.200",
    "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::",
    "2002:a83f:8110::1",
    "2002:6464:64c8::",
    _teredo("169.254.169.254"),
    _teredo("168.63.129.16"),
]


@pytest.mark.parametrize("address", METADATA)
def test_allow_private_never_unlocks_metadata(address: str, tmp_path: Path) -> None:
    ip = ipaddress.ip_address(address)
    assert forbidden_reason(ip, allow_private=True) is not None
    host = f"[{address}]" if ip.version == 6 else address
    with pytest.raises(ForbiddenAddressError):
        fetch_files([f"http://{host}/x.jsonl"], tmp_path, FetchOptions(allow_private=True))
    with pytest.raises(ForbiddenAddressError):  # also when a host name resolves there
        fetch_files(
            ["http://data.example/x.jsonl"],
            tmp_path,
            FetchOptions(allow_private=True),
            resolver=lambda host, port: [address],
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("address", "private_only"),
    [
        ("127.0.0.1", True),
        ("10.0.0.5", True),
        ("fd12:3456::1", True),
        ("2002:0a00:0005::", True),  # 6to4 of 10.0.0.5: private, like 10.0.0.5
        ("64:ff9b::10.0.0.5", True),
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_allow_private_still_unlocks_ordinary_private_addresses(
    address: str, private_only: bool
) -> None:
    ip = ipaddress.ip_address(address)
    assert forbidden_reason(ip, allow_private=True) is None
    assert (forbidden_reason(ip, allow_private=False) is not None) is private_only
