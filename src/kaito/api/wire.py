"""The base class of every Workspace wire type: camelCase on the wire, snake_case in Python.

Kubernetes objects travel as camelCase JSON/YAML; Python code reads better in snake_case. Every
model in ``kaito.api`` derives from :class:`WireModel`, which accepts both spellings on input,
rejects unknown fields (so a typo such as ``instancetype`` is reported with its path instead of
being silently dropped, as the API server's strict field validation would), and dumps by alias
leaving out unset values, like Go's ``omitempty``. The small annotated types here normalise the
shapes YAML produces (empty strings, unquoted timestamps) into what the API server would store.
"""

from __future__ import annotations

import datetime as dt
import functools
import types
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, SerializerFunctionWrapHandler
from pydantic import model_serializer as _model_serializer
from pydantic.alias_generators import to_camel


def _blank_to_none(value: object) -> object:
    # Go's `string` fields with omitempty treat "" as unset; keep that meaning in Python.
    return None if value == "" else value


def format_timestamp(value: object) -> object:
    """Render a datetime as the RFC 3339 UTC string Kubernetes stores; pass other values through.

    PyYAML turns an unquoted ``2026-01-01T00:00:00Z`` into a ``datetime``; the API server keeps
    strings, so we convert before validation and keep the wire shape.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


OptStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
"""An optional string where ``""`` means unset (Go ``omitempty``)."""

Timestamp = Annotated[str, BeforeValidator(format_timestamp)]
"""An RFC 3339 timestamp kept as its wire string."""

OptTimestamp = Annotated[str | None, BeforeValidator(format_timestamp)]
"""An optional RFC 3339 timestamp kept as its wire string."""


@functools.cache
def _required_keys(model: type[BaseModel]) -> frozenset[str]:
    """Names and aliases of the required fields of ``model``."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        if info.is_required():
            keys.add(name)
            if info.alias:
                keys.add(info.alias)
    return frozenset(keys)


@functools.cache
def _model_keys(model: type[BaseModel]) -> frozenset[str]:
    """Names and aliases of the fields of ``model`` that hold a nested model."""
    keys: set[str] = set()
    for name, info in model.model_fields.items():
        # ``X`` or ``X | None`` only: lists and maps of models stay omitempty collections.
        annotation = info.annotation
        args = (annotation,) if get_origin(annotation) is None else ()
        if isinstance(annotation, types.UnionType):
            args = get_args(annotation)
        if any(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            keys.add(name)
            if info.alias:
                keys.add(info.alias)
    return frozenset(keys)


def _is_unset(value: object) -> bool:
    return value is None or (isinstance(value, list | dict) and not value)


class WireModel(BaseModel):
    """Base of all Kubernetes-shaped models: camelCase aliases, strict fields, omitempty dumps."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        validate_assignment=True,
    )

    @_model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Leave out None and empty collections of optional fields, the way Go's omitempty renders
        # them; required fields stay even when empty (``input: {}`` must survive a round trip).
        data = handler(self)
        if isinstance(data, dict):
            # A set nested object stays even when empty: ``inference: {}`` means inference.
            keep = _required_keys(type(self)) | _model_keys(type(self))
            return {
                k: v for k, v in data.items() if (k in keep and v is not None) or not _is_unset(v)
            }
        return data

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON-compatible camelCase dict the API server would store."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert isinstance(data, dict)
        return data
