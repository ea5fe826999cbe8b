"""Rules on data sources and destinations: tuning input/output and adapter sources (§1.2, §1.5).

Exactly one kind of source (URLs, image, volume) and of destination (image, volume); image
references must parse; an output image needs a push secret; URLs must pass the address policy of
:mod:`kaito.api.addresses`.

``v1alpha1`` keeps its older image check (a full ``registry/repository:tag`` is required) and only
*warns* about references a registry would refuse, such as upper-case repository names: the founding
example of this project uses ``ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1`` placeholders and
must validate. ``v1beta1`` rejects them, as upstream does.
"""

from __future__ import annotations

import re

from kaito.api import addresses, images
from kaito.api.data_sources import DataDestination, DataSource
from kaito.validation.review import Review

_V1ALPHA1_FULL_IMAGE = re.compile(r"^(.+/[^:/]+):([^:/]+)$")


def check_image(review: Review, path: str, image: str, role: str) -> None:
    """An image reference (``role``: "input" or "output") must be usable."""
    try:
        images.parse_image_reference(image)
    except images.ImageReferenceError as exc:
        message = f"Unable to parse {role} image reference: {exc}"
        if review.beta:
            review.report.error(path, message)
        elif not _V1ALPHA1_FULL_IMAGE.match(image):
            review.report.error(path, f"Invalid image format, require full {role} image URL")
        else:
            review.report.warn(path, f"{message} (a placeholder? a registry will refuse it)")
        return
    if not review.beta and not _V1ALPHA1_FULL_IMAGE.match(image):
        review.report.error(path, f"Invalid image format, require full {role} image URL")


def check_urls(review: Review, path: str, urls: list[str]) -> None:
    """Every URL must be http(s) and must not target local, private or metadata endpoints."""
    for index, url in enumerate(urls):
        try:
            addresses.check_data_url(url, review.ctx.resolver)
        except addresses.UrlPolicyError as exc:
            review.report.error(f"{path}[{index}]", str(exc))


def check_source_create(review: Review, path: str, source: DataSource) -> None:
    """A tuning input or adapter source: exactly one of URLs, image, volume; each well-formed."""
    specified = 0
    if source.urls:
        check_urls(review, f"{path}.urls", source.urls)
        specified += 1
    if source.image:
        check_image(review, f"{path}.image", source.image, "input")
        specified += 1
    if source.volume_source is not None:
        specified += 1
    if specified != 1:
        review.report.error(path, "Exactly one of URLs, Volume, or Image must be specified")


def check_destination_create(review: Review, path: str, dest: DataDestination) -> None:
    """A tuning output: exactly one of image (with push secret) or volume."""
    specified = 0
    if dest.image:
        check_image(review, f"{path}.image", dest.image, "output")
        if not dest.image_push_secret:
            review.report.error(
                f"{path}.imagePushSecret", "Must specify imagePushSecret with destination image"
            )
        specified += 1
    if dest.volume_source is not None:
        specified += 1
    if specified != 1:
        review.report.error(path, "Exactly one of Volume or Image must be specified")
