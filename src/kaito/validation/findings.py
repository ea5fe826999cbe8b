"""What validation reports: errors that reject a Workspace and warnings that do not.

Every problem carries the camelCase path of the field it concerns (``tuning.input.urls[0]``,
``metadata.annotations[kaito.sh/runtime]``) so the CLI can point at the line to fix and the webhook
can return it in its denial.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: where, and what is wrong (upstream's wording if it has one)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_dict(self) -> dict[str, str]:
        """``{"field", "message"}`` for JSON output."""
        return {"field": self.field, "message": self.message}


@dataclass
class ValidationReport:
    """All errors and warnings found for one Workspace."""

    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No errors (warnings do not count)."""
        return not self.errors

    def error(self, path: str, message: str) -> None:
        """Record an error, ignoring exact duplicates."""
        item = FieldError(path, message)
        if item not in self.errors:
            self.errors.append(item)

    def warn(self, path: str, message: str) -> None:
        """Record a warning, ignoring exact duplicates."""
        item = FieldError(path, message)
        if item not in self.warnings:
            self.warnings.append(item)

    def summary(self) -> str:
        """All errors on one line, ``field: message; field: message`` (for webhook denials)."""
        return "; ".join(str(e) for e in self.errors)

    def not_checked(self, path: str, what: str) -> None:
        """Record that a rule could not be applied here (e.g. offline), as a warning."""
        self.warn(path, f"not checked: {what}")
