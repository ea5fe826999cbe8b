"""Which network destinations user-supplied URLs may point at (server-side request forgery guard).

Tuning input URLs are fetched from inside the cluster, next to the cloud's metadata service, the
Kubernetes API and other tenants' services. Admission (upstream §1.5) rejects URLs that name such
places directly; this module is that policy, shared by the webhook, ``kaito validate`` and the
tuning data downloader (which re-checks the address it actually connects to, since DNS can change).

What is refused:

- schemes other than http/https, and URLs an HTTP client could read differently than we do
  (whitespace, backslashes, several ``@``, percent signs in the host);
- loopback, private (RFC 1918, unique-local), link-local, unspecified, carrier-grade NAT,
  multicast and other non-global addresses, however written: ``127.0.0.1``, ``[::1]``,
  ``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``, NAT64/6to4 embeddings;
- cloud metadata endpoints (``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``,
  Azure's ``168.63.129.16``…) and their names (``metadata.google.internal``…);
- names that by definition stay local: ``localhost`` and ``*.localhost``, ``*.local``,
  ``*.internal``, ``*.home.arpa``, cluster service names (``*.svc``, ``*.cluster.local``) and
  single-label names (resolved through the pod's search domains);
- with a resolver (DNS available), names that resolve to any refused address. A name that cannot
  be resolved is not refused here: the downloader checks the address it connects to.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str], Iterable[str]]
"""Maps a host name to the IP address strings it resolves to; raises ``OSError`` when it cannot."""

ALLOWED_SCHEMES = ("http", "https")

MSG_INVALID = "invalid data source URL"
MSG_SCHEME = "data source URL must use HTTP or HTTPS"
MSG_LOCAL_NAME = "data source URL must not target a local or metadata endpoint"
MSG_ADDRESS = "data source URL must not target a loopback, private, or link-local address"

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, OCI, OpenStack instance metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure WireServer / host agent (a public address)
        "100.100.100.200",  # Alibaba Cloud metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS VPC DNS over IPv6
    )
)

LOCAL_HOSTNAMES: frozenset[str] = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "metadata",
        "metadata.google.internal",
        "metadata.google",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.azure.com",
        "kubernetes",
        "kubernetes.default",
    }
)

LOCAL_SUFFIXES: tuple[str, ...] = (
    ".localhost",
    ".localdomain",
    ".cluster.local",
    ".svc",
    ".local",
    ".internal",
    ".home.arpa",
)

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# RFC 1918 and IPv6 unique-local ranges: "private" in the narrow sense users know.
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_FORBIDDEN_URL_CHARS = re.compile(r"[\s\\\x00-\x1f\x7f]")


class UrlPolicyError(ValueError):
    """The URL or address is not an acceptable download source; the message says why."""


def _parse_ipv4_part(part: str) -> int | None:
    """One dotted part by inet_aton rules (0x hex, 0 octal, decimal); None if not numeric."""
    if not part:
        return None
    if part[:2].lower() == "0x":
        digits, base = part[2:], 16
        if digits == "":
            return 0
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """Read ``host`` as an IPv4 address in any form resolvers accept (``2130706433``, ``0x7f.1``).

    Returns:
        The address, or None when ``host`` is a name rather than a number.

    Raises:
        UrlPolicyError: the host ends in a number but is not a valid IPv4 address
            (``1.2.3.256``); URL parsers reject such hosts.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]
    if not parts or _parse_ipv4_part(parts[-1]) is None:
        return None
    numbers = [_parse_ipv4_part(p) for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise UrlPolicyError(MSG_INVALID)
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise UrlPolicyError(MSG_INVALID)
    number = values[-1]
    for index, value in enumerate(values[:-1]):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def parse_host_address(host: str) -> IPAddress | None:
    """The IP address a URL host denotes literally (IPv6 with or without zone, loose IPv4).

    Returns:
        The address, or None when ``host`` is a name.

    Raises:
        UrlPolicyError: the host looks numeric but is malformed.
    """
    bare = host.strip("[]")
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare.split("%", 1)[0])
        except ValueError as exc:
            raise UrlPolicyError(MSG_INVALID) from exc
    return parse_ipv4_loose(bare)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64_NETWORKS) or (
        address in _IPV4_COMPATIBLE and int(address) > 1
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_block_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be downloaded from (e.g. ``"a loopback address"``), or None."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = address_block_reason(embedded)
            return f"an address embedding {embedded}, {inner}" if inner else None
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified or address in _THIS_NETWORK, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address in _SHARED_ADDRESS_SPACE, "a carrier-grade NAT (shared) address"),
        (address.is_multicast, "a multicast address"),
        (any(address in net for net in _PRIVATE_NETWORKS), "a private address"),
        (not address.is_global, "a reserved, non-public address"),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return None


def hostname_block_reason(host: str) -> str | None:
    """Why the name ``host`` is refused without resolving it, or None."""
    name = host.lower().rstrip(".")
    if name in LOCAL_HOSTNAMES:
        return f"{name} is a local or metadata host name"
    for suffix in LOCAL_SUFFIXES:
        if name.endswith(suffix):
            return f"names ending in {suffix} stay inside the local network or cluster"
    if "." not in name:
        return "single-label names resolve inside the cluster or local network"
    return None


def check_address(address: str | IPAddress) -> None:
    """Refuse a connection target (used by the downloader on the address it actually reached).

    Raises:
        UrlPolicyError: the address is loopback, private, link-local, metadata, ...
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    reason = address_block_reason(ip)
    if reason is not None:
        prefix = MSG_LOCAL_NAME if ip in METADATA_ADDRESSES else MSG_ADDRESS
        raise UrlPolicyError(f"{prefix} ({ip} is {reason})")


def url_host(url: str) -> str:
    """The normalised host of an http(s) URL, after the syntax checks of :func:`check_data_url`.

    Raises:
        UrlPolicyError: not a well-formed http(s) URL with a host.
    """
    if not url or _FORBIDDEN_URL_CHARS.search(url):
        raise UrlPolicyError(MSG_INVALID)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UrlPolicyError(MSG_INVALID) from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UrlPolicyError(MSG_SCHEME)
    host = parts.hostname
    if not host or parts.netloc.count("@") > 1:
        raise UrlPolicyError(MSG_INVALID)
    if "%" in host and not (":" in host and parts.netloc.find("[") >= 0):
        raise UrlPolicyError(MSG_INVALID)
    # Resolvers apply Unicode compatibility mapping (full-width digits become ASCII ones).
    return unicodedata.normalize("NFKC", host).lower()


def check_data_url(url: str, resolver: Resolver | None = None) -> None:
    """Apply the download-source policy to ``url``.

    Args:
        url: the URL as written by the user.
        resolver: when given (DNS is available), names are resolved and every address checked;
            names that fail to resolve pass (the downloader re-checks).

    Raises:
        UrlPolicyError: the URL is malformed or targets a refused destination; the message starts
            with upstream's wording and names the offending address or name.
    """
    host = url_host(url)
    address = parse_host_address(host)
    if address is not None:
        check_address(address)
        return
    reason = hostname_block_reason(host)
    if reason is not None:
        raise UrlPolicyError(f"{MSG_LOCAL_NAME} ({reason})")
    if resolver is None:
        return
    try:
        resolved = list(resolver(host))
    except (OSError, UnicodeError):
        return
    for text in resolved:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        why = address_block_reason(ip)
        if why is not None:
            raise UrlPolicyError(f"{MSG_ADDRESS} (host {host} resolves to {ip}, {why})")
