"""The download-source address policy: literal addresses in every spelling, names, resolvers."""

from __future__ import annotations

import ipaddress

import pytest

from kaito.api import addresses
from kaito.api.addresses import UrlPolicyError, check_data_url

LOCAL = addresses.MSG_LOCAL_NAME
PRIVATE = addresses.MSG_ADDRESS


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        # loopback in every spelling resolvers accept
        ("http://127.0.0.1/data.csv", "(127.0.0.1 is a loopback address)"),
        ("http://127.8.9.10/", "(127.8.9.10 is a loopback address)"),
        ("http://2130706433/", "(127.0.0.1 is a loopback address)"),
        ("http://0x7f000001/", "(127.0.0.1 is a loopback address)"),
        ("http://0x7f.1/", "(127.0.0.1 is a loopback address)"),
        ("http://0177.0.0.1/", "(127.0.0.1 is a loopback address)"),
        ("http://127.1/", "(127.0.0.1 is a loopback address)"),
        ("http://127.0.0.1./", "(127.0.0.1 is a loopback address)"),
        ("http://[::1]:8080/", "(::1 is a loopback address)"),
        ("http://[0:0:0:0:0:0:0:1]/", "(::1 is a loopback address)"),
        ("http://[::ffff:127.0.0.1]/", "embedding 127.0.0.1, a loopback address"),
        ("http://[::ffff:7f00:1]/", "embedding 127.0.0.1, a loopback address"),
        ("http://[::127.0.0.1]/", "embedding 127.0.0.1, a loopback address"),
        ("http://\uff11\uff12\uff17.0.0.1/", "(127.0.0.1 is a loopback address)"),
        # private, shared, link-local, unspecified, multicast
        ("https://10.1.2.3/", "(10.1.2.3 is a private address)"),
        ("https://172.31.255.1/", "(172.31.255.1 is a private address)"),
        ("https://192.168.0.10/", "(192.168.0.10 is a private address)"),
        ("https://167772161/", "(10.0.0.1 is a private address)"),
        ("https://[fd12:3456::1]/", "(fd12:3456::1 is a private address)"),
        ("https://100.64.0.1/", "(100.64.0.1 is a carrier-grade NAT (shared) address)"),
        ("https://169.254.10.10/", "(169.254.10.10 is a link-local address)"),
        ("https://[fe80::1%25eth0]/", "(fe80::1 is a link-local address)"),
        ("http://0.0.0.0/", "(0.0.0.0 is an unspecified address)"),
        ("http://0/", "(0.0.0.0 is an unspecified address)"),
        ("http://[::]/", "(:: is an unspecified address)"),
        ("http://224.0.0.251/", "(224.0.0.251 is a multicast address)"),
        ("http://[64:ff9b::a00:1]/", "embedding 10.0.0.1, a private address"),
        ("http://[2002:c0a8:1::]/", "embedding 192.168.0.1, a private address"),
        ("http://240.0.0.1/", "is a reserved, non-public address"),
    ],
)
def test_literal_non_public_address_is_refused(url: str, fragment: str) -> None:
    with pytest.raises(UrlPolicyError) as info:
        check_data_url(url)
    assert str(info.value).startswith(PRIVATE)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/",
        "http://100.100.100.200/latest/meta-data/",
        "http://168.63.129.16/machine",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://0xa9fea9fe/",
    ],
)
def test_cloud_metadata_address_is_refused_as_metadata_endpoint(url: str) -> None:
    with pytest.raises(UrlPolicyError) as info:
        check_data_url(url)
    assert str(info.value).startswith(LOCAL)
    assert "is a cloud metadata address" in str(info.value)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://localhost:8000/x", "localhost is a local or metadata host name"),
        ("http://LOCALHOST./x", "localhost is a local or metadata host name"),
        ("http://api.localhost/x", "names ending in .localhost"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal"),
        ("http://metadata/computeMetadata/v1/", "metadata is a local or metadata host name"),
        ("http://instance-data.ec2.internal/", "instance-data.ec2.internal"),
        ("http://kubernetes.default.svc/api", "names ending in .svc"),
        ("http://minio.data.svc.cluster.local:9000/b/x", "names ending in .cluster.local"),
        ("http://printer.local/", "names ending in .local"),
        ("http://db.corp.internal/", "names ending in .internal"),
        ("http://nas.home.arpa/", "names ending in .home.arpa"),
        ("http://minio:9000/bucket/x", "single-label names resolve inside the cluster"),
    ],
)
def test_local_and_metadata_names_are_refused_without_resolving(url: str, fragment: str) -> None:
    with pytest.raises(UrlPolicyError) as info:
        check_data_url(url, resolver=lambda host: pytest.fail("must not resolve"))
    assert str(info.value).startswith(LOCAL)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/data.csv", addresses.MSG_SCHEME),
        ("file:///etc/passwd", addresses.MSG_SCHEME),
        ("gopher://example.com/", addresses.MSG_SCHEME),
        ("example.com/data.csv", addresses.MSG_SCHEME),
        ("", addresses.MSG_INVALID),
        ("https:///path-only", addresses.MSG_INVALID),
        ("https://example.com:99999/", addresses.MSG_INVALID),
        ("https://example.com\\@127.0.0.1/", addresses.MSG_INVALID),
        ("https://a@b@example.com/", addresses.MSG_INVALID),
        ("https://exa mple.com/", addresses.MSG_INVALID),
        ("https://127%2E0%2E0%2E1/", addresses.MSG_INVALID),
        ("https://1.2.3.256/", addresses.MSG_INVALID),
        ("https://1.2.3.4.5/", addresses.MSG_INVALID),
        ("https://[::1/", addresses.MSG_INVALID),
    ],
)
def test_malformed_or_non_http_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(UrlPolicyError) as info:
        check_data_url(url)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/datasets/x/resolve/main/train.parquet?download=true",
        "HTTPS://raw.githubusercontent.com/org/repo/main/data.jsonl",
        "http://8.8.8.8/data.csv",
        "https://[2606:4700::1111]/x",
        "https://user:token@example.com:8443/private/data.json",
        "https://example.com/100.64.0.1/path-that-looks-like-an-ip",
    ],
)
def test_public_url_is_accepted(url: str) -> None:
    check_data_url(url)


