"""Where data comes from and goes to: tuning input/output and inference adapters.

``DataSource``, ``DataDestination`` and ``AdapterSpec`` have the same shape in ``v1alpha1`` and
``v1beta1``, so both versions share these classes. Volume sources stay schemaless dictionaries (any
Kubernetes ``VolumeSource``): KAITO passes them to the pod untouched and the API server's own schema
for pods is the one that checks them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from kaito.api.wire import OptStr, WireModel

PRESERVE_UNKNOWN: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
"""Schema marker for schemaless fields (pod templates, volume sources)."""


class DataSource(WireModel):
    """Data to read: exactly one of URLs, a container image or a volume."""

    name: OptStr = Field(
        default=None,
        description=(
            "Name of the data set; adapters use it as their name, so it must be a DNS-1123 "
            "subdomain and unique among the adapters."
        ),
    )
    urls: list[str] = Field(
        default_factory=list,
        description="Public http(s) links to download, e.g. files of a public repository.",
    )
    volume_source: dict[str, Any] | None = Field(
        default=None,
        description="Any Kubernetes volume source holding the data, mounted into the pod.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    image: OptStr = Field(
        default=None,
        description="Container image whose /data directory holds the data.",
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list,
        description="Secrets in the Workspace namespace used to pull the image.",
    )


class DataDestination(WireModel):
    """Where tuning writes its result: exactly one of a container image or a volume."""

    volume_source: dict[str, Any] | None = Field(
        default=None,
        description="Any Kubernetes volume source the adapter files are written into.",
        json_schema_extra=PRESERVE_UNKNOWN,
    )
    image: OptStr = Field(
        default=None,
        description="Image reference the trained adapter is pushed to as an OCI artifact.",
    )
    image_push_secret: OptStr = Field(
        default=None,
        description=(
            "Secret (type kubernetes.io/dockerconfigjson) in the Workspace namespace with the "
            "credentials to push the image; required with image."
        ),
    )


class AdapterSpec(WireModel):
    """A LoRA adapter loaded next to the base model for inference."""

    source: DataSource | None = Field(
        default=None,
        description="Where the adapter comes from: an image or a volume (URLs are not accepted).",
    )
    strength: OptStr = Field(
        default=None,
        description=(
            "Multiplier applied to the adapter weights, a number between 0 and 1 written as a "
            "string; only the transformers runtime honours it (default 1.0)."
        ),
    )
