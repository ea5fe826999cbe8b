"""Rules on ``metadata``: the Workspace name and the annotations KAITO reads (§1.4, §1.5).

Annotation values are checked for ``v1beta1`` only, as upstream does; ``v1alpha1`` objects keep the
older, unchecked behaviour.
"""

from __future__ import annotations

from kaito.api import constants, names
from kaito.validation.context import LookupUnavailableError
from kaito.validation.review import Review


def annotation_path(key: str) -> str:
    """Field path of an annotation, e.g. ``metadata.annotations[kaito.sh/runtime]``."""
    return f"metadata.annotations[{key}]"


def check_name(review: Review) -> None:
    """``metadata.name`` must be a DNS-1123 label (it names Services and StatefulSets)."""
    meta = review.ws.metadata
    if not meta.name:
        if not meta.generate_name:
            review.report.error("metadata.name", "name or generateName is required")
        return
    problems = names.dns1123_label_errors(meta.name)
    if problems:
        review.report.error("metadata.name", ", ".join(problems))


def check_annotations(review: Review, *, changed_only_from: dict[str, str] | None = None) -> None:
    """Values of the user-settable annotations (v1beta1).

    Args:
        review: the run.
        changed_only_from: on update, the old annotations; only changed values are re-checked.
    """
    if not review.beta:
        return
    annotations = review.annotations

    def changed(key: str) -> bool:
        if key not in annotations:
            return False
        return changed_only_from is None or changed_only_from.get(key) != annotations[key]

    key = constants.ANNOTATION_NODE_IMAGE_FAMILY
    if changed(key) and annotations[key].strip().lower() not in constants.NODE_IMAGE_FAMILIES:
        review.report.error(
            annotation_path(key),
            f'unsupported node image family "{annotations[key]}", supported values are '
            + ", ".join(constants.NODE_IMAGE_FAMILIES),
        )
    key = constants.ANNOTATION_PERFORMANCE_MODE
    if changed(key) and annotations[key] not in constants.PERFORMANCE_MODES:
        review.report.error(
            annotation_path(key),
            f'"{annotations[key]}" is not a valid performance mode; choose one of: '
            + ", ".join(constants.PERFORMANCE_MODES),
        )
    key = constants.ANNOTATION_USE_LOCAL_WEIGHTS
    if changed(key) and annotations[key] not in constants.BOOLEAN_ANNOTATION_VALUES:
        review.report.error(annotation_path(key), f'"{annotations[key]}" must be "true" or "false"')
    key = constants.ANNOTATION_RUNTIME
    if changed(key) and annotations[key].strip().lower() not in constants.RUNTIMES:
        review.report.error(
            annotation_path(key),
            f'unsupported runtime "{annotations[key]}", supported values are '
            + ", ".join(constants.RUNTIMES),
        )
    key = constants.ANNOTATION_NODE_CLASS_NAME
    if changed(key):
        _check_node_class(review, annotations[key])


def _check_node_class(review: Review, value: str) -> None:
    if not value:
        return  # an empty annotation means the default NodeClass, as upstream
    path = annotation_path(constants.ANNOTATION_NODE_CLASS_NAME)
    provisioner = review.ctx.node_provisioner
    if provisioner is None:
        review.report.not_checked(path, "the node provisioner is unknown here")
        return
    if provisioner != constants.NODE_PROVISIONER_KARPENTER:
        review.report.warn(
            path,
            f"ignored: only used with the {constants.NODE_PROVISIONER_KARPENTER} node provisioner",
        )
        return
    allowed = review.ctx.karpenter_node_classes
    if allowed is None:
        review.report.not_checked(path, "the configured Karpenter node classes are unknown here")
    elif value not in allowed:
        review.report.error(
            path,
            f'"{value}" is not a KAITO-managed NodeClass, supported values are '
            f"[{' '.join(allowed)}]",
        )


def check_model_streaming_immutable(review: Review) -> None:
    """On update with the ModelStreaming gate, the streaming annotation may not change."""
    if review.old is None or not review.ctx.gate(constants.FEATURE_MODEL_STREAMING):
        return
    key = constants.ANNOTATION_MODEL_STREAMING
    if review.old.metadata.annotations.get(key) != review.annotations.get(key):
        review.report.error(annotation_path(key), f"annotation {key} is immutable after creation")


def check_streaming_csi_driver(review: Review) -> None:
    """ModelStreaming needs the cloud's blob CSI driver (Azure only) for vLLM preset inference."""
    inference = review.ws.inference
    if (
        not review.ctx.gate(constants.FEATURE_MODEL_STREAMING)
        or inference is None
        or inference.preset is None
        or review.annotations.get(constants.ANNOTATION_MODEL_STREAMING)
        == constants.MODEL_STREAMING_DISABLED
        or review.runtime != constants.RUNTIME_VLLM
    ):
        return
    path = "metadata.annotations"
    if review.ctx.cloud_provider != constants.CLOUD_AZURE:
        review.report.error(
            path, f'unsupported cloud provider "{review.ctx.cloud_provider}" for model streaming'
        )
        return
    driver = constants.CSI_DRIVER_AZURE_BLOB
    try:
        exists = review.ctx.lookup.csi_driver_exists(driver)
    except LookupUnavailableError as exc:
        review.report.not_checked(path, f"CSI driver {driver} for model streaming ({exc})")
        return
    if not exists:
        review.report.error(
            path,
            f"CSI driver {driver} not found; required for model streaming. Ensure the CSI driver "
            "is enabled on your cluster",
        )
