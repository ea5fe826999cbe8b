"""Parse any served Workspace version from a plain dict, and convert between versions.

This is the front door for every caller that holds raw data (a YAML file, an admission request, a
watch event): :func:`parse_workspace` dispatches on ``apiVersion`` and turns pydantic's errors into
one :class:`WorkspaceParseError` listing each problem with its dotted camelCase path
(``tuning.input.urls[0]``), the way a user sees the field in the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import pydantic

from kaito.api import constants, v1alpha1, v1beta1

AnyWorkspace: TypeAlias = v1alpha1.Workspace | v1beta1.Workspace
"""A Workspace of any served version."""

_MODELS: dict[str, type[AnyWorkspace]] = {
    constants.API_VERSION_V1ALPHA1: v1alpha1.Workspace,
    constants.API_VERSION_V1BETA1: v1beta1.Workspace,
}


@dataclass(frozen=True)
class ParseIssue:
    """One problem found while parsing: where (camelCase path) and what."""

    field: str
    message: str


class WorkspaceParseError(ValueError):
    """The data is not a well-formed Workspace; ``issues`` lists every problem with its path."""

    def __init__(self, issues: Sequence[ParseIssue]) -> None:
        self.issues: tuple[ParseIssue, ...] = tuple(issues)
        lines = [f"{i.field}: {i.message}" if i.field else i.message for i in self.issues]
        super().__init__("invalid Workspace:\n  " + "\n  ".join(lines))


def format_path(loc: Sequence[int | str]) -> str:
    """Render a location tuple as ``a.b[0].c``.

    List indices and map keys that contain ``.`` or ``/`` (label and annotation keys) go in
    brackets: ``metadata.annotations[kaito.sh/runtime]``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int) or (out and ("." in part or "/" in part)):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _issue_from_pydantic(err: Mapping[str, Any]) -> ParseIssue:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    message = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "literal_error" and loc and loc[-1] in ("apiVersion", "kind"):
        message = f"unsupported value {err.get('input')!r}; {message.lower()}"
    return ParseIssue(field=format_path(loc), message=message)


def issues_from(exc: pydantic.ValidationError) -> list[ParseIssue]:
    """Every problem of a pydantic validation error, with camelCase paths (InferenceSets too)."""
    return [_issue_from_pydantic(e) for e in exc.errors(include_url=False)]


def parse_workspace(obj: Mapping[str, Any]) -> AnyWorkspace:
    """Build the typed Workspace for ``obj``'s ``apiVersion``.

    Args:
        obj: a decoded YAML/JSON document.

    Returns:
        A ``v1alpha1.Workspace`` or ``v1beta1.Workspace``.

    Raises:
        WorkspaceParseError: not a mapping, not a Workspace of a served version, or any field is
            malformed or unknown. Every problem is listed, not just the first.
    """
    if not isinstance(obj, Mapping):
        raise WorkspaceParseError([ParseIssue("", "a Workspace must be a mapping (YAML object)")])
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    issues: list[ParseIssue] = []
    if kind != constants.KIND_WORKSPACE:
        issues.append(ParseIssue("kind", f"expected {constants.KIND_WORKSPACE!r}, got {kind!r}"))
    model = _MODELS.get(api_version) if isinstance(api_version, str) else None
    if model is None:
        served = ", ".join(sorted(_MODELS))
        issues.append(
            ParseIssue("apiVersion", f"unsupported apiVersion {api_version!r}; served: {served}")
        )
    if issues:
        raise WorkspaceParseError(issues)
    assert model is not None
    try:
        return model.model_validate(dict(obj))
    except pydantic.ValidationError as exc:
        raise WorkspaceParseError(
            [_issue_from_pydantic(e) for e in exc.errors(include_url=False)]
        ) from exc


def is_workspace_document(obj: object) -> bool:
    """Whether ``obj`` claims to be a Workspace of the kaito.sh group (any version)."""
    if not isinstance(obj, Mapping):
        return False
    api_version = obj.get("apiVersion")
    return (
        obj.get("kind") == constants.KIND_WORKSPACE
        and isinstance(api_version, str)
        and api_version.startswith(f"{constants.GROUP}/")
    )


def to_v1beta1(ws: AnyWorkspace) -> v1beta1.Workspace:
    """Return ``ws`` as the storage version.

    The versions are field-compatible, so this mirrors the API server's ``None`` conversion
    strategy: the same fields under the new ``apiVersion``.
    """
    if isinstance(ws, v1beta1.Workspace):
        return ws
    data = ws.to_wire()
    data["apiVersion"] = constants.API_VERSION_V1BETA1
    return v1beta1.Workspace.model_validate(data)


def dump_workspace(ws: AnyWorkspace) -> dict[str, Any]:
    """The camelCase dict of ``ws`` as the API server would store it (unset fields left out)."""
    return ws.to_wire()


def workspace_runtime(ws: AnyWorkspace, vllm_enabled: bool = True) -> str:
    """The inference runtime a Workspace asks for: ``vllm`` or ``transformers``.

    The ``kaito.sh/runtime`` annotation wins when it names a known runtime; otherwise vLLM when
    the ``vLLM`` feature gate is on (the default), else transformers.
    """
    value = ws.metadata.annotations.get(constants.ANNOTATION_RUNTIME, "").strip().lower()
    if value in constants.RUNTIMES:
        return value
    return constants.RUNTIME_VLLM if vllm_enabled else constants.RUNTIME_TRANSFORMERS
