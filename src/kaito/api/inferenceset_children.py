"""The child Workspaces of an InferenceSet, as pure functions of the set.

The webhook validates each would-be child with the Workspace rules, the controller creates them,
and ``kaito render``/``kaito run`` show or run them: all three build the child here, so what is
validated is exactly what is created. A child is named by the API server (``generateName:
<set>-``), carries the ``inferenceset.kaito.sh/created-by`` label (the selector the set publishes
in ``status.selector`` for the scale subresource) and an annotation with the hash of the template
it was made from, which is how the controller recognises outdated replicas for a rolling update.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from kaito.api import constants, v1beta1
from kaito.api.inferenceset import AnyInferenceSet, InferenceSet, to_storage
from kaito.api.meta import ObjectMeta, OwnerReference


def template_hash(iset: AnyInferenceSet) -> str:
    """A short hash of everything a child Workspace is made from.

    The template and the label selector: changing either makes existing replicas outdated.
    Replicas, nodeCountLimit, the update strategy, annotations of the set and the template's
    labels do not: labels are synced onto existing replicas in place (:func:`child_labels`), as
    upstream does.
    """
    stored = to_storage(iset)
    template = stored.spec.template.to_wire()
    metadata = template.pop("metadata", None) or {}
    metadata.pop("labels", None)
    if metadata:
        template["metadata"] = metadata
    content = {
        "template": template,
        "labelSelector": stored.spec.label_selector.to_wire(),
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return digest[:16]


def child_selector(name: str) -> str:
    """``status.selector``: the label selector matching the set's child Workspaces."""
    return f"{constants.LABEL_INFERENCESET_CREATED_BY}={name}"


def build_child_workspace(iset: AnyInferenceSet, *, byo: bool) -> v1beta1.Workspace:
    """The Workspace one replica of ``iset`` is.

    Args:
        iset: The InferenceSet (any version).
        byo: Nodes are brought by the user (the ``byo`` provisioner): the instance type is not
            copied, as upstream leaves it empty there.
    """
    stored: InferenceSet = to_storage(iset)
    template = stored.spec.template
    meta = stored.metadata
    name = meta.name or ""
    template_meta = template.metadata or ObjectMeta()
    labels = child_labels(stored)
    annotations = dict(template_meta.annotations)
    annotations[constants.ANNOTATION_INFERENCESET_TEMPLATE_HASH] = template_hash(stored)
    for key in (constants.ANNOTATION_DISABLE_BENCHMARK, constants.ANNOTATION_RUNTIME):
        if key in meta.annotations and key not in annotations:
            annotations[key] = meta.annotations[key]
    owners = []
    if meta.uid:
        owners.append(
            OwnerReference(
                api_version=constants.API_VERSION_V1BETA1,
                kind=constants.KIND_INFERENCESET,
                name=name,
                uid=meta.uid,
                controller=True,
                block_owner_deletion=True,
            )
        )
    return v1beta1.Workspace(
        metadata=ObjectMeta(
            generate_name=f"{name}-",
            namespace=meta.namespace,
            labels=labels,
            annotations=annotations,
            owner_references=owners,
        ),
        resource=v1beta1.ResourceSpec(
            instance_type=None if byo else template.resource.instance_type,
            label_selector=stored.spec.label_selector,
            partition=template.resource.partition,
        ),
        inference=template.inference.model_copy(deep=True),
    )


def child_labels(iset: AnyInferenceSet) -> dict[str, str]:
    """The labels every child carries: the template's, the set's inference role, created-by."""
    stored = to_storage(iset)
    labels = dict((stored.spec.template.metadata or ObjectMeta()).labels)
    role = stored.metadata.labels.get(constants.LABEL_INFERENCE_ROLE)
    if role is not None:
        labels[constants.LABEL_INFERENCE_ROLE] = role
    labels[constants.LABEL_INFERENCESET_CREATED_BY] = stored.metadata.name or ""
    return labels


def update_strategy_type(iset: AnyInferenceSet) -> str:
    """``RollingUpdate`` (default) or ``OnDelete``."""
    value = iset.spec.update_strategy.get("type") or constants.UPDATE_STRATEGY_ROLLING
    return str(value)


def max_unavailable(iset: AnyInferenceSet) -> int:
    """How many replicas a rolling update may take down at once (at least 1).

    ``rollingUpdate.maxUnavailable`` is an integer or a percentage of ``spec.replicas`` (rounded
    down, as a StatefulSet does); default 1.

    Raises:
        ValueError: the value is neither (validation reports it; the controller then uses 1).
    """
    rolling = iset.spec.update_strategy.get("rollingUpdate") or {}
    value: Any = rolling.get("maxUnavailable", 1) if isinstance(rolling, dict) else 1
    if isinstance(value, bool):
        raise ValueError(f"maxUnavailable must be an integer or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"maxUnavailable must be at least 1, got {value}")
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        percent = int(value[:-1])
        if percent < 1 or percent > 100:
            raise ValueError(f"maxUnavailable percentage must be 1%..100%, got {value!r}")
        return max(1, math.floor(iset.spec.replicas * percent / 100))
    raise ValueError(f"maxUnavailable must be an integer or a percentage, got {value!r}")
