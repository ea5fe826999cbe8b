"""Image references parse and normalise like distribution/reference's ParseDockerRef."""

from __future__ import annotations

import pytest

from kaito.api.images import ImageReferenceError, parse_image_reference


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
        ("org/app", "docker.io/org/app:latest"),
        ("index.docker.io/org/app:1", "docker.io/org/app:1"),
        ("myacr.azurecr.io/adapters/phi-4:0.0.1", "myacr.azurecr.io/adapters/phi-4:0.0.1"),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
        ("[::1]:5000/x:y", "[::1]:5000/x:y"),
        ("Registry.Example.com/a/b:t", "Registry.Example.com/a/b:t"),
        (
            "ghcr.io/org/repo_name.with-dots:v1.2.3-rc.1",
            "ghcr.io/org/repo_name.with-dots:v1.2.3-rc.1",
        ),
        ("a/b@sha256:" + "0" * 64, "docker.io/a/b@sha256:" + "0" * 64),
        ("a/b:t@sha256:" + "f" * 64, "docker.io/a/b:t@sha256:" + "f" * 64),
    ],
)
def test_valid_reference_is_normalised(value: str, normalised: str) -> None:
    assert str(parse_image_reference(value)) == normalised


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "repository name must have at least one component"),
        ("myacr.io/Adapter:1", "repository name (Adapter) must be lowercase"),
        ("UPPER", "repository name (library/UPPER) must be lowercase"),
        ("ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "(IMAGE_NAME_HERE) must be lowercase"),
        ("a/b:bad tag", "invalid reference format"),
        ("a/b:", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("a/b@sha256:123", "invalid reference format"),
        ("under_score.io:5000/x", "invalid reference format"),
        ("0" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("r.io/" + "a" * 260, "repository name must not be more than 255 characters"),
    ],
)
def test_invalid_reference_is_rejected_with_distribution_wording(value: str, message: str) -> None:
    with pytest.raises(ImageReferenceError) as info:
        parse_image_reference(value)
    assert message in str(info.value)


def test_parts_are_exposed() -> None:
    ref = parse_image_reference("myacr.azurecr.io/adapters/a:1")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (
        "myacr.azurecr.io",
        "adapters/a",
        "1",
        None,
    )
    assert ref.repository == "myacr.azurecr.io/adapters/a"
