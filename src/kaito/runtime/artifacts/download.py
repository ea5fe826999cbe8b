"""The tuning Job's data downloader: fetch dataset URLs into a folder, safely.

A Workspace names its training data by URL, and the operator runs this inside the cluster, so a
careless (or hostile) URL must not reach the node's cloud metadata service, the kubelet or other
private services. Every hop is checked on the address actually connected to: the host name is
resolved once, every resolved address is checked, and the request goes to that IP (with the
original ``Host`` header and TLS server name), so DNS cannot answer differently between check and
connect. Redirects are followed by hand and each target is checked the same way.

The rest follows upstream's downloader (reference §2.10): http and https only, each file named
after the last segment of the URL path (no query or fragment), success only with HTTP 200 and a
non-empty body, a few attempts with a pause between them.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from kaito.runtime.artifacts.errors import DownloadError, ForbiddenAddressError

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
# Addresses no flag may unlock: instance metadata and host agent endpoints.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure IMDS, GCP, OpenStack, Oracle, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure WireServer / host agent
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
METADATA_NETWORKS = (
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS IPv6 IMDS (::254), DNS, NTP (::23, ::123)
)
# IPv6 ranges that carry an IPv4 address in their low 32 bits (NAT64, RFC 6052 and 8215).
_NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
DEFAULT_MAX_BYTES = 10 * 1024**3
DEFAULT_TIMEOUT_SECONDS = 1800.0
_READ_TIMEOUT_SECONDS = 30.0
_RETRIABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 1 << 16
_PART_SUFFIX = ".part"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class FetchOptions:
    """How hard to try and which addresses are acceptable."""

    allow_private: bool = False
    """Allow loopback and private addresses (tests, in-cluster mirrors); metadata stays banned."""
    attempts: int = 3
    """Tries per file (upstream: 3)."""
    retry_delay_seconds: float = 2.0
    """Pause before the second try; doubled after each further failure."""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    """Deadline for each file, all attempts, redirects and retry pauses together."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest file accepted; a bigger one is stopped and its partial file deleted."""
    max_redirects: int = 5
    """Redirect hops followed per try."""


@dataclass(frozen=True)
class FetchedFile:
    """One downloaded file."""

    url: str
    path: Path
    size: int


class _RetriableError(DownloadError):
    """A failure worth another try (network trouble, 5xx, empty body)."""


class _DeadlineError(DownloadError):
    """The file's deadline passed: no further try."""


def fetch_files(
    urls: Iterable[str],
    dest: Path,
    options: FetchOptions | None = None,
    *,
    resolver: Resolver | None = None,
) -> list[FetchedFile]:
    """Download every URL into ``dest``; fail unless every file arrives non-empty with HTTP 200.

    Args:
        urls: http(s) URLs; each file is named after the last segment of the URL path.
        dest: target folder (created if missing).
        options: retry, timeout and address policy.
        resolver: ``(host, port) -> [ip, ...]``; the system resolver by default.

    Raises:
        ForbiddenAddressError: a URL or redirect points to a forbidden address.
        DownloadError: a URL is unusable, or a file did not arrive after every attempt.
    """
    opts = options or FetchOptions()
    url_list = list(urls)
    if not url_list:
        raise DownloadError("no URLs to fetch")
    names: dict[str, str] = {}
    for url in url_list:
        _check_scheme(url)
        name = file_name_for(url)
        if name in names:
            raise DownloadError(f"{url} and {names[name]} would both be saved as '{name}'")
        names[name] = url
    dest.mkdir(parents=True, exist_ok=True)
    resolve = resolver or _system_resolve
    fetched = []
    read_timeout = min(opts.timeout_seconds, _READ_TIMEOUT_SECONDS)
    with httpx.Client(
        timeout=httpx.Timeout(read_timeout), follow_redirects=False, trust_env=False
    ) as client:
        for name, url in names.items():
            fetched.append(_fetch_with_retries(client, url, dest / name, opts, resolve))
    return fetched


def file_name_for(url: str) -> str:
    """The file name for ``url``: the last path segment, without query or fragment.

    Raises:
        DownloadError: the path ends without a usable name (``/``, ``.``, ``..``).
    """
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise DownloadError(f"cannot name a file after {url}: its path has no file name")
    return name


