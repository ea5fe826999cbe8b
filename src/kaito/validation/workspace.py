"""The admission rules for a whole Workspace, create and update, both versions (§1.5).

:func:`check_workspace` is the single entry point the webhook and ``kaito validate`` share. It never
raises for bad input: every problem becomes a :class:`FieldError` with its path, and all of them are
returned at once, errors and warnings apart.
"""

from __future__ import annotations

from kaito.api import constants, v1beta1
from kaito.api.workspace import AnyWorkspace, to_v1beta1
from kaito.validation import inference, metadata, resource, tuning
from kaito.validation.context import ValidationContext
from kaito.validation.findings import FieldError, ValidationReport
from kaito.validation.review import Review


def check_workspace(
    ws: AnyWorkspace, ctx: ValidationContext, old: AnyWorkspace | None = None
) -> ValidationReport:
    """Validate a Workspace being created (``old`` None) or updated (``old`` = stored object).

    Returns:
        The report: ``errors`` reject the object, ``warnings`` (including checks that could not be
        made in this environment, prefixed "not checked:") do not.
    """
    if old is not None and type(old) is not type(ws):
        # Mixed versions: compare both in the storage version.
        ws, old = to_v1beta1(ws), to_v1beta1(old)
    review = Review(ws=ws, ctx=ctx, old=old)
    metadata.check_name(review)
    if old is None:
        _check_create(review)
    else:
        _check_update(review)
    return review.report


def validate_workspace(
    ws: AnyWorkspace, ctx: ValidationContext, old: AnyWorkspace | None = None
) -> list[FieldError]:
    """The errors of :func:`check_workspace` (no warnings); empty when the Workspace is valid."""
    return check_workspace(ws, ctx, old).errors


def _check_create(review: Review) -> None:
    ws = review.ws
    if ws.inference is None and ws.tuning is None:
        review.report.error(
            "inference, tuning", "Either Inference or Tuning must be specified, not neither"
        )
    if ws.inference is not None and ws.tuning is not None:
        review.report.error(
            "inference, tuning", "Either Inference or Tuning must be specified, but not both"
        )
    resource.check_instance_type_mode(review)
    resource.check_label_selector_syntax(review)
    metadata.check_annotations(review)
    if ws.inference is not None:
        resource.check_resource_with_inference(review)
        inference.check_inference_create(review)
        inference.check_inference_config(review)
        metadata.check_streaming_csi_driver(review)
    if ws.tuning is not None:
        resource.check_resource_with_tuning(review)
        tuning.check_tuning_create(review)
    _warn_deprecated_fields(review)


def _check_update(review: Review) -> None:
    ws, old = review.ws, review.old
    assert old is not None
    if (old.inference is None) != (ws.inference is None):
        review.report.error("inference", "Inference field cannot be toggled once set")
    if (old.tuning is None) != (ws.tuning is None):
        review.report.error("tuning", "Tuning field cannot be toggled once set")
    resource.check_resource_update(review)
    metadata.check_model_streaming_immutable(review)
    metadata.check_annotations(review, changed_only_from=old.metadata.annotations)
    if ws.inference is not None:
        inference.check_inference_update(review)
    if ws.tuning is not None:
        tuning.check_tuning_update(review)


def _warn_deprecated_fields(review: Review) -> None:
    """v1beta1 deprecations that still work or are ignored: tell the user, do not reject."""
    ws = review.ws
    if not isinstance(ws, v1beta1.Workspace):
        return
    if ws.resource.preferred_nodes:
        review.report.warn(
            "resource.preferredNodes", "deprecated in v1beta1 and ignored by the controller"
        )
    preset = ws.inference.preset if ws.inference is not None else None
    if preset is not None and preset.access_mode == constants.ACCESS_MODE_PRIVATE:
        review.report.warn("inference.preset.accessMode", "deprecated in v1beta1")
