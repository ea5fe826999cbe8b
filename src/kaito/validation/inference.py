"""Rules on ``inference``: preset or template, the model/runtime fit, secrets and adapters (§1.5).

``check_inference_create`` is upstream's ``InferenceSpec.validateCreate``; the resource-side checks
of an inference Workspace (SKU, nodes, GPU memory) live in :mod:`kaito.validation.resource`.
Adapters are validated on create and update alike.
"""

from __future__ import annotations

import math

from kaito.api import constants, names
from kaito.api.data_sources import AdapterSpec
from kaito.presets import catalog
from kaito.validation.config_files import inference_config_errors
from kaito.validation.context import LookupUnavailableError
from kaito.validation.review import Review
from kaito.validation.sources import check_source_create


def check_inference_create(review: Review) -> None:
    """Create-time checks of the inference spec."""
    inference = review.ws.inference
    if inference is None:
        return
    if inference.preset is None and inference.template is None:
        review.report.error("inference", "Preset or Template must be specified")
    if inference.preset is not None and inference.template is not None:
        review.report.error(
            "inference.preset, inference.template",
            "Preset and Template cannot be set at the same time",
        )
    preset = inference.preset
    if preset is not None:
        _check_preset(review)
        options = preset.preset_options
        if preset.access_mode == constants.ACCESS_MODE_PRIVATE and (
            options is None or not options.image
        ):
            review.report.error(
                "inference.preset.presetOptions.image",
                "When AccessMode is private, an image must be provided in PresetOptions",
            )
    check_adapters(review)


def _check_preset(review: Review) -> None:
    inference = review.ws.inference
    assert inference is not None
    assert inference.preset is not None
    preset = inference.preset
    resolution = review.resolve_model(preset.name)
    model = resolution.model
    if model is None:
        if not resolution.deprecated:  # deprecated presets are reported by the resource checks
            message = f"Unsupported inference preset name {preset.name}"
            if resolution.suggestions:
                message += f"; did you mean {', '.join(resolution.suggestions)}?"
            review.report.error("inference.preset.name", message)
        return
    architectures = _hub_architectures(review, model)
    if architectures and catalog.vllm_serves(architectures) is False:
        review.report.error(
            "inference.preset.name",
            f"failed to get model preset: model {model.hf_repo} has architectures "
            f"{', '.join(architectures)}, none of which vLLM supports",
        )
    runtime = review.runtime
    if runtime == constants.RUNTIME_TRANSFORMERS and not model.transformers_runtime:
        review.report.error(
            "inference.preset.name",
            f"Runtime validation: model {model.name} does not support inference with "
            "Huggingface Transformers runtime",
        )
    if runtime == constants.RUNTIME_VLLM:
        for index, adapter in enumerate(inference.adapters):
            if adapter.strength is not None:
                review.report.error(
                    f"inference.adapters[{index}].strength",
                    "Runtime validation: vLLM does not support adapter strength",
                )
    secret = getattr(preset.preset_options, "model_access_secret", None)
    secret_path = "inference.preset.presetOptions.modelAccessSecret"
    if model.download_at_runtime:
        if model.gated and not secret:
            # Upstream v0.12.0 admits this (its catalog presets carry no download-auth flag), so
            # we admit it too and say what the pod will need: refusing broke upstream's examples.
            message = (
                "This preset requires authentication and needs a modelAccessSecret with HF_TOKEN "
                "key under presetOptions to download the model; admitted, but the inference pod "
                "will fail to download the weights without a Hugging Face token"
            )
            if review.beta:
                review.report.warn(secret_path, message)
            else:
                review.report.warn(
                    "inference.preset.name",
                    f"{message}; modelAccessSecret exists only in {constants.API_VERSION_V1BETA1}",
                )
    elif secret:
        # Upstream rejects this, but at HEAD every catalog model downloads at runtime, so the
        # rule never fires there; our catalog keeps older per-preset flags, hence only a warning.
        review.report.warn(
            secret_path,
            "This preset does not require a modelAccessSecret with HF_TOKEN key under "
            "presetOptions; it is ignored",
        )


def _hub_architectures(review: Review, model: catalog.ModelSpec) -> tuple[str, ...]:
    """The model's architectures; for an unlisted repo, read from the hub (create only).

    Without a hub the rule is reported as not checked; a repository the hub says does not exist
    is an error, as upstream's preset generator fails on it.
    """
    repo = model.hf_repo
    if not model.best_effort or repo in review.hub_architectures:
        return _known_architectures(review, model)
    path = "inference.preset.name"
    found: tuple[str, ...] = ()
    what = f"whether vLLM supports the architecture of {repo}"
    if review.ctx.hub is None:
        review.report.not_checked(path, f"{what} (no Hugging Face hub here)")
    else:
        try:
            found = tuple(review.ctx.hub.model_architectures(repo))
        except LookupUnavailableError as exc:
            review.report.not_checked(path, f"{what} ({exc})")
        except LookupError as exc:
            review.report.error(path, f"failed to get model preset: {exc}")
    review.hub_architectures[repo] = found
    return found


