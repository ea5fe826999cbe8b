"""The tuning Job of a Workspace (§2.10) and the default training ConfigMaps (§2.9).

A tuning Workspace becomes a Job ``<ws>`` whose pod runs our commands from the runtime image:

* an init container putting the training data into ``/mnt/data``: ``kaito fetch-data URL... --dest
  /mnt/data`` for URLs; for an image input, the data image itself (pulled by the kubelet with the
  input's ``imagePullSecrets``) copies its ``/data`` -- upstream's layout for data images -- with
  ``cp``, so it needs a shell (e.g. ``FROM busybox``); ``kaito pull`` is for adapter artifacts only.
  A volume input is simply mounted there;
* the main container ``kaito-tune``, configured the upstream way through ``YAML_FILE_PATH`` and
  ``DATASET_FOLDER_PATH`` with the training ConfigMap at ``/mnt/config``;
* for an image output, a ``pusher`` container that waits for the sentinel
  ``<output_dir>/fine_tuning_completed.txt`` and runs ``kaito push``. The trainer's container writes
  a ``fine_tuning_failed.txt`` marker if it fails, so the pusher exits instead of waiting forever
  and the Job fails rather than hanging.

The training ConfigMap is the user's ``tuning.config`` or, when none is given, a copy of the default
``lora-params-template`` / ``qlora-params-template`` in the Workspace namespace
(:func:`build_default_tuning_configmap`), whose content ships as ``kaito.api`` package data.
"""

from __future__ import annotations

import copy
import shlex

from kaito.api import constants, default_configs
from kaito.api.v1beta1 import TuningSpec
from kaito.api.workspace import AnyWorkspace
from kaito.manifests import naming, nodes, podspec, steps
from kaito.manifests.errors import ManifestError
from kaito.manifests.plan import ManifestSettings, WorkloadPlan, WorkspaceRef
from kaito.presets import catalog
from kaito.validation import config_files

JSON = podspec.JSON

INIT_CONTAINER_DATA_PULLER = "data-puller"
# Upstream's contract for data images: the files live under /data in the image (§5).
DATA_IMAGE_COPY = f"cp -R /data/. {constants.PATH_DATA_DIR}/"
VOLUME_CONFIG = "training-config"
VOLUME_DATA = "data-volume"
VOLUME_RESULTS = "results-volume"
FAILED_SENTINEL_FILE = "fine_tuning_failed.txt"
PYTORCH_CUDA_ALLOC_CONF = "expandable_segments:True"
DEFAULT_BACKOFF_LIMIT = 6


def load_default_tuning_config(method: str) -> str:
    """The default ``training_config.yaml`` text for ``lora`` or ``qlora`` (upstream's templates).

    Raises:
        ManifestError: ``method`` is neither ``lora`` nor ``qlora``.
    """
    return _template_text(default_tuning_configmap_name(method))


def default_tuning_configmap_name(method: str) -> str:
    """``lora-params-template`` or ``qlora-params-template`` (§2.9).

    Raises:
        ManifestError: ``method`` is neither ``lora`` nor ``qlora``.
    """
    name = default_configs.default_tuning_configmap_name(method.strip())
    if name is None:
        raise ManifestError(f"unknown tuning method {method!r}; expected one of: lora, qlora")
    return name


def _template_text(template_name: str) -> str:
    """The ``training_config.yaml`` of a default template (``kaito.api`` package data)."""
    text = default_configs.load_default_training_config(template_name)
    if text is None:
        raise ManifestError(f"{template_name!r} is not a default tuning template")
    return text


