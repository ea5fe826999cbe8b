"""Rules on ``resource``: instance type vs. node provisioning, SKUs, nodes and GPU memory (§1.5).

Create-time checks depend on the node-provisioning mode:

- auto-provisioning (NAP): ``instanceType`` is required and must be a known SKU of the cloud (Azure
  also admits unlisted ``Standard_N*``/``Standard_D*`` names); partitions are refused.
- bring-your-own nodes (BYO): ``instanceType`` must be empty; GPU facts come from the GPU Feature
  Discovery labels of the nodes matching the selector, which must exist and be uniform; a
  partition (MIG slice or accelerators) is validated instead.

The total GPU memory check runs where the node count is fixed by the user (BYO, the transformers
runtime, and always for ``v1alpha1``); with NAP and vLLM the node estimator sizes the Workspace.
"""

from __future__ import annotations

from kaito.api import constants, names, selectors, v1alpha1, v1beta1
from kaito.presets import catalog, mig, skus
from kaito.validation.context import LookupUnavailableError
from kaito.validation.review import Review


def format_gib(value: float) -> str:
    """``80`` → ``80Gi``, ``7.12`` → ``7.12Gi`` (the Kubernetes quantity spelling)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}Gi"


def _partition(review: Review) -> v1beta1.PartitionSpec | None:
    resource = review.ws.resource
    return resource.partition if isinstance(resource, v1beta1.ResourceSpec) else None


def check_instance_type_mode(review: Review) -> None:
    """v1beta1 create: instanceType required with NAP, forbidden with BYO."""
    if not review.beta:
        return
    instance_type = review.ws.resource.instance_type
    if review.nap_disabled:
        if instance_type:
            review.report.error(
                "resource.instanceType",
                "instanceType must be empty when node auto-provisioning is disabled (BYO scenario)",
            )
        elif not review.nap_known:
            review.report.warn(
                "resource.instanceType",
                "node provisioner unknown: treated as bring-your-own nodes because instanceType is "
                "empty (pass --node-provisioner to check against your cluster's mode)",
            )
    elif not instance_type:
        review.report.error(
            "resource.instanceType",
            "instanceType is required when node auto-provisioning is enabled",
        )


def check_label_selector_syntax(review: Review) -> None:
    """MatchLabels keys and values must be valid labels (they are written onto nodes)."""
    selector = review.ws.resource.label_selector
    for key, value in selector.match_labels.items():
        path = f"resource.labelSelector.matchLabels[{key}]"
        problems = names.label_key_errors(key)
        if problems:
            review.report.error(path, f"invalid label key {key!r}: " + ", ".join(problems))
        problems = names.label_value_errors(value)
        if problems:
            review.report.error(path, f"invalid label value {value!r}: " + ", ".join(problems))


def _selector_usable(review: Review) -> bool:
    """The selector converts to a map and has a non-reserved label; reports otherwise."""
    selector = review.ws.resource.label_selector
    try:
        selectors.label_selector_as_map(selector)
    except selectors.SelectorError as exc:
        review.report.error("resource.labelSelector", str(exc))
        return False
    for key in selector.match_labels:
        if selectors.is_reserved_selector_key(key):
            review.report.warn(
                f"resource.labelSelector.matchLabels[{key}]",
                f"labelSelector contains reserved KAITO label {key!r}; it will be ignored",
            )
    if review.beta and selector.match_labels and not selectors.sanitized_match_labels(selector):
        review.report.error(
            "resource.labelSelector.matchLabels",
            "matchLabels must contain at least one non-reserved label",
        )
        return False
    return True


def check_resource_with_inference(review: Review) -> None:
    """Create-time resource checks of an inference Workspace."""
    inference = review.ws.inference
    assert inference is not None
    model: catalog.ModelSpec | None = None
    if inference.preset is not None:
        resolution = review.resolve_model(inference.preset.name)
        if resolution.model is None:
            if resolution.deprecated:
                review.report.error(
                    "inference.preset.name",
                    f"Model {inference.preset.name.lower()} is deprecated and no longer supported",
                )
            return  # the inference spec checks report unknown names
        model = resolution.model
    if not _selector_usable(review):
        return
    if not review.beta:
        _check_v1alpha1_sku_and_memory(review, model)
        return
    if review.nap_disabled:
        gpu, count = _byo_gpu_config(review, model)
    else:
        if _partition(review) is not None:
            review.report.error(
                "resource.partition",
                "GPU partitioning is only supported with BYO nodes "
                "(disableNodeAutoProvisioning=true)",
            )
            return
        gpu = _sku_config(review)
        count = review.ws.resource.count
    if model is None or gpu is None:
        return
    if review.nap_disabled or review.runtime != constants.RUNTIME_VLLM:
        _check_total_memory(review, model, gpu, count)


def _sku_config(review: Review) -> skus.GPUConfig | None:
    instance_type = review.ws.resource.instance_type
    if not instance_type:
        return None  # reported by check_instance_type_mode
    cloud = review.ctx.cloud_provider
    gpu = skus.get_sku(instance_type, cloud)
    if gpu is not None:
        return gpu
    accepted = cloud == constants.CLOUD_AZURE and skus.is_accepted_unknown_azure_sku(instance_type)
    if accepted:
        review.report.warn(
            "resource.instanceType",
            f"instance type {instance_type} is not in the {cloud} SKU table; accepted by name, "
            "but GPU memory cannot be checked",
        )
    else:
        supported = ",".join(s.sku for s in skus.list_skus(cloud))
        review.report.error(
            "resource.instanceType",
            f"Unsupported instance type {instance_type}. Supported SKUs: {supported}",
        )
    return None


def _byo_gpu_config(
    review: Review, model: catalog.ModelSpec | None
) -> tuple[skus.GPUConfig | None, int]:
    """GPU config and count of the BYO nodes matching the selector (None, 0 when unknown)."""
    partition = _partition(review)
    if partition is not None:
        _check_partition(review, partition, model)
        return None, 0
    if model is None:
        return None, 0  # a custom template: GPU needs unknown, nodes not inspected
    labels = selectors.sanitized_match_labels(review.ws.resource.label_selector)
    try:
        nodes = review.ctx.lookup.list_nodes(labels)
    except LookupUnavailableError as exc:
        review.report.not_checked(
            "resource.labelSelector", f"nodes matching the label selector ({exc})"
        )
        return None, 0
    if not nodes:
        review.report.error(
            "resource.labelSelector", "No nodes found matching the specified label selector"
        )
        return None, 0
    config: skus.GPUConfig | None = None
    for node in nodes:
        gpu = skus.gpu_config_from_node_labels(node.labels)
        if gpu is None:
            missing = [k for k in constants.GFD_REQUIRED_LABELS if k not in node.labels]
            detail = f"missing {', '.join(missing)}" if missing else "invalid GPU label values"
            review.report.error(
                "resource.labelSelector",
                f"Failed to get GPU config from nvidia labels on node {node.name}: {detail}",
            )
            return None, 0
        if config is None:
            config = gpu
            continue
        if gpu.gpu_model != config.gpu_model:
            review.report.error(
                "resource.labelSelector",
                f"Non-uniform GPU product: node {node.name} has {gpu.gpu_model} GPUs, but previous "
                f"node has {config.gpu_model} GPUs, all nodes must have the same GPU product for "
                "homogeneous placement",
            )
            return None, 0
        if gpu.gpu_count != config.gpu_count:
            review.report.error(
                "resource.labelSelector",
                f"Non-uniform GPU count: node {node.name} has {gpu.gpu_count} GPUs, but previous "
                f"node has {config.gpu_count} GPUs",
            )
            return None, 0
        if gpu.total_memory_gib != config.total_memory_gib:
            review.report.error(
                "resource.labelSelector",
                f"Non-uniform GPU memory: node {node.name} has {format_gib(gpu.total_memory_gib)} "
                f"memory, but previous node has {format_gib(config.total_memory_gib)} memory",
            )
            return None, 0
    return config, len(nodes)


def _check_partition(
    review: Review, partition: v1beta1.PartitionSpec, model: catalog.ModelSpec | None
) -> None:
    if partition.mode == constants.PARTITION_MODE_MIG:
        if not review.ctx.gate(constants.FEATURE_ENABLE_MIG):
            review.report.error(
                "resource.partition",
                "MIG support is not enabled, set feature gate enableMIG=true",
            )
            return
        if partition.count is not None:
            review.report.error(
                "resource.partition.count", "count is only valid for accelerator mode"
            )
            return
        profile = mig.get_mig_profile(partition.profile or "")
        if profile is None:
            review.report.error(
                "resource.partition.profile",
                f'unsupported MIG profile "{partition.profile or ""}"',
            )
            return
        if (
            model is not None
            and model.weights_gib is not None
            and profile.memory_gib < model.weights_gib
        ):
            message = (
                f"Model {model.name} requires at least {format_gib(model.weights_gib)} for "
                f"weights, which exceeds the {profile.name} MIG slice capacity of "
                f"{format_gib(profile.memory_gib)}"
            )
            if review.bypass_resource_checks:
                review.report.warn("resource.partition", f"Bypassing resource check: {message}")
            else:
                review.report.error("resource.partition", message)
        return
    if not review.ctx.gate(constants.FEATURE_ENABLE_ACCELERATOR):
        review.report.error(
            "resource.partition",
            "accelerator partition support is not enabled, set feature gate enableAccelerator=true",
        )
        return
    if partition.profile:
        review.report.error(
            "resource.partition.profile", "profile is not valid for accelerator mode"
        )
    if partition.count is None:
        review.report.error("resource.partition.count", "missing field(s): partition.count")


def _check_total_memory(
    review: Review, model: catalog.ModelSpec, gpu: skus.GPUConfig, count: int
) -> None:
    if model.weights_gib is None or count < 1:
        return
    total = count * gpu.total_memory_gib
    label = review.ws.resource.instance_type or gpu.sku
    if total < model.weights_gib:
        message = (
            f"Insufficient total GPU memory: Instance type {label} has a total of "
            f"{format_gib(total)}, but preset {model.name} requires at least "
            f"{format_gib(model.weights_gib)}"
        )
        if review.bypass_resource_checks:
            review.report.warn("resource.instanceType", f"Bypassing resource check: {message}")
        else:
            review.report.error("resource.instanceType", message)
    if (
        review.beta
        and model.supports_distributed
        and model.weights_gib > gpu.total_memory_gib
        and review.runtime == constants.RUNTIME_TRANSFORMERS
    ):
        review.report.error(
            "resource",
            "Multi-node distributed inference is not supported with Huggingface Transformers "
            "runtime",
        )


def _check_v1alpha1_sku_and_memory(review: Review, model: catalog.ModelSpec | None) -> None:
    resource = review.ws.resource
    if not resource.instance_type:
        review.report.error("resource.instanceType", "instanceType is required")
        return
    gpu = _sku_config(review)
    if model is not None and gpu is not None:
        _check_total_memory(review, model, gpu, resource.count)


def check_resource_with_tuning(review: Review) -> None:
    """Tuning runs on one node and never on a partition."""
    if review.ws.resource.count > 1:
        review.report.error(
            "resource.count",
            "Tuning does not currently support multinode configurations. Please set the node "
            "count to 1. Future support with DeepSpeed will allow this.",
        )
    if _partition(review) is not None:
        review.report.error(
            "resource.partition", "GPU partitioning is not supported for tuning workloads"
        )
    _selector_usable(review)


def check_resource_update(review: Review) -> None:
    """Immutable fields of ``resource`` (§1.5 UPDATE)."""
    assert review.old is not None
    new, old = review.ws.resource, review.old.resource
    report = review.report
    if new.count != old.count:
        report.error("resource.count", "field is immutable")
    if isinstance(new, v1beta1.ResourceSpec) and isinstance(old, v1beta1.ResourceSpec):
        old_partition = old.partition.to_wire() if old.partition else None
        new_partition = new.partition.to_wire() if new.partition else None
        if old_partition != new_partition:
            report.error("resource.partition", "field is immutable")
    if isinstance(new, v1alpha1.ResourceSpec):
        if new.instance_type != old.instance_type:
            report.error("resource.instanceType", "field is immutable")
    elif review.nap_disabled:
        if not old.instance_type:
            if new.instance_type:
                report.error(
                    "resource.instanceType",
                    "instanceType must be empty when node auto-provisioning is disabled (BYO "
                    "scenario)",
                )
        elif new.instance_type and new.instance_type != old.instance_type:
            report.error("resource.instanceType", "instanceType cannot be changed once set")
    elif not new.instance_type:
        report.error(
            "resource.instanceType",
            "instanceType is required when node auto-provisioning is enabled",
        )
    elif old.instance_type and old.instance_type != new.instance_type:
        report.error(
            "resource.instanceType",
            "instanceType cannot be changed once set when node auto-provisioning is enabled",
        )
    try:
        new_labels = selectors.label_selector_as_map(new.label_selector)
        old_labels = selectors.label_selector_as_map(old.label_selector)
    except selectors.SelectorError:
        report.error("resource.labelSelector", "Only allow matchLabels or 'IN' matchExpression")
        return
    if new_labels != old_labels:
        report.error("resource.labelSelector", "field is immutable")
