"""``fetch_files`` / ``kaito fetch-data`` against a real HTTP server on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.runtime.artifacts import (
    DownloadError,
    FetchOptions,
    ForbiddenAddressError,
    fetch_files,
)
from tests.fixtures.http_server import start_local_server, stop

BODY = b'{"messages": [{"role": "user", "content": "hi"}]}\n'
FAST = FetchOptions(allow_private=True, attempts=2, retry_delay_seconds=0.01, timeout_seconds=0.5)


class _Server:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.hosts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                outer.hits[path] = outer.hits.get(path, 0) + 1
                outer.hosts.append(self.headers.get("Host", ""))
                if path == "/data/train.jsonl":
                    self._send(200, BODY)
                elif path == "/redirect":
                    self._redirect("/data/train.jsonl")
                elif path == "/redirect-metadata":
                    self._redirect("http://169.254.169.254/latest/meta-data")
                elif path == "/redirect-loop":
                    self._redirect("/redirect-loop")
                elif path == "/empty.jsonl":
                    self._send(200, b"")
                elif path == "/slow.jsonl":
                    time.sleep(1.5)
                    self._send(200, BODY)
                elif path == "/flaky.jsonl":
                    if outer.hits[path] == 1:
                        self._send(503, b"busy")
                    else:
                        self._send(200, BODY)
                elif path == "/partial.jsonl":
                    self._send(206, BODY)
                else:
                    self._send(404, b"not found")

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = start_local_server(Handler)
        self.port = self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    stop(srv.httpd)


def test_fetches_file_named_after_url_path_without_query(server: _Server, tmp_path: Path) -> None:
    fetched = fetch_files([server.url("/data/train.jsonl?sig=abc#frag")], tmp_path, FAST)
    assert [f.path.name for f in fetched] == ["train.jsonl"]
    assert (tmp_path / "train.jsonl").read_bytes() == BODY
    assert fetched[0].size == len(BODY)
    assert not list(tmp_path.glob("*.part"))


def test_follows_redirect_to_an_allowed_address(server: _Server, tmp_path: Path) -> None:
    fetched = fetch_files([server.url("/redirect")], tmp_path, FAST)
    assert (tmp_path / "redirect").read_bytes() == BODY
    assert fetched[0].url.endswith("/redirect")
    assert server.hits["/data/train.jsonl"] == 1


def test_redirect_to_metadata_address_is_refused_even_with_allow_private(
    server: _Server, tmp_path: Path
) -> None:
    with pytest.raises(ForbiddenAddressError, match=r"169\.254\.169\.254.*metadata"):
        fetch_files([server.url("/redirect-metadata")], tmp_path, FAST)
    assert not (tmp_path / "redirect-metadata").exists()


def test_redirect_loop_stops_after_the_redirect_limit(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="more than 5 redirects"):
        fetch_files([server.url("/redirect-loop")], tmp_path, FAST)


def test_not_found_fails_without_retrying(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404, expected 200"):
        fetch_files([server.url("/missing.csv")], tmp_path, FAST)
    assert server.hits["/missing.csv"] == 1


def test_non_200_success_status_is_a_failure(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 206"):
        fetch_files([server.url("/partial.jsonl")], tmp_path, FAST)


def test_empty_body_fails_after_every_attempt(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"empty body.*after 2 attempts"):
        fetch_files([server.url("/empty.jsonl")], tmp_path, FAST)
    assert server.hits["/empty.jsonl"] == 2
    assert not (tmp_path / "empty.jsonl").exists()


def test_slow_server_times_out(server: _Server, tmp_path: Path) -> None:
    opts = FetchOptions(allow_private=True, attempts=1, timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        fetch_files([server.url("/slow.jsonl")], tmp_path, opts)
    assert time.monotonic() - started < 1.4


def test_transient_server_error_is_retried(server: _Server, tmp_path: Path) -> None:
    fetch_files([server.url("/flaky.jsonl")], tmp_path, FAST)
    assert server.hits["/flaky.jsonl"] == 2
    assert (tmp_path / "flaky.jsonl").read_bytes() == BODY


def test_loopback_is_refused_without_allow_private(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(ForbiddenAddressError, match="loopback"):
        fetch_files([server.url("/data/train.jsonl")], tmp_path, FetchOptions())
    assert server.hits == {}


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/data.csv",
        "http://192.168.0.10/data.csv",
        "http://172.16.0.1/data.csv",
        "http://[::1]/data.csv",
        "http://[fd00:ec2::254]/data.csv",
        "http://0.0.0.0/data.csv",
        "http://[::ffff:127.0.0.1]/data.csv",
        "http://localhost/data.csv",
    ],
)
def test_forbidden_literal_addresses_are_refused_before_connecting(
    url: str, tmp_path: Path
) -> None:
    with pytest.raises(ForbiddenAddressError, match="refusing to connect"):
        fetch_files([url], tmp_path, FetchOptions(attempts=1))


def test_name_resolving_to_a_private_address_is_refused(tmp_path: Path) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]

    with pytest.raises(ForbiddenAddressError, match=r"data\.example\.com \(10\.0\.0\.7\)"):
        fetch_files(["http://data.example.com/x.csv"], tmp_path, FetchOptions(), resolver=resolver)


def test_connects_to_the_checked_address_and_keeps_the_host_header(
    server: _Server, tmp_path: Path
) -> None:
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    url = f"http://data.example.com:{server.port}/data/train.jsonl"
    fetch_files([url], tmp_path, FAST, resolver=resolver)
    assert resolved == ["data.example.com"]
    assert server.hosts == [f"data.example.com:{server.port}"]


def test_only_http_and_https_are_allowed(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="only http and https"):
        fetch_files(["ftp://example.com/data.csv"], tmp_path, FAST)


def test_url_without_file_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="no file name"):
        fetch_files(["https://example.com/"], tmp_path, FAST)


def test_two_urls_with_the_same_file_name_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"both be saved as 'a\.csv'"):
        fetch_files(["https://x.example/1/a.csv", "https://y.example/2/a.csv"], tmp_path, FAST)


def test_cli_prints_each_fetched_file(server: _Server, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "fetch-data",
            server.url("/data/train.jsonl"),
            server.url("/redirect"),
            "--dest",
            str(tmp_path),
            "--allow-private",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"-> {tmp_path / 'train.jsonl'} ({len(BODY)} bytes)" in result.output
    assert f"-> {tmp_path / 'redirect'}" in result.output


def test_cli_exits_1_with_the_reason_when_a_url_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["fetch-data", "http://169.254.169.254/latest", "--dest", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "refusing to connect to 169.254.169.254" in result.output


def test_cli_exits_2_without_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_URLS", raising=False)
    result = CliRunner().invoke(app, ["fetch-data", "--dest", str(tmp_path)])
    assert result.exit_code == 2
    assert "no URLs given" in result.output


def test_cli_reads_urls_from_upstream_environment(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_URLS", server.url("/data/train.jsonl"))
    monkeypatch.setenv("DATA_VOLUME_PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["fetch-data", "--allow-private"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "train.jsonl").read_bytes() == BODY
