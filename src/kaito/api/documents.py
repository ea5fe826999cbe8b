"""Multi-document YAML as ``kaito validate`` and ``kaito run`` read it: Workspaces and ConfigMaps.

A manifest file often carries a Workspace together with the ConfigMap it references. This module
splits YAML text into documents, tells Workspaces from other kinds, and collects ConfigMap data so
validation can check ``inference.config`` / ``tuning.config`` offline. Pure: callers read the files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

KIND_CONFIGMAP = "ConfigMap"
# libyaml's loader when PyYAML was built with it (much faster), else the pure-Python safe loader.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DocumentError(ValueError):
    """The text is not valid YAML; the message names the line and column."""


def parse_yaml_documents(text: str) -> list[Any]:
    """Every non-empty document of a YAML stream, in order.

    Raises:
        DocumentError: the YAML is malformed.
    """
    try:
        return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError(f"invalid YAML{where}: {problem}") from exc


def document_kind(doc: object) -> str | None:
    """The ``kind`` of a Kubernetes object document, None for anything else."""
    if isinstance(doc, Mapping):
        kind = doc.get("kind")
        return kind if isinstance(kind, str) else None
    return None


def configmap_entry(doc: object) -> tuple[tuple[str | None, str], dict[str, str]] | None:
    """``((namespace, name), data)`` of a ConfigMap document, None when it is not a usable one.

    Values are rendered as strings (YAML may type them), as the API server would store them.
    """
    if document_kind(doc) != KIND_CONFIGMAP or not isinstance(doc, Mapping):
        return None
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return None
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
    raw = doc.get("data") or {}
    if not isinstance(raw, Mapping):
        return None
    data = {str(k): _as_text(v) for k, v in raw.items()}
    return (namespace, meta["name"]), data


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def collect_configmaps(
    docs: Iterable[object],
) -> dict[tuple[str | None, str], dict[str, str]]:
    """ConfigMap data from documents, keyed by ``(namespace or None, name)``."""
    out: dict[tuple[str | None, str], dict[str, str]] = {}
    for doc in docs:
        entry = configmap_entry(doc)
        if entry is not None:
            out[entry[0]] = entry[1]
    return out
