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
from typing import Literal

from kaito.api import benchmark as api_benchmark
from kaito.api import constants, v1beta1
from kaito.local import store as local_store
from kaito.local.volumes import HOST_PATH_KEY as HOST_PATH_KEY
from kaito.local.volumes import PlanError as PlanError
from kaito.local.volumes import host_path as host_path
from kaito.local.volumes import rewrite_output_dir as rewrite_output_dir
from kaito.manifests import steps
from kaito.manifests.plan import WorkloadPlan
from kaito.presets import catalog

STEP_FETCH_DATA = steps.STEP_FETCH_DATA
STEP_PULL_DATA = "pull-data"
STEP_TUNE = steps.STEP_TUNE
STEP_PUSH = steps.STEP_PUSH
STEP_SERVE = steps.STEP_SERVE
STEP_PULL_ADAPTER_PREFIX = steps.STEP_PULL_ADAPTER_PREFIX
LOCAL_HOST = "127.0.0.1"
TUNE_STOP_GRACE_SECONDS = 180.0
DEFAULT_PORT = constants.PORT_INFERENCE
_KAITO_MAIN = "from kaito.cli.main import main; main()"
_SCRIPT_MAINS = {
    "kaito": _KAITO_MAIN,
    "kaito-tune": "from kaito.cli.tune import main; main()",
    "kaito-serve": "from kaito.cli.serve import main; main()",
}


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


def _local_argv(command: steps.StepCommand, *extra: str) -> tuple[str, ...]:
    """``command``'s argv with its program mapped to this installation's executable."""
    return (*runtime_command(command.argv[0]), *command.argv[1:], *extra)


def _paths(store: local_store.StateStore, name: str) -> steps.MountPaths:
    """The pod's ``/mnt`` below the run's folder; adapters in the run's adapters folder."""
    return steps.MountPaths(str(store.mnt_dir(name)), adapters=str(store.adapters_dir(name)))


def _model_dir(model_dir: Path | None) -> str | None:
    return str(model_dir) if model_dir is not None else None


def _serve_step(
    model: catalog.ModelSpec,
    served_name: str,
    engine: str,
    port: int,
    paths: steps.MountPaths,
    *,
    config: bool,
    adapters: bool,
    model_dir: Path | None,
    performance_mode: str | None = None,
    benchmark: bool = False,
) -> Step:
    """The pod's ``kaito-serve`` step on one node of this machine (no GPU facts: CPU flags)."""
    command = steps.serve_step(
        model,
        served_name,
        WorkloadPlan(node_count=1, gpu=None, runtime=engine),
        paths,
        config=config,
        adapters=adapters,
        performance_mode=performance_mode,
        port=port,
        model_dir=_model_dir(model_dir),
        in_cluster=False,
        benchmark=benchmark,
    )
    return Step(
        name=STEP_SERVE,
        argv=_local_argv(command, f"--host={LOCAL_HOST}"),
        kind="server",
        description=f"starting kaito-serve ({engine}) for {served_name} on {LOCAL_HOST}:{port}",
        env=command.env,
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
    paths = _paths(store, name)
    config_text, output_dir = rewrite_output_dir(config_text, mnt)
    config_path = Path(paths.training_config)
    planned: list[Step] = []
    source = spec.input
    data_dir = Path(paths.data_dir)
    if source.urls:
        planned.append(
            Step(
                name=STEP_FETCH_DATA,
                argv=_local_argv(steps.fetch_data_step(source.urls, paths)),
                kind="job",
                description=f"fetching {len(source.urls)} training file(s)",
            )
        )
    elif source.image:
        # In a pod the kubelet pulls the data image itself; here kaito pull fetches its layers.
        planned.append(
            Step(
                name=STEP_PULL_DATA,
                argv=_local_argv(steps.pull_step(STEP_PULL_DATA, source.image, str(data_dir))),
                kind="job",
                description=f"pulling the training data image {source.image}",
            )
        )
    elif source.volume_source is not None:
        data_dir = host_path(source.volume_source, "tuning.input.volumeSource", base_dir)
    else:
        raise PlanError("tuning.input needs urls, an image or a volumeSource")

    tune = steps.tune_step(model, paths, data_dir=str(data_dir), model_dir=_model_dir(model_dir))
    method = (spec.method or constants.TUNING_METHOD_LORA).lower()
    planned.append(
        Step(
            name=STEP_TUNE,
            argv=_local_argv(tune, "--method", method, "--progress", "json"),
            kind="job",
            description=f"fine-tuning {spec.preset.name} with {method}",
            env={**tune.env, "KAITO_TUNING_OUTPUT_ROOT": str(mnt), "KAITO_METRICS_PORT": "0"},
            # kaito-tune checkpoints at the end of the current step on SIGTERM: give it time.
            stop_grace_seconds=TUNE_STOP_GRACE_SECONDS,
        )
    )
    destination = spec.output
    copy_to: Path | None = None
    if destination.image:
        planned.append(
            Step(
                name=STEP_PUSH,
                argv=_local_argv(steps.push_step(model, str(output_dir), destination.image)),
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
        planned.append(
            _serve_step(
                model,
                spec.preset.name,
                engine,
                port,
                paths,
                config=False,
                adapters=True,
                model_dir=model_dir,
            )
        )
    return LocalPlan(
        steps=tuple(planned),
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
    paths = _paths(store, name)
    adapters_dir = store.adapters_dir(name)
    planned: list[Step] = []
    links: list[Link] = []
    names: list[str] = []
    for index, adapter in enumerate(spec.adapters):
        source = adapter.source
        field_path = f"inference.adapters[{index}].source"
        if source is None or not source.name:
            raise PlanError(f"{field_path}.name is required")
        names.append(source.name)
        if source.image:
            pull = steps.adapter_pull_step(source.name, source.image, paths)
            planned.append(
                Step(
                    name=pull.name,
                    argv=_local_argv(pull),
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
    if config_text is not None:
        files[Path(paths.inference_config)] = config_text
    performance_mode = ws.metadata.annotations.get(constants.ANNOTATION_PERFORMANCE_MODE) or None
    benchmark = api_benchmark.benchmark_enabled(ws.metadata.annotations, engine, has_preset=True)
    planned.append(
        _serve_step(
            model,
            spec.preset.name,
            engine,
            port,
            paths,
            config=config_text is not None,
            adapters=bool(names),
            model_dir=model_dir,
            performance_mode=performance_mode,
            benchmark=benchmark,
        )
    )
    return LocalPlan(
        steps=tuple(planned),
        links=tuple(links),
        files=files,
        port=port,
        served_model=spec.preset.name,
        adapter_names=tuple(names),
        benchmark=benchmark,
    )


def build_plan(
    ws: v1beta1.Workspace, store: local_store.StateStore, run: local_store.LocalRun
) -> LocalPlan:
    """Rebuild the plan of a recorded run (the same inputs give the same plan)."""
    options = run.options
    model_dir = Path(options.model_dir) if options.model_dir else None
    port = options.port or DEFAULT_PORT
    base_dir = Path(options.source).resolve().parent if options.source else None
    if ws.tuning is not None:
        return plan_tuning(
            ws,
            store,
            config_text=options.tuning_config or "",
            serve=options.serve,
            port=port,
            engine=options.engine,
            model_dir=model_dir,
            base_dir=base_dir,
        )
    return plan_inference(
        ws,
        store,
        config_text=options.inference_config,
        port=port,
        engine=options.engine,
        model_dir=model_dir,
        base_dir=base_dir,
    )
