"""Every object the operator creates for one Workspace, from the Workspace alone.

``kaito render`` prints this list so a user can review what a Workspace will do to a cluster before
applying it, and the tests pin it as golden YAML. :func:`plan_workload` makes the decisions the
controller would make without a cluster (SKU table instead of live nodes, the estimator for the node
count), and :func:`build_all` renders them with the same builders the reconcile loop uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from kaito.api import constants
from kaito.api.workspace import AnyWorkspace, workspace_runtime
from kaito.manifests import inference, nodes, podspec, revisions, services, tuning
from kaito.manifests.plan import DEFAULT_NAMESPACE, ManifestSettings, WorkloadPlan
from kaito.presets import catalog, estimator, skus
from kaito.presets.errors import PresetError
from kaito.validation import config_files

JSON = podspec.JSON

SIZING_TUNING = "tuning runs on one node"
SIZING_COUNT = "resource.count"
SIZING_ESTIMATOR = "node estimator"
SIZING_SIZE_UNKNOWN = "resource.count (model size unknown)"
SIZING_GPU_UNKNOWN = "resource.count (GPUs unknown: an unlisted SKU, or nodes not read)"
SIZING_FIXED = "fixed node count"


def plan_workload(
    ws: AnyWorkspace,
    settings: ManifestSettings,
    *,
    node_count: int | None = None,
    gpu: skus.GPUConfig | None = None,
    max_model_len: int | None = None,
    revision: int = 1,
) -> WorkloadPlan:
    """Decide node count, GPUs and disk for ``ws`` the way the controller does (§2.2 step 5, §3.3).

    Args:
        ws: The Workspace.
        settings: Operator settings; ``settings.cloud`` selects the SKU table.
        node_count: A fixed node count (``kaito render --nodes``); otherwise tuning uses 1, the
            transformers runtime and templates ``resource.count``, and vLLM presets the estimator.
        gpu: GPU facts of the nodes (BYO nodes' labels); otherwise looked up by ``instanceType``.
        max_model_len: Context length to size for; default 2048.
        revision: Workspace revision number to stamp on the workload.

    Raises:
        kaito.presets.errors.PresetError: unknown or deprecated preset.
        kaito.presets.estimator.EstimateError: the model does not fit the GPUs.
    """
    if gpu is None and ws.resource.instance_type:
        gpu = skus.get_sku(ws.resource.instance_type, settings.cloud)
    context = max_model_len or constants.DEFAULT_MAX_MODEL_LEN
    # count is deprecated and has no minimum upstream; 0 or less means the default single node.
    count = max(ws.resource.count, constants.DEFAULT_RESOURCE_COUNT)
    runtime = workspace_runtime(ws, settings.gate(constants.FEATURE_VLLM))
    disk: int | None = None
    sizing = SIZING_COUNT
    if ws.tuning is not None:
        # Upstream sizes only inference nodes by the model; tuning nodes get its default 1024Gi OS
        # disk (disk stays None), which also holds the base weights, checkpoints and the adapter.
        nodes_needed, sizing = 1, SIZING_TUNING
        if ws.tuning.preset is not None:
            catalog.get_model(ws.tuning.preset.name)  # unknown or deprecated presets fail here
    elif ws.inference is not None and ws.inference.preset is not None:
        model = catalog.get_model(ws.inference.preset.name)
        disk = model.disk_gib
        if runtime == constants.RUNTIME_TRANSFORMERS:
            nodes_needed = count
        elif gpu is None:
            nodes_needed, sizing = count, SIZING_GPU_UNKNOWN
        else:
            found = estimator.estimate_nodes(model, gpu, context, default_nodes=count)
            nodes_needed = found.nodes
            sizing = SIZING_ESTIMATOR if found.size_known else SIZING_SIZE_UNKNOWN
    else:
        nodes_needed = count
    if node_count is not None:
        nodes_needed, sizing = node_count, SIZING_FIXED
    return WorkloadPlan(
        node_count=nodes_needed,
        gpu=gpu,
        disk_gib=disk,
        revision=revision,
        max_model_len=context,
        runtime=runtime,
        sizing=sizing,
    )


ConfigMapData = Mapping[tuple[str | None, str], Mapping[str, str]]
"""ConfigMap ``data`` keyed by ``(namespace or None, name)`` (``kaito.api.documents``)."""


def config_inputs(ws: AnyWorkspace, configmaps: ConfigMapData) -> tuple[int | None, str | None]:
    """``max-model-len`` and tuning ``output_dir`` from the ConfigMaps ``ws`` references.

    The controller reads them from the cluster; ``kaito render`` from ConfigMaps given next to the
    Workspace. A ConfigMap without a namespace matches any Workspace namespace.
    """
    namespace = ws.metadata.namespace or DEFAULT_NAMESPACE

    def lookup(name: str | None) -> Mapping[str, str] | None:
        if not name:
            return None
        return configmaps.get((namespace, name)) or configmaps.get((None, name))

    max_model_len: int | None = None
    output_dir: str | None = None
    if ws.inference is not None:
        data = lookup(ws.inference.config)
        if data is not None:
            max_model_len = config_files.inference_config_max_model_len(data)
    if ws.tuning is not None:
        data = lookup(ws.tuning.config)
        if data is not None:
            output_dir = tuning.output_dir_of(data.get(constants.CONFIGMAP_KEY_TRAINING))
    return max_model_len, output_dir


def node_estimate(
    ws: AnyWorkspace, settings: ManifestSettings, configmaps: ConfigMapData
) -> dict[str, Any]:
    """The nodes the operator would target, as ``kaito validate`` reports them.

    The same :func:`plan_workload` as ``kaito render``, or the reason it cannot be planned offline.
    """
    base: dict[str, Any] = {"instanceType": ws.resource.instance_type}
    max_model_len, _ = config_inputs(ws, configmaps)
    try:
        plan = plan_workload(ws, settings, max_model_len=max_model_len)
    except (PresetError, ValueError) as exc:
        return {**base, "nodes": None, "error": str(exc)}
    estimate = {**base, "nodes": plan.node_count, "basis": plan.sizing}
    if ws.tuning is None and plan.gpu is not None:
        estimate["gpusPerNode"] = plan.gpu.gpu_count
        estimate["maxModelLen"] = plan.max_model_len
    return estimate


def build_node_objects(
    ws: AnyWorkspace, settings: ManifestSettings, plan: WorkloadPlan
) -> list[JSON]:
    """NodeClaims (gpu-provisioner), one NodePool (karpenter) or nothing (bring-your-own nodes)."""
    provisioner = settings.provisioner
    if provisioner == constants.NODE_PROVISIONER_BYO:
        return []
    if provisioner == constants.NODE_PROVISIONER_KARPENTER:
        return [nodes.build_nodepool(ws, settings, plan)]
    return nodes.build_nodeclaims(ws, settings, plan)


def build_all(ws: AnyWorkspace, settings: ManifestSettings, plan: WorkloadPlan) -> list[JSON]:
    """Every object the operator would create for ``ws``, in the order it creates them.

    ControllerRevision, ConfigMaps (the copied default training config), node objects, then Services
    and the StatefulSet for inference or the Job for tuning.
    """
    objects: list[JSON] = [revisions.build_controller_revision(ws, plan.revision)]
    if ws.tuning is not None:
        objects += tuning.build_tuning_configmaps(ws)
    objects += build_node_objects(ws, settings, plan)
    if ws.inference is not None:
        objects.append(services.build_service(ws, plan.runtime))
        objects.append(services.build_headless_service(ws))
        objects.append(inference.build_statefulset(ws, settings, plan))
    elif ws.tuning is not None:
        objects.append(tuning.build_tuning_job(ws, settings, plan))
    return objects


class _ManifestDumper(yaml.SafeDumper):
    """YAML for people: no anchors/aliases, block style, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_str)


def dump_yaml(objects: list[JSON]) -> str:
    """``objects`` as one multi-document YAML stream, byte-stable for equal input.

    Keys keep the builders' order (``apiVersion``, ``kind``, ``metadata`` first, as kubectl users
    read them); that order is fixed by the code, never by hashing, so the output is deterministic.
    """
    return yaml.dump_all(
        objects,
        Dumper=_ManifestDumper,
        sort_keys=False,
        default_flow_style=False,
        explicit_start=True,
        width=100,
        allow_unicode=True,
    )
