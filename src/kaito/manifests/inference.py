"""The inference StatefulSet of a Workspace (§2.6, multi-node §3.3).

Every inference Workspace becomes a StatefulSet ``<ws>`` with ``targetNodeCount`` replicas, one pod
per GPU node. For a preset the pod runs ``kaito-serve`` from our runtime image; image adapters are
fetched by init containers running ``kaito pull``; the user's inference ConfigMap is mounted at
``/mnt/config``. With more than one node the pods form a Ray cluster whose head is pod 0
(``POD_INDEX``), which alone serves HTTP. For a custom ``template`` KAITO only wraps the user's pod:
it pins it to the Workspace's nodes and lets it tolerate their taints.
"""

from __future__ import annotations

import copy
import math
import shlex
from typing import Any

from kaito.api import benchmark as api_benchmark
from kaito.api import constants
from kaito.api.v1beta1 import InferenceSpec
from kaito.api.workspace import AnyWorkspace
from kaito.manifests import cuda_toolkit, naming, nodes, podspec, steps
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import ManifestSettings, WorkloadPlan, WorkspaceRef
from kaito.presets import catalog

JSON = podspec.JSON

SERVE_COMMAND = steps.SERVE_PROGRAM
VOLUME_CONFIG = "inference-config"
VOLUME_ADAPTERS = "adapter-volume"
ADAPTER_VOLUME_PREFIX = "adapter-"
_PROBE_PERIOD_S = 10
_LIVENESS_FAILURES = 3
_READINESS_INITIAL_DELAY_S = 30


def adapter_path(name: str) -> str:
    """Directory of adapter ``name`` in the pod; ``kaito-serve`` serves each one under its name."""
    return f"{constants.PATH_ADAPTERS_DIR}/{name}"


def _inference(ws: AnyWorkspace) -> InferenceSpec:
    spec = ws.inference
    if spec is None:
        raise ManifestError("the Workspace has no inference section")
    return spec  # type: ignore[return-value]


def build_statefulset(ws: AnyWorkspace, settings: ManifestSettings, plan: WorkloadPlan) -> JSON:
    """The inference StatefulSet of ``ws``: a preset run by ``kaito-serve``, or a wrapped template.

    Args:
        ws: An inference Workspace.
        settings: Operator settings (runtime image, node provisioner).
        plan: Node count, GPUs per node and revision the controller decided.

    Raises:
        ManifestError: ``ws`` has no inference section, or neither a preset nor a template.
        kaito.presets.errors.PresetError: the preset name is unknown or deprecated.
    """
    ref = WorkspaceRef.of(ws)
    spec = _inference(ws)
    if spec.template is not None:
        pod_template = _wrap_template(ws, ref, settings, spec.template)
    elif spec.preset is not None:
        pod_template = _preset_pod_template(ws, ref, settings, plan, spec)
    else:
        raise ManifestError("inference needs a preset or a template")
    selector = {constants.LABEL_WORKSPACE: ref.name}
    claim = _weights_claim(plan) if spec.template is None else None
    sts: JSON = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": ref.workload_meta(selector, plan.revision),
        "spec": {
            "replicas": plan.node_count,
            "podManagementPolicy": "Parallel",
            "persistentVolumeClaimRetentionPolicy": {
                "whenScaled": "Retain",
                "whenDeleted": "Delete",
            },
            "serviceName": naming.headless_service_name(ref.name),
            "selector": {"matchLabels": selector},
            "template": pod_template,
        },
    }
    if claim is not None:
        sts["spec"]["volumeClaimTemplates"] = [claim]
    return sts


def _weights_claim(plan: WorkloadPlan) -> JSON | None:
    """The ``model-weights-volume`` claim template on a weights StorageClass (§2.6), if planned."""
    if not plan.weights_storage_class:
        return None
    size = f"{plan.disk_gib}Gi" if plan.disk_gib else constants.NODECLAIM_DEFAULT_STORAGE
    return {
        "metadata": {"name": constants.VOLUME_MODEL_WEIGHTS},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": plan.weights_storage_class,
            "resources": {"requests": {"storage": size}},
        },
    }