def test_resolved_private_address_is_refused_when_a_resolver_is_given() -> None:
    seen: list[str] = []

    def resolver(host: str) -> list[str]:
        seen.append(host)
        return ["93.184.216.34", "10.9.8.7"]

    with pytest.raises(UrlPolicyError) as info:
        check_data_url("https://Data.Example.com/train.csv", resolver=resolver)
    assert seen == ["data.example.com"]
    assert str(info.value) == (
        f"{PRIVATE} (host data.example.com resolves to 10.9.8.7, a private address)"
    )


def test_resolved_public_addresses_pass() -> None:
    check_data_url("https://example.com/x", resolver=lambda host: ["93.184.216.34", "2606:2800::1"])


def test_unresolvable_name_is_not_an_error() -> None:
    def resolver(host: str) -> list[str]:
        raise OSError("Temporary failure in name resolution")

    check_data_url("https://example.com/x", resolver=resolver)


def test_without_resolver_names_are_not_resolved() -> None:
    check_data_url("https://points-to-private.example.com/x")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.8", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("::ffff:10.0.0.1", "an address embedding 10.0.0.1, a private address"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_address_block_reason(address: str, reason: str | None) -> None:
    assert addresses.address_block_reason(ipaddress.ip_address(address)) == reason


def test_check_address_refuses_connected_private_address_for_the_downloader() -> None:
    with pytest.raises(UrlPolicyError, match=r"192\.168\.1\.1 is a private address"):
        addresses.check_address("192.168.1.1")
    addresses.check_address("1.1.1.1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0300.0250.0.1", "192.168.0.1"),
        ("10.0x10203", "10.1.2.3"),
        ("1.2.65535", "1.2.255.255"),
        ("example.com", None),
        ("1.example", None),
    ],
)
def test_loose_ipv4_parsing_matches_inet_aton(host: str, expected: str | None) -> None:
    result = addresses.parse_ipv4_loose(host)
    assert (str(result) if result else None) == expected
