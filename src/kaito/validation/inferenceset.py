"""Admission rules for InferenceSets (upstream ``inferenceset_validation.go``), both versions.

The set's own rules: the name is a DNS-1123 label, replicas are not negative, the template's
instance type fits the node-provisioning mode, the maintenance-window cron schedule and duration
parse, ``rollingUpdate.maxUnavailable`` is usable and the partition is immutable. Then, as
upstream's webhook does, the Workspace each replica would be is built
(:mod:`kaito.api.inferenceset_children`) and judged by the Workspace create rules, with its
findings reported under ``spec.template``: a set is admitted only if its children would be.
"""

from __future__ import annotations

import re

from kaito.api import constants, names
from kaito.api.inferenceset import AnyInferenceSet, InferenceSet, to_storage
from kaito.api.inferenceset_children import build_child_workspace, max_unavailable
from kaito.validation.context import ValidationContext
from kaito.validation.findings import FieldError, ValidationReport
from kaito.validation.workspace import check_workspace

# Field paths of the child Workspace and where they live in the InferenceSet.
_CHILD_PATHS = (
    ("resource.labelSelector", "spec.labelSelector"),
    ("resource", "spec.template.resource"),
    ("inference", "spec.template.inference"),
    ("metadata", "spec.template.metadata"),
)

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {m: i + 1 for i, m in enumerate(_MONTHS)},
    {d: i for i, d in enumerate(_DAYS)},
)
_CRON_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def check_inferenceset(
    iset: AnyInferenceSet, ctx: ValidationContext, old: AnyInferenceSet | None = None
) -> ValidationReport:
    """Validate an InferenceSet being created (``old`` None) or updated.

    Returns:
        Errors (reject) and warnings (admit), each with its camelCase path.
    """
    report = ValidationReport()
    stored = to_storage(iset)
    name = stored.metadata.name
    if not name:
        report.error("metadata.name", "name is required")
    else:
        problems = names.dns1123_label_errors(name)
        if problems:
            report.error("metadata.name", ", ".join(problems))
    if old is None and stored.spec.replicas < 0:
        report.error(
            "spec.replicas", f"invalid value: {stored.spec.replicas}: must be non-negative"
        )
    _check_instance_type(stored, ctx, report)
    _check_maintenance_window(stored, report)
    _check_update_strategy(stored, report)
    if old is not None:
        previous = to_storage(old).spec.template.resource.partition
        if previous != stored.spec.template.resource.partition:
            report.error("spec.template.resource.partition", "field is immutable")
    _check_children(stored, ctx, report)
    return report


def _check_instance_type(
    iset: InferenceSet, ctx: ValidationContext, report: ValidationReport
) -> None:
    instance_type = iset.spec.template.resource.instance_type
    path = "spec.template.resource.instanceType"
    if ctx.nap_disabled is True and instance_type:
        report.error(
            path,
            f"invalid value: {instance_type}: "
            "instanceType must be empty when nodeProvisioner is byo",
        )
    # A missing instance type with auto-provisioning is reported by the child's Workspace rules.


def _check_maintenance_window(iset: InferenceSet, report: ValidationReport) -> None:
    policy = iset.spec.auto_upgrade
    if policy is None or policy.maintenance_window is None:
        return
    window = policy.maintenance_window
    base = "spec.autoUpgrade.maintenanceWindow"
    if not window.schedule.strip():
        report.error(f"{base}.schedule", "missing field(s)")
        return
    problem = cron_error(window.schedule)
    if problem:
        report.error(
            f"{base}.schedule",
            f"invalid value: {window.schedule}: invalid cron expression: {problem}",
        )
    if window.duration is not None:
        seconds = parse_go_duration(window.duration)
        if seconds is None:
            report.error(f"{base}.duration", f"invalid value: {window.duration}: not a duration")
        elif seconds <= 0:
            report.error(
                f"{base}.duration", f"invalid value: {window.duration}: must be a positive duration"
            )


def _check_update_strategy(iset: InferenceSet, report: ValidationReport) -> None:
    strategy = iset.spec.update_strategy
    kind = strategy.get("type", constants.UPDATE_STRATEGY_ROLLING)
    allowed = (constants.UPDATE_STRATEGY_ROLLING, constants.UPDATE_STRATEGY_ON_DELETE)
    if kind not in allowed:
        report.error(
            "spec.updateStrategy.type",
            f"unsupported value {kind!r}; supported: {', '.join(allowed)}",
        )
        return
    try:
        max_unavailable(iset)
    except ValueError as exc:
        report.error("spec.updateStrategy.rollingUpdate.maxUnavailable", str(exc))


def _check_children(iset: InferenceSet, ctx: ValidationContext, report: ValidationReport) -> None:
    child = build_child_workspace(iset, byo=ctx.nap_disabled is True)
    child_report = check_workspace(child, ctx)
    for item in child_report.errors:
        report.error(*_child_finding(item))
    for item in child_report.warnings:
        report.warn(*_child_finding(item))


def _child_finding(item: FieldError) -> tuple[str, str]:
    """A child Workspace's finding, moved to the InferenceSet field it comes from."""
    field = item.field
    for prefix, target in _CHILD_PATHS:
        if field == prefix or field.startswith((prefix + ".", prefix + "[")):
            return target + field[len(prefix) :], item.message
    return (f"spec.template ({field})" if field else "spec.template"), item.message


def cron_error(expression: str) -> str | None:
    """Why ``expression`` is not a standard cron schedule (5 fields or a descriptor), or None."""
    text = expression.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        _, _, text = text.partition(" ")
        text = text.strip()
    if text.startswith("@"):
        if text in _CRON_DESCRIPTORS or text.startswith("@every "):
            return None if not text.startswith("@every ") else _every_error(text[7:])
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != len(_CRON_RANGES):
        return f"expected exactly 5 fields, found {len(fields)}: {text}"
    for field, (low, high), aliases in zip(fields, _CRON_RANGES, _CRON_NAMES, strict=True):
        for part in field.split(","):
            problem = _cron_part_error(part.lower(), low, high, aliases)
            if problem:
                return problem
    return None


def _every_error(text: str) -> str | None:
    seconds = parse_go_duration(text)
    return None if seconds is not None and seconds > 0 else f"failed to parse duration {text}"


def _cron_part_error(part: str, low: int, high: int, aliases: dict[str, int]) -> str | None:
    span, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return f"invalid step: {part}"
    if span in ("*", "?"):
        return None
    bounds = span.split("-")
    if len(bounds) > 2:
        return f"too many hyphens: {part}"
    values = []
    for bound in bounds:
        value = aliases.get(bound, int(bound) if bound.isdigit() else None)
        if value is None:
            return f"failed to parse int from {bound}"
        values.append(value)
    if any(v < low or v > high for v in values):
        return f"value out of range ({low}-{high}): {part}"
    if len(values) == 2 and values[0] > values[1]:
        return f"beginning of range ({values[0]}) beyond end of range ({values[1]}): {part}"
    return None


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go duration string (``4h``, ``1h30m``, ``-5m``); None when malformed."""
    value = text.strip()
    sign = -1.0 if value.startswith("-") else 1.0
    value = value.lstrip("+-")
    if value == "0":
        return 0.0
    if not value:
        return None
    total, pos = 0.0, 0
    while pos < len(value):
        match = _DURATION_PART.match(value, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return sign * total