def _affinity(ws: AnyWorkspace, ref: WorkspaceRef, settings: ManifestSettings) -> JSON | None:
    return podspec.node_affinity(
        naming.selector_labels(ws.resource.label_selector),
        nodes.provisioner_labels(ref.name, ref.namespace, settings.provisioner),
    )


def _wrap_template(
    ws: AnyWorkspace, ref: WorkspaceRef, settings: ManifestSettings, template: dict[str, Any]
) -> JSON:
    # The user's pod is kept as written except for what makes it land on this Workspace's nodes:
    # our label (the selector), our node affinity (replacing theirs) and our tolerations (appended).
    wrapped: JSON = copy.deepcopy(template)
    metadata = wrapped.setdefault("metadata", {}) or {}
    wrapped["metadata"] = metadata
    labels = dict(metadata.get("labels") or {})
    labels[constants.LABEL_WORKSPACE] = ref.name
    metadata["labels"] = {k: labels[k] for k in sorted(labels)}
    pod_spec = wrapped.setdefault("spec", {}) or {}
    wrapped["spec"] = pod_spec
    affinity = _affinity(ws, ref, settings)
    if affinity is None:
        pod_spec.pop("affinity", None)
    else:
        pod_spec["affinity"] = affinity
    pod_spec["tolerations"] = list(pod_spec.get("tolerations") or []) + podspec.gpu_tolerations()
    # metadata first, as in every other pod template we render.
    return {"metadata": wrapped.pop("metadata"), "spec": wrapped.pop("spec"), **wrapped}


