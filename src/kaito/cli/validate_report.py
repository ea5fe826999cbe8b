"""How ``kaito validate`` reports its results.

One :class:`DocumentResult` per Workspace or InferenceSet document, printed as text or as the stable
JSON/YAML list the command's docstring describes. Kept apart from the command so that the command
module holds only the reading and dispatching of documents.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from kaito.api import constants
from kaito.cli import output as out


class OutputFormat(enum.StrEnum):
    """How results are printed."""

    TEXT = "text"
    JSON = "json"
    YAML = "yaml"


@dataclass
class DocumentResult:
    """The outcome for one Workspace document."""

    file: str
    document: int
    name: str | None
    api_version: str | None
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    estimate: dict[str, Any] | None = None
    update: bool = False
    kind: str = constants.KIND_WORKSPACE

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape."""
        return {
            "file": self.file,
            "document": self.document,
            "kind": self.kind,
            "name": self.name,
            "apiVersion": self.api_version,
            "operation": "UPDATE" if self.update else "CREATE",
            "valid": not self.errors,
            "errors": self.errors,
            "warnings": self.warnings,
            "estimate": self.estimate,
        }


def print_results(results: list[DocumentResult], output: OutputFormat) -> None:
    """Print ``results`` as text (one block per document) or as one JSON/YAML list."""
    data = [r.to_dict() for r in results]
    if output != OutputFormat.TEXT:
        out.emit(data, output.value)
        return
    for result in results:
        title = f"{result.file} (document {result.document})"
        if result.name:
            title += f": {result.kind} {result.name}"
        print(f"{title}: {'valid' if not result.errors else 'INVALID'}")
        for error in result.errors:
            print(f"  error: {_field_message(error)}")
        for warning in result.warnings:
            print(f"  warning: {_field_message(warning)}")
        if result.estimate is not None:
            print(f"  estimate: {_estimate_text(result.estimate)}")


def _field_message(item: dict[str, str]) -> str:
    return f"{item['field']}: {item['message']}" if item["field"] else item["message"]


def _estimate_text(estimate: dict[str, Any]) -> str:
    if estimate.get("nodes") is None:
        return f"not available ({estimate.get('error', 'unknown')})"
    nodes = estimate["nodes"]
    text = f"{nodes} node{'s' if nodes != 1 else ''}"
    if "replicas" in estimate:
        replicas, per_replica = estimate["replicas"], estimate["nodesPerReplica"]
        text += f" ({replicas} replica{'s' if replicas != 1 else ''} of {per_replica})"
    if estimate.get("instanceType"):
        text += f" of {estimate['instanceType']}"
    if estimate.get("gpusPerNode"):
        text += f" ({estimate['gpusPerNode']} GPU(s) each)"
    return f"{text}; {estimate['basis']}"
