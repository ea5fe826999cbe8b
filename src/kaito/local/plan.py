"""The steps of a local run: which runtime command runs, with which arguments, in which order.

This is the local counterpart of the operator's pod manifests (``kaito.manifests.tuning`` and
``kaito.manifests.engines``) and deliberately runs the same commands:

- tuning: ``kaito fetch-data URL... --dest <mnt>/data`` (URL input) or
  ``kaito pull IMAGE <mnt>/data`` (image input); then ``kaito-tune --model MODEL``
  configured like the pod through ``YAML_FILE_PATH`` and ``DATASET_FOLDER_PATH``; then
  ``kaito push <results> IMAGE`` (image output); with ``--serve``, ``kaito-serve`` with the
  new adapter;
- inference: ``kaito pull IMAGE <adapters>/<name>`` per image adapter, then ``kaito-serve``.

The pod's ``/mnt`` becomes ``<state>/workspaces/<name>/mnt``: the training config's ``output_dir``
(``/mnt/results`` by default) is rewritten under it. A ``hostPath`` volume is the local form of a
volume: its ``path`` is used directly (input data folder, output folder, adapter folder). Other
volume kinds (a PVC, a cloud disk) have no meaning on one machine and are refused.

Everything here is pure: paths and argv are computed, nothing is started or written.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from kaito.api import benchmark as api_benchmark
from kaito.api import constants, v1beta1
from kaito.local import store as local_store
from kaito.presets import catalog

STEP_FETCH_DATA = "fetch-data"
STEP_PULL_DATA = "pull-data"
STEP_TUNE = "tune"
STEP_PUSH = "push"
STEP_SERVE = "serve"
STEP_PULL_ADAPTER_PREFIX = "pull-adapter-"
LOCAL_HOST = "127.0.0.1"
TUNE_STOP_GRACE_SECONDS = 180.0
DEFAULT_PORT = constants.PORT_INFERENCE
CONFIG_SUBDIR = "config"
DATA_SUBDIR = "data"
INFERENCE_CONFIG_FILE = "inference_config.yaml"
HOST_PATH_KEY = "hostPath"
_KAITO_MAIN = "from kaito.cli.main import main; main()"
_SCRIPT_MAINS = {
    "kaito": _KAITO_MAIN,
    "kaito-tune": "from kaito.cli.tune import main; main()",
    "kaito-serve": "from kaito.cli.serve import main; main()",
}


class PlanError(Exception):
    """The Workspace asks for something that has no local meaning; the message names the field."""


@dataclass(frozen=True)
class Step:
    """One supervised process of a run."""

    name: str
    """Also the log file name (``logs/<name>.log``)."""
    argv: tuple[str, ...]
    kind: Literal["job", "server"]
    """``job`` runs to completion (exit 0 is success); ``server`` runs until stopped."""
    description: str
    """What the user sees when the step starts."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the inherited environment."""
    stop_grace_seconds: float = 10.0
    """SIGTERM-to-SIGKILL delay when the step is stopped."""


@dataclass(frozen=True)
class Link:
    """A folder made available under another path before the steps run (a symlink)."""

    target: Path
    link: Path


@dataclass(frozen=True)
class LocalPlan:
    """Everything a run does, in order."""

    steps: tuple[Step, ...]
    links: tuple[Link, ...] = ()
    """Adapter folders linked into the adapters dir before serving."""
    files: Mapping[Path, str] = field(default_factory=dict)
    """Files written before the first step (the training or inference config)."""
    output_dir: Path | None = None
    """Where the adapter lands (tuning)."""
    copy_output_to: Path | None = None
    """A ``hostPath`` output volume: the adapter files are copied there after training."""
    push_image: str | None = None
    """The ``output.image`` a push step sends the adapter to."""
    port: int | None = None
    served_model: str | None = None
    adapter_names: tuple[str, ...] = ()
    benchmark: bool = False
    """The server benchmarks itself before ``/health`` passes (its log holds the result)."""


def runtime_command(name: str) -> list[str]:
    """How to start one of our console scripts: next to this Python, on PATH, or via ``-c``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return [str(beside)]
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-c", _SCRIPT_MAINS[name]]


def host_path(
    volume: Mapping[str, Any] | None, field_path: str, base_dir: Path | None = None
) -> Path:
    """The local folder of a volume source: its ``hostPath.path``.

    A relative path (meaningless to a kubelet, handy in a repository) is taken relative to
    ``base_dir``, the Workspace file's folder.

    Raises:
        PlanError: the volume is of another kind.
    """
    spec = (volume or {}).get(HOST_PATH_KEY)
    path = spec.get("path") if isinstance(spec, Mapping) else None
    if not isinstance(path, str) or not path:
        kinds = ", ".join(sorted(volume or {})) or "none"
        raise PlanError(
            f"{field_path}: only hostPath volumes can be used on one machine (got: {kinds}); "
            f"write it as volumeSource: {{hostPath: {{path: /a/local/folder}}}}"
        )
    local = Path(path).expanduser()
    if not local.is_absolute() and base_dir is not None:
        local = base_dir / local
    return local


def model_source(spec: catalog.ModelSpec, model_dir: Path | None) -> str:
    """The ``--model`` value: an override folder, a local preset's name, or the hub repo id."""
    if model_dir is not None:
        return str(model_dir)
    return spec.name if spec.is_local else spec.hf_repo