def build_default_tuning_configmap(method: str, namespace: str | None) -> JSON:
    """The default training ConfigMap for ``method`` in ``namespace``.

    The operator ships it in its own namespace (``config/tuning``) and copies it into a Workspace's
    namespace when the Workspace names no ``tuning.config``; both copies come from this function.
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": podspec.object_meta(default_tuning_configmap_name(method), namespace),
        "data": {constants.CONFIGMAP_KEY_TRAINING: load_default_tuning_config(method)},
    }


def output_dir_of(training_config: str | None) -> str | None:
    """``TrainingArguments.output_dir`` of a training config, if it names one.

    The Job mounts the results volume there and the pusher watches for the sentinel in it, so the
    plan must carry it (``WorkloadPlan.tuning_output_dir``); read by the same function the
    webhook's rules use (:func:`kaito.validation.config_files.training_output_dir`).
    """
    return config_files.training_output_dir(training_config)


def _tuning(ws: AnyWorkspace) -> TuningSpec:
    spec = ws.tuning
    if spec is None:
        raise ManifestError("the Workspace has no tuning section")
    return spec  # type: ignore[return-value]


def training_configmap_name(ws: AnyWorkspace) -> str:
    """The ConfigMap the Job mounts: the user's ``tuning.config`` or the default for the method."""
    spec = _tuning(ws)
    return spec.config or default_tuning_configmap_name(spec.method or constants.TUNING_METHOD_LORA)


def build_tuning_configmaps(ws: AnyWorkspace) -> list[JSON]:
    """ConfigMaps the operator creates for a tuning Workspace: the default template's copy."""
    spec = _tuning(ws)
    if spec.config:
        return []
    ref = WorkspaceRef.of(ws)
    return [
        build_default_tuning_configmap(spec.method or constants.TUNING_METHOD_LORA, ref.namespace)
    ]