def _preset_pod_template(
    ws: AnyWorkspace,
    ref: WorkspaceRef,
    settings: ManifestSettings,
    plan: WorkloadPlan,
    spec: InferenceSpec,
) -> JSON:
    assert spec.preset is not None
    model = catalog.get_model(spec.preset.name)
    runtime = plan.runtime
    multi_node = plan.node_count > 1

    # With a weights StorageClass the weights volume is a per-pod claim (volumeClaimTemplates).
    volumes: list[JSON] = [podspec.dshm_volume()]
    if _weights_claim(plan) is None:
        volumes.append(podspec.model_weights_volume())
    mounts: list[JSON] = [podspec.dshm_mount(), podspec.model_weights_mount()]
    if spec.config:
        volumes.append({"name": VOLUME_CONFIG, "configMap": {"name": spec.config}})
        mounts.append({"name": VOLUME_CONFIG, "mountPath": constants.PATH_CONFIG_DIR})

    init_containers: list[JSON] = []
    image_adapters = [a for a in spec.adapters if a.source is not None and a.source.image]
    if image_adapters:
        volumes.append({"name": VOLUME_ADAPTERS, "emptyDir": {}})
        mounts.append({"name": VOLUME_ADAPTERS, "mountPath": constants.PATH_ADAPTERS_DIR})
    pull_secrets: list[str] = []
    for adapter in image_adapters:
        source = adapter.source
        assert source is not None
        assert source.image
        assert source.name
        pull_secrets += source.image_pull_secrets
        init_containers.append(
            {
                "name": naming.container_name(
                    constants.INIT_CONTAINER_ADAPTER_PULLER_PREFIX, source.name
                ),
                "image": settings.runtime_image,
                "command": list(
                    steps.adapter_pull_step(
                        source.name,
                        source.image,
                        steps.MountPaths(),
                        podspec.docker_config_args(source.image_pull_secrets),
                    ).argv
                ),
                "volumeMounts": [
                    {"name": VOLUME_ADAPTERS, "mountPath": constants.PATH_ADAPTERS_DIR},
                    *podspec.registry_auth_mounts(source.image_pull_secrets),
                ],
            }
        )
    volumes += podspec.registry_auth_volumes(pull_secrets)
    for adapter in spec.adapters:
        source = adapter.source
        if source is None or source.image or source.volume_source is None or not source.name:
            continue
        volume_name = naming.container_name(ADAPTER_VOLUME_PREFIX, source.name)
        volumes.append({"name": volume_name, **copy.deepcopy(source.volume_source)})
        mounts.append({"name": volume_name, "mountPath": adapter_path(source.name)})

    performance_mode = ref.annotations.get(constants.ANNOTATION_PERFORMANCE_MODE) or None
    serve = steps.serve_step(
        model,
        spec.preset.name,
        plan,
        steps.MountPaths(),
        config=bool(spec.config),
        adapters=bool(spec.adapters),
        performance_mode=performance_mode,
        benchmark=api_benchmark.benchmark_enabled(ref.annotations, runtime, has_preset=True),
    )
    serve_args = list(serve.argv[1:])
    env = _container_env(spec, runtime, multi_node)
    # The serve step's own variables (vLLM's kernel switches), as kaito run sets them too.
    env += [{"name": name, "value": value} for name, value in serve.env.items()]
    if model.requires_cuda_toolkit:
        env += cuda_toolkit.build_toolkit_env()
        volumes.append(cuda_toolkit.build_toolkit_volume())
        mounts.append(cuda_toolkit.build_toolkit_mount())
        init_containers.insert(0, cuda_toolkit.build_provisioner(settings.runtime_image))
    ports = [
        {
            "name": constants.PORT_NAME_HTTP,
            "containerPort": constants.PORT_INFERENCE,
            "protocol": "TCP",
        }
    ]
    if runtime == constants.RUNTIME_VLLM:
        ports.append(
            {
                "name": constants.PORT_NAME_KV_EVENTS,
                "containerPort": constants.PORT_KV_EVENTS,
                "protocol": "TCP",
            }
        )
    if multi_node:
        command = ["/bin/sh", "-c", _multi_node_script(ref, plan, serve_args)]
    else:
        command = [SERVE_COMMAND, *serve_args]
    container: JSON = {
        "name": ref.name,
        "image": settings.runtime_image,
        "command": command,
        "ports": ports,
        "env": env,
        "volumeMounts": mounts,
        **_probes(model, ref, plan),
    }
    resources = podspec.gpu_resources(plan.gpus_per_node)
    if resources:
        container["resources"] = resources

    pod_spec: JSON = {}
    affinity = _affinity(ws, ref, settings)
    if affinity is not None:
        pod_spec["affinity"] = affinity
    pod_spec["tolerations"] = podspec.gpu_tolerations()
    # As upstream: every adapter's pull secrets on the pod too, so the kubelet can pull adapter
    # images referenced by sidecars or a user's template patches, not only our puller.
    adapter_secrets = [
        name for a in spec.adapters if a.source is not None for name in a.source.image_pull_secrets
    ]
    if adapter_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in dict.fromkeys(adapter_secrets)]
    if init_containers:
        pod_spec["initContainers"] = init_containers
    pod_spec["containers"] = [container]
    pod_spec["volumes"] = volumes
    return {"metadata": {"labels": {constants.LABEL_WORKSPACE: ref.name}}, "spec": pod_spec}


def _container_env(spec: InferenceSpec, runtime: str, multi_node: bool) -> list[JSON]:
    env: list[JSON] = [{"name": "HF_HOME", "value": constants.PATH_WEIGHTS_DIR}]
    assert spec.preset is not None
    options = spec.preset.preset_options
    if options is not None and options.model_access_secret:
        env.append(podspec.hf_token_env(options.model_access_secret))
    if runtime == constants.RUNTIME_TRANSFORMERS:
        # The transformers runtime weighs each adapter by an env var named after it (§4.3).
        for adapter in spec.adapters:
            if adapter.source is not None and adapter.source.name:
                env.append(
                    {
                        "name": adapter.source.name,
                        "value": adapter.strength or constants.DEFAULT_ADAPTER_STRENGTH,
                    }
                )
    if multi_node:
        env.append(
            {
                "name": constants.ENV_POD_INDEX,
                "valueFrom": {
                    "fieldRef": {"fieldPath": f"metadata.labels['{constants.LABEL_POD_INDEX}']"}
                },
            }
        )
    return env