def rewrite_output_dir(config_text: str, mnt: Path) -> tuple[str, Path]:
    """Move the config's ``TrainingArguments.output_dir`` from ``/mnt`` to the local ``mnt``.

    Returns:
        The new config text and the local output folder.

    Raises:
        PlanError: the config is not YAML or ``output_dir`` lies outside ``/mnt``.
    """
    try:
        document = yaml.safe_load(config_text) or {}
    except yaml.YAMLError as exc:
        raise PlanError(f"{constants.CONFIGMAP_KEY_TRAINING} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise PlanError(f"{constants.CONFIGMAP_KEY_TRAINING} must be a mapping")
    root = document.setdefault(constants.TRAINING_CONFIG_ROOT, {}) or {}
    document[constants.TRAINING_CONFIG_ROOT] = root
    if not isinstance(root, dict):
        raise PlanError(f"{constants.TRAINING_CONFIG_ROOT} must be a mapping")
    args = root.setdefault(constants.TRAINING_SECTION_TRAINING_ARGUMENTS, {}) or {}
    root[constants.TRAINING_SECTION_TRAINING_ARGUMENTS] = args
    raw = str(args.get(constants.TRAINING_KEY_OUTPUT_DIR) or constants.PATH_RESULTS_DIR)
    pod_root = Path(constants.PATH_MNT)
    pod_path = Path(raw) if Path(raw).is_absolute() else pod_root / raw
    try:
        relative = pod_path.relative_to(pod_root)
    except ValueError as exc:
        raise PlanError(
            f"TrainingArguments.output_dir '{raw}' must be a sub-directory of {pod_root}"
        ) from exc
    if not relative.parts or ".." in relative.parts:
        raise PlanError(
            f"TrainingArguments.output_dir '{raw}' must be a sub-directory of {pod_root}"
        )
    local = mnt / relative
    args[constants.TRAINING_KEY_OUTPUT_DIR] = str(local)
    return yaml.safe_dump(document, sort_keys=False), local


def _serve_step(
    model: str,
    served_name: str,
    engine: str,
    port: int,
    adapters_dir: Path,
    config_file: Path | None,
    benchmark: bool = False,
) -> Step:
    argv = [
        *runtime_command("kaito-serve"),
        f"--engine={engine}",
        f"--model={model}",
        f"--served-model-name={served_name}",
        f"--host={LOCAL_HOST}",
        f"--port={port}",
        f"--kaito-adapters-dir={adapters_dir}",
    ]
    if benchmark:
        argv.append("--kaito-benchmark")
    if config_file is not None:
        argv.append(f"--kaito-config-file={config_file}")
    return Step(
        name=STEP_SERVE,
        argv=tuple(argv),
        kind="server",
        description=f"starting kaito-serve ({engine}) for {served_name} on {LOCAL_HOST}:{port}",
    )


def plan_tuning(
    ws: v1beta1.Workspace,
    store: local_store.StateStore,
    *,
    config_text: str,
    serve: bool,
    port: int,
    engine: str,
    model_dir: Path | None = None,
    base_dir: Path | None = None,
) -> LocalPlan:
    """The steps of a tuning Workspace (see the module docstring)."""
    spec = ws.tuning
    name = ws.metadata.name or ""
    if spec is None or spec.preset is None:
        raise PlanError("tuning.preset is required")
    model = catalog.get_model(spec.preset.name)
    mnt = store.mnt_dir(name)
    config_text, output_dir = rewrite_output_dir(config_text, mnt)
    config_path = mnt / CONFIG_SUBDIR / constants.CONFIGMAP_KEY_TRAINING
    steps: list[Step] = []
    source = spec.input
    data_dir = mnt / DATA_SUBDIR
    if source.urls:
        steps.append(
            Step(
                name=STEP_FETCH_DATA,
                argv=(
                    *runtime_command("kaito"),
                    "fetch-data",
                    *source.urls,
                    "--dest",
                    str(data_dir),
                ),
                kind="job",
                description=f"fetching {len(source.urls)} training file(s)",
            )
        )
    elif source.image:
        steps.append(
            Step(
                name=STEP_PULL_DATA,
                argv=(*runtime_command("kaito"), "pull", source.image, str(data_dir)),
                kind="job",
                description=f"pulling the training data image {source.image}",
            )
        )
    elif source.volume_source is not None:
        data_dir = host_path(source.volume_source, "tuning.input.volumeSource", base_dir)
    else:
        raise PlanError("tuning.input needs urls, an image or a volumeSource")

    env = {
        constants.ENV_YAML_FILE_PATH: str(config_path),
        constants.ENV_DATASET_FOLDER_PATH: str(data_dir),
        "KAITO_TUNING_OUTPUT_ROOT": str(mnt),
        "KAITO_METRICS_PORT": "0",
    }
    if model.tuning_target_modules:
        env[constants.ENV_DEFAULT_TARGET_MODULES] = ",".join(model.tuning_target_modules)
    steps.append(
        Step(
            name=STEP_TUNE,
            argv=(
                *runtime_command("kaito-tune"),
                "--model",
                model_source(model, model_dir),
                "--method",
                (spec.method or constants.TUNING_METHOD_LORA).lower(),
                "--progress",
                "json",
            ),
            kind="job",
            description=f"fine-tuning {spec.preset.name} with {(spec.method or 'lora').lower()}",
            env=env,
            # kaito-tune checkpoints at the end of the current step on SIGTERM: give it time.
            stop_grace_seconds=TUNE_STOP_GRACE_SECONDS,
        )
    )
    destination = spec.output
    copy_to: Path | None = None
    if destination.image:
        steps.append(
            Step(
                name=STEP_PUSH,
                argv=(*runtime_command("kaito"), "push", str(output_dir), destination.image),
                kind="job",
                description=f"pushing the adapter to {destination.image}",
            )
        )
    elif destination.volume_source is not None:
        copy_to = host_path(destination.volume_source, "tuning.output.volumeSource", base_dir)
    else:
        raise PlanError("tuning.output needs an image or a volumeSource")

    links: list[Link] = []
    adapters: tuple[str, ...] = ()
    if serve:
        adapters_dir = store.adapters_dir(name)
        links.append(Link(target=output_dir, link=adapters_dir / name))
        adapters = (name,)
        steps.append(
            _serve_step(
                model_source(model, model_dir),
                spec.preset.name,
                engine,
                port,
                adapters_dir,
                None,
            )
        )
    return LocalPlan(
        steps=tuple(steps),
        links=tuple(links),
        files={config_path: config_text},
        output_dir=output_dir,
        copy_output_to=copy_to,
        push_image=destination.image,
        port=port if serve else None,
        served_model=spec.preset.name if serve else None,
        adapter_names=adapters,
    )


def plan_inference(
    ws: v1beta1.Workspace,
    store: local_store.StateStore,
    *,
    config_text: str | None,
    port: int,
    engine: str,
    model_dir: Path | None = None,
    base_dir: Path | None = None,
) -> LocalPlan:
    """The steps of an inference Workspace: pull image adapters, then serve."""
    spec = ws.inference
    name = ws.metadata.name or ""
    if spec is None:
        raise PlanError("the Workspace has no inference section")
    if spec.template is not None:
        raise PlanError(
            "inference.template (a custom pod) cannot run on one machine; use inference.preset"
        )
    if spec.preset is None:
        raise PlanError("inference.preset is required")
    model = catalog.get_model(spec.preset.name)
    adapters_dir = store.adapters_dir(name)
    steps: list[Step] = []
    links: list[Link] = []
    names: list[str] = []
    for index, adapter in enumerate(spec.adapters):
        source = adapter.source
        field_path = f"inference.adapters[{index}].source"
        if source is None or not source.name:
            raise PlanError(f"{field_path}.name is required")
        names.append(source.name)
        if source.image:
            steps.append(
                Step(
                    name=f"{STEP_PULL_ADAPTER_PREFIX}{source.name}",
                    argv=(
                        *runtime_command("kaito"),
                        "pull",
                        source.image,
                        str(adapters_dir / source.name),
                    ),
                    kind="job",
                    description=f"pulling adapter {source.name} from {source.image}",
                )
            )
        elif source.volume_source is not None:
            links.append(
                Link(
                    target=host_path(source.volume_source, f"{field_path}.volumeSource", base_dir),
                    link=adapters_dir / source.name,
                )
            )
        else:
            raise PlanError(f"{field_path} needs an image or a volumeSource")
    files: dict[Path, str] = {}
    config_file: Path | None = None
    if config_text is not None:
        config_file = store.mnt_dir(name) / CONFIG_SUBDIR / INFERENCE_CONFIG_FILE
        files[config_file] = config_text
    benchmark = api_benchmark.benchmark_enabled(ws.metadata.annotations, engine, has_preset=True)
    steps.append(
        _serve_step(
            model_source(model, model_dir),
            spec.preset.name,
            engine,
            port,
            adapters_dir,
            config_file,
            benchmark,
        )
    )
    return LocalPlan(
        steps=tuple(steps),
        links=tuple(links),
        files=files,
        port=port,
        served_model=spec.preset.name,
        adapter_names=tuple(names),
        benchmark=benchmark,
    )
