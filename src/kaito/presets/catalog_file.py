"""Reading ``data/models.yaml`` into ``ModelSpec`` entries, with errors that name entry and field.

The file's keys are the ``ModelSpec`` model's aliases, so this module lists none of them: it
validates each entry with the model and turns a validation failure into one ``CatalogDataError``
that says which entry (position and name) and which field (dotted camelCase path) is wrong. What
the model cannot see alone is checked here: the document's shape, fields only the loader may set,
the document-wide ``hybridKvArchitectures`` list, and names claimed by two presets.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from kaito.presets.errors import PresetError
from kaito.presets.model_spec import ModelSpec

__all__ = ["Catalog", "CatalogDataError", "load_catalog", "parse_catalog"]

# libyaml's C loader when available (about 10x faster); same safe subset of YAML.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogDataError(PresetError):
    """``models.yaml`` is malformed (a packaging bug, never a user error)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """The loaded catalog: specs in file order plus a lower-cased lookup index."""

    models: tuple[ModelSpec, ...]
    index: Mapping[str, ModelSpec]


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``field.path: problem``."""
    path = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        problem = "unknown field"
    elif kind == "missing":
        problem = "required field missing"
    elif kind == "value_error":
        problem = str(error["ctx"]["error"])  # our own message, which names its fields
    else:
        problem = f"{error['msg']} (got {error['input']!r})"
    return f"{path}: {problem}" if path else problem


def _entry_error(position: int, entry: object, problems: list[str]) -> CatalogDataError:
    name = entry.get("name", "?") if isinstance(entry, Mapping) else "?"
    return CatalogDataError(f"models.yaml entry {position} ({name}): {'; '.join(problems)}")


def _spec(entry: object, position: int, hybrid: frozenset[str]) -> ModelSpec:
    """Validate one entry; the loader-only fields are refused, then set from the document."""
    if isinstance(entry, Mapping):
        written = sorted(ModelSpec.read_only_keys().intersection(entry))
        if written:
            problems = [f"{key}: set by the loader, not by the data" for key in written]
            raise _entry_error(position, entry, problems)
    try:
        spec = ModelSpec.model_validate(entry)
    except ValidationError as error:
        raise _entry_error(position, entry, [_describe(e) for e in error.errors()]) from None
    if hybrid.intersection(spec.architectures):
        return spec.model_copy(update={"kv_cache_offload": False})
    return spec


def parse_catalog(text: str) -> Catalog:
    """Build a catalog from the text of a ``models.yaml`` document.

    Every entry is validated by ``ModelSpec`` (unknown or missing fields, wrong types) and every
    name, repo id and alias must belong to one preset only, so a typo in the package data fails
    loudly instead of dropping a fact.

    Raises:
        CatalogDataError: The document is malformed; the message names the entry and the field.
    """
    document = yaml.load(text, Loader=_YAML_LOADER)
    if not isinstance(document, Mapping) or not isinstance(document.get("models"), list):
        raise CatalogDataError("models.yaml must be a mapping with a 'models' list")
    hybrid = frozenset(document.get("hybridKvArchitectures", ()))
    models = tuple(_spec(entry, n, hybrid) for n, entry in enumerate(document["models"]))
    index: dict[str, ModelSpec] = {}
    for spec in models:
        for key in (spec.name, spec.hf_repo, *spec.aliases):
            lowered = key.lower()
            if lowered in index and index[lowered] is not spec:
                raise CatalogDataError(f"models.yaml: name {key!r} is claimed by two presets")
            index[lowered] = spec
    return Catalog(models=models, index=index)


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog (``data/models.yaml``), parsed once per process."""
    text = importlib.resources.files("kaito.presets").joinpath("data/models.yaml").read_text()
    return parse_catalog(text)