def build_tuning_job(ws: AnyWorkspace, settings: ManifestSettings, plan: WorkloadPlan) -> JSON:
    """The tuning Job of ``ws`` (§2.10), built from our runtime commands.

    Args:
        ws: A tuning Workspace.
        settings: Operator settings (runtime image, node provisioner).
        plan: GPUs per node, revision, and ``tuning_output_dir`` (the config's ``output_dir``).

    Raises:
        ManifestError: ``ws`` has no tuning section, no preset, or input/output names no source.
        kaito.presets.errors.PresetError: the preset name is unknown or deprecated.
    """
    ref = WorkspaceRef.of(ws)
    spec = _tuning(ws)
    if spec.preset is None:
        raise ManifestError("tuning.preset is required")
    model = catalog.get_model(spec.preset.name)
    output_dir = plan.tuning_output_dir.rstrip("/") or constants.PATH_RESULTS_DIR

    volumes: list[JSON] = [
        podspec.dshm_volume(),
        podspec.model_weights_volume(),
        {"name": VOLUME_CONFIG, "configMap": {"name": training_configmap_name(ws)}},
    ]
    data_mount = {"name": VOLUME_DATA, "mountPath": constants.PATH_DATA_DIR}
    results_mount = {"name": VOLUME_RESULTS, "mountPath": output_dir}
    main_mounts: list[JSON] = [
        podspec.dshm_mount(),
        podspec.model_weights_mount(),
        {"name": VOLUME_CONFIG, "mountPath": constants.PATH_CONFIG_DIR},
        dict(data_mount),
        dict(results_mount),
    ]
    init_containers = _data_init_containers(spec, settings, data_mount)
    source = spec.input
    if source.volume_source is not None and not source.urls and not source.image:
        volumes.append({"name": VOLUME_DATA, **copy.deepcopy(source.volume_source)})
    else:
        volumes.append({"name": VOLUME_DATA, "emptyDir": {}})

    destination = spec.output
    containers: list[JSON] = []
    paths = steps.MountPaths()
    tune_step = steps.tune_step(model, paths)
    pod_env = {
        constants.ENV_PYTORCH_CUDA_ALLOC_CONF: PYTORCH_CUDA_ALLOC_CONF,
        "HF_HOME": constants.PATH_WEIGHTS_DIR,
    }
    # The step's own variables, with the target modules (if any) after the pod's two.
    first, last = dict(tune_step.env), {}
    if constants.ENV_DEFAULT_TARGET_MODULES in first:
        last[constants.ENV_DEFAULT_TARGET_MODULES] = first.pop(constants.ENV_DEFAULT_TARGET_MODULES)
    env: list[JSON] = [{"name": k, "value": v} for k, v in {**first, **pod_env, **last}.items()]
    options = spec.preset.preset_options
    if options is not None and options.model_access_secret:
        env.append(podspec.hf_token_env(options.model_access_secret))
    tune = list(tune_step.argv)
    # With an image output, a failure marker lets the pusher stop waiting (see module docstring).
    failed = f"{output_dir}/{FAILED_SENTINEL_FILE}"
    main_command = (
        [
            "/bin/sh",
            "-c",
            f"{shlex.join(tune)} || {{ rc=$?; touch {shlex.quote(failed)}; exit $rc; }}",
        ]
        if destination.image
        else tune
    )
    main: JSON = {
        "name": ref.name,
        "image": settings.runtime_image,
        "command": main_command,
        "ports": [
            {"name": "metrics", "containerPort": constants.PORT_INFERENCE, "protocol": "TCP"}
        ],
        "env": env,
        "volumeMounts": main_mounts,
    }
    resources = podspec.gpu_resources(plan.gpus_per_node)
    if resources:
        main["resources"] = resources

    if destination.image:
        volumes.append({"name": VOLUME_RESULTS, "emptyDir": {}})
        push_secrets = [destination.image_push_secret] if destination.image_push_secret else []
        volumes += podspec.registry_auth_volumes(push_secrets)
        containers.append(main)
        containers.append(
            _pusher(settings, model, output_dir, destination.image, push_secrets, results_mount)
        )
    elif destination.volume_source is not None:
        volumes.append({"name": VOLUME_RESULTS, **copy.deepcopy(destination.volume_source)})
        containers.append(main)
    else:
        raise ManifestError("tuning.output needs an image or a volumeSource")

    pod_spec: JSON = {"restartPolicy": "Never"}
    if len(containers) > 1:
        pod_spec["shareProcessNamespace"] = True
    affinity = podspec.node_affinity(
        naming.selector_labels(ws.resource.label_selector),
        nodes.provisioner_labels(ref.name, ref.namespace, settings.provisioner),
    )
    if affinity is not None:
        pod_spec["affinity"] = affinity
    pod_spec["tolerations"] = podspec.gpu_tolerations()
    if source.image and source.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in source.image_pull_secrets]
    if init_containers:
        pod_spec["initContainers"] = init_containers
    pod_spec["containers"] = containers
    pod_spec["volumes"] = volumes

    labels = {constants.LABEL_WORKSPACE: ref.name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": ref.workload_meta(labels, plan.revision),
        "spec": {
            "backoffLimit": DEFAULT_BACKOFF_LIMIT,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _data_init_containers(
    spec: TuningSpec, settings: ManifestSettings, data_mount: JSON
) -> list[JSON]:
    source = spec.input
    if source.urls:
        return [
            {
                "name": constants.INIT_CONTAINER_DATA_DOWNLOADER,
                "image": settings.runtime_image,
                "command": list(steps.fetch_data_step(source.urls, steps.MountPaths()).argv),
                "volumeMounts": [dict(data_mount)],
            }
        ]
    if source.image:
        # The data image itself runs as the init container: the kubelet pulls it with the pod's
        # imagePullSecrets, and it copies its /data into the shared volume.
        return [
            {
                "name": INIT_CONTAINER_DATA_PULLER,
                "image": source.image,
                "command": ["sh", "-c", DATA_IMAGE_COPY],
                "volumeMounts": [dict(data_mount)],
            }
        ]
    if source.volume_source is not None:
        return []
    raise ManifestError("tuning.input needs urls, an image or a volumeSource")


def _pusher(
    settings: ManifestSettings,
    model: catalog.ModelSpec,
    output_dir: str,
    image: str,
    push_secrets: list[str],
    results_mount: JSON,
) -> JSON:
    done = f"{output_dir}/{constants.TUNING_SENTINEL_FILE}"
    failed = f"{output_dir}/{FAILED_SENTINEL_FILE}"
    auth = podspec.docker_config_args(push_secrets)
    push = shlex.join(steps.push_step(model, output_dir, image, ["--wait-for", done, *auth]).argv)
    script = "\n".join(
        [
            f"until [ -f {shlex.quote(done)} ] || [ -f {shlex.quote(failed)} ]; do sleep 5; done",
            f"if [ -f {shlex.quote(done)} ]; then exec {push}; fi",
            'echo "tuning failed; nothing to push" >&2',
            "exit 1",
        ]
    )
    return {
        "name": constants.CONTAINER_PUSHER,
        "image": settings.runtime_image,
        "command": ["/bin/sh", "-c", script],
        "volumeMounts": [dict(results_mount), *podspec.registry_auth_mounts(push_secrets)],
    }