def startup_failure_threshold(model: catalog.ModelSpec) -> int:
    """Startup probe failures allowed: the readiness timeout in 10 s probe periods (§3.3)."""
    return math.ceil(model.readiness_timeout_s / _PROBE_PERIOD_S)


def _probes(model: catalog.ModelSpec, ref: WorkspaceRef, plan: WorkloadPlan) -> JSON:
    if plan.node_count > 1:
        # Workers serve no HTTP: the leader is probed on /health, a worker on its Ray head.
        handler: JSON = {"exec": {"command": ["/bin/sh", "-c", _multi_node_probe(ref)]}}
    else:
        handler = {
            "httpGet": {
                "path": constants.HEALTH_PATH,
                "port": constants.PORT_INFERENCE,
                "scheme": "HTTP",
            }
        }
    return {
        "startupProbe": {
            **handler,
            "periodSeconds": _PROBE_PERIOD_S,
            "failureThreshold": startup_failure_threshold(model),
        },
        "livenessProbe": {
            **handler,
            "periodSeconds": _PROBE_PERIOD_S,
            "failureThreshold": _LIVENESS_FAILURES,
        },
        "readinessProbe": {
            **handler,
            "initialDelaySeconds": _READINESS_INITIAL_DELAY_S,
            "periodSeconds": _PROBE_PERIOD_S,
        },
    }


def _leader_ray_address(ref: WorkspaceRef) -> str:
    return f"{naming.leader_address(ref.name, ref.namespace)}:{constants.PORT_RAY}"


def _multi_node_probe(ref: WorkspaceRef) -> str:
    health = f"http://127.0.0.1:{constants.PORT_INFERENCE}{constants.HEALTH_PATH}"
    check = f"import urllib.request; urllib.request.urlopen('{health}', timeout=5)"
    return (
        f'if [ "${{{constants.ENV_POD_INDEX}}}" = "0" ]; then python3 -c "{check}"; '
        f"else ray health-check --address {_leader_ray_address(ref)}; fi"
    )


def _multi_node_script(ref: WorkspaceRef, plan: WorkloadPlan, serve_args: list[str]) -> str:
    """Shell run by every pod of a multi-node deployment: pod 0 is the Ray head and the server.

    The head waits until all ``node_count`` nodes joined before starting vLLM, so vLLM's Ray
    executor sees every GPU; workers join the head through the headless Service and block.
    """
    n = plan.node_count
    wait = (
        "import ray, sys; ray.init(address='auto', logging_level='ERROR'); "
        f"sys.exit(0 if sum(1 for node in ray.nodes() if node['Alive']) >= {n} else 1)"
    )
    serve = shlex.join([SERVE_COMMAND, *serve_args])
    return "\n".join(
        [
            f'if [ "${{{constants.ENV_POD_INDEX}}}" = "0" ]; then',
            f"  ray start --head --port={constants.PORT_RAY} --dashboard-host=0.0.0.0 "
            f"--dashboard-port={constants.PORT_RAY_DASHBOARD} --disable-usage-stats",
            f'  until python3 -c "{wait}"; do echo "waiting for {n} Ray nodes"; sleep 5; done',
            f"  exec {serve}",
            "else",
            f"  until ray start --address={_leader_ray_address(ref)} --block "
            "--disable-usage-stats; do",
            '    echo "waiting for the Ray head"; sleep 5',
            "  done",
            "fi",
        ]
    )
