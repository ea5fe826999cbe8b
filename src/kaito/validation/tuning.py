"""Rules on ``tuning``: method, preset, training ConfigMap, input and output (§1.5 item 9, UPDATE).

A Workspace without ``tuning.config`` uses the release's default template for its method
(``lora-params-template`` / ``qlora-params-template``), which must exist in the release namespace.
"""

from __future__ import annotations

from kaito.api import constants
from kaito.presets import catalog
from kaito.validation.config_files import training_config_errors
from kaito.validation.context import LookupUnavailableError
from kaito.validation.review import Review
from kaito.validation.sources import (
    check_destination_create,
    check_image,
    check_source_create,
)


def check_tuning_create(review: Review) -> None:
    """Create-time checks of the tuning spec."""
    tuning = review.ws.tuning
    assert tuning is not None
    method = (tuning.method or "").lower()
    if method not in constants.TUNING_METHODS:
        review.report.error(
            "tuning.method",
            f"invalid value: {tuning.method or ''!r}; supported methods are "
            + ", ".join(constants.TUNING_METHODS),
        )
    else:
        _check_config(review, method)
    check_source_create(review, "tuning.input", tuning.input)
    check_destination_create(review, "tuning.output", tuning.output)
    if tuning.preset is None:
        review.report.error("tuning.preset", "missing field(s): preset")
        return
    resolution = review.resolve_model(tuning.preset.name)
    model = resolution.model
    if model is None:
        if resolution.deprecated:
            message = f"Model {tuning.preset.name.lower()} is deprecated and no longer supported"
        else:
            message = f"Unsupported tuning preset name {tuning.preset.name}"
            if resolution.suggestions:
                message += f"; did you mean {', '.join(resolution.suggestions)}?"
        review.report.error("tuning.preset.name", message)
    elif not model.supports_tuning:
        capable = ", ".join(m.name for m in catalog.list_models(tuning_only=True))
        review.report.error(
            "tuning.preset.name",
            f"Preset {model.name} does not support tuning; presets that do: {capable}",
        )


def _check_config(review: Review, method: str) -> None:
    tuning = review.ws.tuning
    assert tuning is not None
    if tuning.config:
        namespace, name = review.namespace, tuning.config
    else:
        namespace, name = review.ctx.release_namespace, constants.DEFAULT_TUNING_TEMPLATES[method]
    try:
        data = review.ctx.lookup.get_configmap(namespace, name)
    except LookupUnavailableError as exc:
        review.report.not_checked("tuning.config", f"training ConfigMap ({exc})")
        return
    if data is None:
        review.report.error(
            "tuning.config",
            f"ConfigMap '{name}' specified in 'config' not found in namespace '{namespace}'",
        )
        return
    for problem in training_config_errors(data, name, method):
        review.report.error("tuning.config", problem)


def check_tuning_update(review: Review) -> None:
    """Update rules: preset, method and input name immutable; changed input/output re-checked."""
    old = review.old.tuning if review.old is not None else None
    new = review.ws.tuning
    if old is None or new is None:
        return
    if (old.input.name or "") != (new.input.name or ""):
        review.report.error(
            "tuning.input.name", "During tuning Name field cannot be changed once set"
        )
    if new.input.to_wire() != old.input.to_wire():
        check_source_create(review, "tuning.input", new.input)
    elif new.input.image:
        check_image(review, "tuning.input.image", new.input.image, "input")
    if new.output.to_wire() != old.output.to_wire():
        check_destination_create(review, "tuning.output", new.output)
    elif new.output.image:
        check_image(review, "tuning.output.image", new.output.image, "output")
    old_preset = old.preset.to_wire() if old.preset is not None else None
    new_preset = new.preset.to_wire() if new.preset is not None else None
    if old_preset != new_preset:
        review.report.error("tuning.preset", "Preset cannot be changed")
    if (old.method or "").lower() != (new.method or "").lower():
        review.report.error("tuning.method", "Method cannot be changed")