def forbidden_reason(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why the downloader must not connect to ``address``, or ``None`` when it may.

    Metadata, link-local, unspecified and multicast addresses are always refused; loopback and
    private ones unless ``allow_private``. An IPv4 address carried inside an IPv6 one
    (IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is judged as that IPv4 address too.
    """
    ip = _unmap(address)
    if ip in METADATA_ADDRESSES or any(ip in net for net in METADATA_NETWORKS):
        return "a cloud metadata address"
    for embedded in _embedded_ipv4(ip):
        reason = forbidden_reason(embedded, allow_private=allow_private)
        if reason:
            return f"{reason} (embedded in {ip})"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast:
        return "not a unicast address"
    if allow_private:
        return None
    shared = _shared_policy("address_block_reason")
    if shared is not None:
        reason = shared(ip)
        if reason:
            return reason
    if ip.is_loopback:
        return "a loopback (localhost) address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a private address"
    return None


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address routes to or stands for (NAT64, 6to4, Teredo, compat)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64_NETWORKS):
        found.append(low32)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def hostname_reason(host: str, *, allow_private: bool = False) -> str | None:
    """Why a host *name* is refused before resolving it (``localhost``, ``*.svc``...), or None."""
    if allow_private:
        return None
    policy = _shared_policy("hostname_block_reason")
    if policy is not None:
        reason: str | None = policy(host)
        return reason
    return "a local host name" if host.lower().rstrip(".") == "localhost" else None


def _shared_policy(name: str) -> Callable[[Any], str | None] | None:
    """A function of the project-wide policy in :mod:`kaito.api.addresses`, when available."""
    try:
        module = importlib.import_module("kaito.api.addresses")
    except ImportError:
        return None
    policy = getattr(module, name, None)
    return policy if callable(policy) else None


def _unmap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise DownloadError(f"{url}: only http and https URLs are allowed, not '{scheme or '?'}'")
    if not urlsplit(url).hostname:
        raise DownloadError(f"{url}: no host name")


def _fetch_with_retries(
    client: httpx.Client, url: str, target: Path, opts: FetchOptions, resolve: Resolver
) -> FetchedFile:
    delay = opts.retry_delay_seconds
    deadline = time.monotonic() + opts.timeout_seconds
    for attempt in range(1, opts.attempts + 1):
        try:
            size = _fetch_once(client, url, target, opts, resolve, deadline)
            logger.info("fetched %s -> %s (%d bytes)", url, target, size)
            return FetchedFile(url=url, path=target, size=size)
        except _RetriableError as exc:
            left = deadline - time.monotonic()
            if attempt == opts.attempts or left <= delay:
                raise DownloadError(f"{exc} (gave up after {attempt} attempts)") from exc
            logger.warning("attempt %d/%d failed: %s; retrying", attempt, opts.attempts, exc)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_once(
    client: httpx.Client,
    url: str,
    target: Path,
    opts: FetchOptions,
    resolve: Resolver,
    deadline: float,
) -> int:
    current = url
    for _hop in range(opts.max_redirects + 1):
        _check_scheme(current)
        request = _pinned_request(client, current, opts, resolve)
        left = deadline - time.monotonic()
        if left <= 0:
            raise _DeadlineError(f"{url}: did not arrive within {opts.timeout_seconds:g} s")
        read = min(left, _READ_TIMEOUT_SECONDS)
        request.extensions["timeout"] = httpx.Timeout(read).as_dict()
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _RetriableError(f"{current}: timed out") from exc
        except httpx.TransportError as exc:
            raise _RetriableError(f"{current}: {exc or type(exc).__name__}") from exc
        try:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise DownloadError(f"{current}: HTTP {response.status_code} without Location")
                current = urljoin(current, location)
                continue
            if response.status_code != httpx.codes.OK:
                message = f"{current}: HTTP {response.status_code}, expected 200"
                if response.status_code in _RETRIABLE_STATUS:
                    raise _RetriableError(message)
                raise DownloadError(message)
            return _write_body(response, current, target, opts, deadline)
        finally:
            response.close()
    raise DownloadError(f"{url}: more than {opts.max_redirects} redirects")


def _pinned_request(
    client: httpx.Client, url: str, opts: FetchOptions, resolve: Resolver
) -> httpx.Request:
    """A request for ``url`` sent to a checked IP, keeping the host name for Host and TLS."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        why = hostname_reason(host, allow_private=opts.allow_private)
        if why:
            raise ForbiddenAddressError(f"{url}: refusing to connect to {host}: {why}")
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
        except OSError as exc:
            raise _RetriableError(f"{url}: cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise _RetriableError(f"{url}: {host} resolves to no address")
    for address in addresses:
        reason = forbidden_reason(address, allow_private=opts.allow_private)
        if reason:
            shown = host if literal is not None else f"{host} ({address})"
            raise ForbiddenAddressError(f"{url}: refusing to connect to {shown}: {reason}")
    ip = addresses[0]
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return client.build_request("GET", pinned, headers={"Host": host_header}, extensions=extensions)


def _write_body(
    response: httpx.Response, url: str, target: Path, opts: FetchOptions, deadline: float
) -> int:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > opts.max_bytes:
        raise DownloadError(
            f"{url}: the file is {int(declared)} bytes, more than --max-bytes {opts.max_bytes}"
        )
    partial = target.with_name(target.name + _PART_SUFFIX)
    size = 0
    try:
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            for chunk in response.iter_bytes():  # as it arrives: deadlines are kept
                size += len(chunk)
                if size > opts.max_bytes:
                    raise DownloadError(
                        f"{url}: the file is larger than --max-bytes {opts.max_bytes}"
                    )
                if time.monotonic() > deadline:
                    raise _DeadlineError(f"{url}: did not arrive within {opts.timeout_seconds:g} s")
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except httpx.TimeoutException as exc:
        partial.unlink(missing_ok=True)
        raise _RetriableError(f"{url}: timed out while reading the body") from exc
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        raise _RetriableError(f"{url}: connection broke while reading: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if size == 0:
        partial.unlink(missing_ok=True)
        raise _RetriableError(f"{url}: empty body")
    os.replace(partial, target)
    return size


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen
