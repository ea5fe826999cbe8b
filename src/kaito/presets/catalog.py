"""The model catalog: which presets exist and how a name a user writes resolves to one.

A preset name in a Workspace (``inference.preset.name``, ``tuning.preset.name``) resolves here to a
``ModelSpec``: where the weights come from, how big they are, how much KV cache a token costs, which
runtimes and tuning methods support the model and which vLLM parameters it needs. The facts live in
``data/models.yaml``; ``model_spec`` defines the entry (the one statement of its schema) and
``catalog_file`` loads the file once. This module answers lookups the way upstream does (reference
§3.1): case-insensitive, legacy short names as aliases, and any well-formed Hugging Face
``org/repo`` id accepted as a best-effort preset whose size is unknown. It re-exports the entry and
loader names so callers need one import (``catalog.get_model``, ``catalog.ModelSpec``).

Callers: ``kaito.validation`` (is the name valid, deprecated, gated, tunable), the estimator and
engine-argument builders in this package, the manifests and the runtimes (what to download and run).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence

from kaito.presets import vllm_support
from kaito.presets.catalog_file import Catalog, CatalogDataError, load_catalog, parse_catalog
from kaito.presets.errors import DeprecatedPresetError, PresetError, UnknownPresetError
from kaito.presets.model_spec import (
    BEST_EFFORT_DISK_GIB,
    DEEP_GEMM_ARCHITECTURES,
    DEFAULT_TOKEN_LIMIT,
    NVCC_JIT_MODELS,
    LocalFile,
    ModelSpec,
    TransformersParams,
    TuningParams,
    VLLMParams,
    compute_bytes_per_token,
)

__all__ = [
    "BEST_EFFORT_DISK_GIB",
    "DEEP_GEMM_ARCHITECTURES",
    "DEFAULT_TOKEN_LIMIT",
    "NVCC_JIT_MODELS",
    "Catalog",
    "CatalogDataError",
    "DeprecatedPresetError",
    "LocalFile",
    "ModelSpec",
    "PresetError",
    "TransformersParams",
    "TuningParams",
    "UnknownPresetError",
    "VLLMParams",
    "compute_bytes_per_token",
    "get_model",
    "is_valid_preset_name",
    "legacy_aliases",
    "list_models",
    "load_catalog",
    "parse_catalog",
    "vllm_lora_support",
    "vllm_serves",
]

# A Hugging Face repository id: exactly one "/", each part starting alphanumerically.
_HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SUGGESTIONS = 3
_SUGGEST_CUTOFF = 0.6


@functools.lru_cache(maxsize=256)
def _best_effort(name: str) -> ModelSpec:
    """A preset for an arbitrary Hugging Face repo id: served with vLLM, size unknown.

    Cached (specs are immutable) so repeated admission of the same id costs one validation.
    """
    return ModelSpec(
        name=name,
        hf_repo=name,
        disk_gib=BEST_EFFORT_DISK_GIB,
        architectures=(),
        token_limit=None,
        best_effort=True,
        vllm=VLLMParams(dtype="auto", trust_remote_code=False),
    )


def _normalize(text: str) -> str:
    """Lower-case alphanumerics only, so ``Phi3_Mini`` and ``phi-3-mini`` compare equal."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _suggest(name: str, catalog: Catalog) -> tuple[str, ...]:
    """Canonical names of the presets closest to ``name``, best first.

    Ignoring case and punctuation, names that contain the input rank first, then names contained
    in it, then difflib similarity. Repo ids are compared by their repository part.
    """
    target = _normalize(name)
    if not target:
        return ()
    scored: list[tuple[int, float, str]] = []
    for key, spec in catalog.index.items():
        if spec.deprecated:
            continue
        candidate = _normalize(key.rsplit("/", 1)[-1])
        if target in candidate:
            rank = 0
        elif len(candidate) >= 3 and candidate in target:
            rank = 1
        else:
            rank = 2
        ratio = difflib.SequenceMatcher(None, target, candidate).ratio()
        if rank < 2 or ratio >= _SUGGEST_CUTOFF:
            scored.append((rank, -ratio, spec.name))
    suggestions: list[str] = []
    for _, _, spec_name in sorted(scored):
        if spec_name not in suggestions:
            suggestions.append(spec_name)
    return tuple(suggestions[:_SUGGESTIONS])


def get_model(name: str) -> ModelSpec:
    """Resolve a preset name to its ``ModelSpec``.

    Matching is case-insensitive over canonical names, Hugging Face repo ids and aliases (so both
    ``phi-3-mini-128k-instruct`` and ``microsoft/Phi-3-mini-128k-instruct`` work). Any other
    well-formed ``org/repo`` id is accepted as a best-effort preset with unknown size.

    Args:
        name: The preset name as the user wrote it (surrounding whitespace is ignored).

    Returns:
        The catalog entry, or a best-effort spec for an unlisted repo id.

    Raises:
        DeprecatedPresetError: The preset is deprecated (phi-2).
        UnknownPresetError: Neither a known preset nor a well-formed ``org/repo``; carries
            suggestions.
    """
    stripped = name.strip()
    catalog = load_catalog()
    spec = catalog.index.get(stripped.lower())
    if spec is not None:
        if spec.deprecated:
            raise DeprecatedPresetError(spec.name)
        return spec
    if _HF_REPO_RE.match(stripped) and ".." not in stripped and "--" not in stripped:
        return _best_effort(stripped)
    raise UnknownPresetError(name, _suggest(stripped, catalog))


def is_valid_preset_name(name: str) -> bool:
    """Whether ``name`` resolves to a usable preset (deprecated presets are not valid)."""
    try:
        get_model(name)
    except PresetError:
        return False
    return True


def list_models(*, tuning_only: bool = False, include_deprecated: bool = False) -> list[ModelSpec]:
    """Catalog presets sorted by name (case-insensitive).

    Args:
        tuning_only: Only presets that support LoRA/QLoRA tuning.
        include_deprecated: Also list deprecated presets (hidden by default, as they cannot be
            used).
    """
    models = [
        spec
        for spec in load_catalog().models
        if (include_deprecated or not spec.deprecated) and (not tuning_only or spec.supports_tuning)
    ]
    return sorted(models, key=lambda spec: spec.name.lower())


def legacy_aliases() -> dict[str, str]:
    """Upstream's legacy short names mapped to the Hugging Face ids they stand for (§3.1).

    These are the short names the current upstream catalog still accepts; legacy-only presets
    (falcon, phi-2) and kaito-py's own local presets are not part of the map.
    """
    return {
        spec.name: spec.hf_repo
        for spec in load_catalog().models
        if spec.name != spec.hf_repo and not spec.legacy_only and not spec.is_local
    }


def vllm_serves(architectures: Sequence[str]) -> bool | None:
    """Whether vLLM serves any of ``architectures`` (see :mod:`kaito.presets.vllm_support`)."""
    return vllm_support.vllm_serves(architectures)


def vllm_lora_support(architectures: Sequence[str]) -> bool | None:
    """Whether vLLM takes LoRA adapters for such a model; None when unknown."""
    return vllm_support.vllm_lora_support(architectures)
