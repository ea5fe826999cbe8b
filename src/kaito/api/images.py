"""Container image references, parsed with the grammar of ``distribution/reference``.

Upstream Kaito checks adapter, tuning input and tuning output images with ``ParseDockerRef``, which
normalises Docker Hub short names (``ubuntu`` → ``docker.io/library/ubuntu:latest``) and rejects
anything a registry would refuse. This is the same grammar, written from the published spec, so a
bad reference fails at admission rather than when a pod tries to pull it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255


class ImageReferenceError(ValueError):
    """The string is not a valid image reference."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed, normalised image reference."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """``domain/path`` without tag or digest."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str, str]:
    head, sep, rest = name.partition("/")
    looks_like_domain = "." in head or ":" in head or head == "localhost" or head.lower() != head
    if not sep or not looks_like_domain:
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = head, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_image_reference(value: str) -> ImageReference:
    """Parse and normalise ``value`` like ``ParseDockerRef`` (a missing tag becomes ``latest``).

    Raises:
        ImageReferenceError: with the same wording as ``distribution/reference``.
    """
    if not value:
        raise ImageReferenceError(
            "invalid reference format: repository name must have at least one component"
        )
    if _HEX64_RE.match(value):
        raise ImageReferenceError(
            f"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings"
        )
    # Split off the tag/digest before deciding where the domain ends.
    name_end = len(value)
    at = value.find("@")
    if at >= 0:
        name_end = at
    last_slash = value.rfind("/", 0, name_end)
    colon = value.rfind(":", last_slash + 1, name_end)
    if colon >= 0:
        name_end = colon
    domain, remainder = _split_domain(value[:name_end])
    suffix = value[name_end:]
    if remainder.lower() != remainder:
        raise ImageReferenceError(
            f"invalid reference format: repository name ({remainder}) must be lowercase"
        )
    full = f"{domain}/{remainder}{suffix}"
    match = _REFERENCE_RE.match(full)
    if match is None or match.group("domain") != domain:
        raise ImageReferenceError("invalid reference format")
    if len(match.group("name")) > NAME_MAX:
        raise ImageReferenceError(f"repository name must not be more than {NAME_MAX} characters")
    tag = match.group("tag")
    digest = match.group("digest")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, path=remainder, tag=tag, digest=digest)