def _known_architectures(review: Review, model: catalog.ModelSpec) -> tuple[str, ...]:
    """The catalog's architectures, or what the hub said about an unlisted repo in this run."""
    if model.best_effort:
        return review.hub_architectures.get(model.hf_repo, ())
    return tuple(model.architectures)


def _check_lora_support(review: Review) -> None:
    """Refuse LoRA adapters on vLLM for models whose vLLM implementation does not take them."""
    inference = review.ws.inference
    if inference is None or inference.preset is None or not inference.adapters:
        return
    if review.runtime != constants.RUNTIME_VLLM:
        return
    model = review.resolve_model(inference.preset.name).model
    if model is None:
        return
    architectures = _known_architectures(review, model)
    if architectures and catalog.vllm_lora_support(architectures) is False:
        review.report.error(
            "inference.adapters",
            "Runtime validation: vLLM does not support LoRA adapters for this model",
        )


def _check_strength(review: Review, path: str, adapter: AdapterSpec, name: str) -> None:
    raw = adapter.strength if adapter.strength is not None else constants.DEFAULT_ADAPTER_STRENGTH
    try:
        value = float(raw)
    except ValueError:
        review.report.error(
            path, f"Invalid strength value for Adapter '{name}': {raw!r} is not a number"
        )
        return
    if math.isnan(value) or value < 0 or value > 1.0:
        review.report.error(path, f"Strength value for Adapter '{name}' must be between 0 and 1")


def check_adapters(review: Review) -> None:
    """Count, names, sources and strengths of the adapters (create and update)."""
    inference = review.ws.inference
    if inference is None:
        return
    adapters = inference.adapters
    if len(adapters) > constants.MAX_ADAPTERS:
        review.report.error(
            "inference.adapters",
            "Number of Adapters exceeds the maximum limit, maximum of "
            f"{constants.MAX_ADAPTERS} allowed",
        )
    seen: set[str] = set()
    for index, adapter in enumerate(adapters):
        path = f"inference.adapters[{index}]"
        source = adapter.source
        if source is None:
            review.report.error(f"{path}.source", "missing field(s): source")
            continue
        name = source.name or ""
        if not name:
            review.report.error(f"{path}.source.name", "Name of Adapter field must be specified")
        else:
            problems = names.dns1123_subdomain_errors(name)
            if problems:
                review.report.error(f"{path}.source.name", ", ".join(problems))
            if name in seen:
                review.report.error(
                    f"{path}.source.name", f"Duplicate adapter source name found: {name}"
                )
            seen.add(name)
        if source.urls:
            review.report.error(f"{path}.source.urls", "URLs are not supported as adapter source")
        elif not source.image and source.volume_source is None:
            review.report.error(
                f"{path}.source", "Either Image or Volume must be specified for adapter source"
            )
        else:
            check_source_create(review, f"{path}.source", source)
        _check_strength(review, f"{path}.strength", adapter, name)
    _check_lora_support(review)


def check_inference_update(review: Review) -> None:
    """Update rules: preset immutable, template not added/removed, adapters re-validated."""
    old = review.old.inference if review.old is not None else None
    new = review.ws.inference
    if old is None or new is None:
        return
    old_preset = old.preset.to_wire() if old.preset is not None else None
    new_preset = new.preset.to_wire() if new.preset is not None else None
    if old_preset != new_preset:
        review.report.error("inference.preset", "field is immutable")
    if (old.template is None) != (new.template is None):
        review.report.error("inference.template", "field cannot be unset/set if it was set/unset")
    check_adapters(review)


def check_inference_config(review: Review) -> None:
    """The ``inference.config`` ConfigMap must exist and hold a valid vLLM config (vLLM only)."""
    inference = review.ws.inference
    if inference is None or not inference.config:
        return
    if review.runtime != constants.RUNTIME_VLLM:
        review.report.warn("inference.config", "ignored: only the vLLM runtime reads it")
        return
    name, namespace = inference.config, review.namespace
    try:
        data = review.ctx.lookup.get_configmap(namespace, name)
    except LookupUnavailableError as exc:
        review.report.not_checked("inference.config", f"inference ConfigMap ({exc})")
        return
    if data is None:
        review.report.error(
            "inference.config",
            f"ConfigMap '{name}' specified in 'config' not found in namespace '{namespace}'",
        )
        return
    token_limit = None
    if inference.preset is not None:
        model = review.resolve_model(inference.preset.name).model
        token_limit = model.token_limit if model is not None else None
    for problem in inference_config_errors(data, name, token_limit):
        review.report.error("inference.config", problem)
