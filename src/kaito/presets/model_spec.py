"""The catalog entry: one frozen pydantic model that is the preset schema, stated once.

``ModelSpec`` is at the same time the shape of an entry in ``data/models.yaml`` (read with its
camelCase aliases, unknown keys refused), the object the rest of kaito passes around (snake_case
attributes, immutable, hashable), the ``kaito presets list|show -o json`` output (``to_dict``) and
the JSON Schema ``kaito presets schema`` publishes (``json_schema``). A field added here therefore
appears in the data, the output and the schema together; nothing else lists the keys.

Facts derived from others are filled in when an entry is validated, so every path (the packaged
file, a test document, a best-effort repo id) derives them the same way: the KV-cache bytes per
token from the attention geometry, and vLLM's ``auto`` dtype for quantized checkpoints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    WithJsonSchema,
    computed_field,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "BEST_EFFORT_DISK_GIB",
    "DEEP_GEMM_ARCHITECTURES",
    "DEFAULT_TOKEN_LIMIT",
    "NVCC_JIT_MODELS",
    "LocalFile",
    "ModelSpec",
    "TransformersParams",
    "TuningParams",
    "VLLMParams",
    "compute_bytes_per_token",
]

# Node disk requested for a model whose size is unknown (upstream's fallback storage request).
BEST_EFFORT_DISK_GIB = 1024
# max_position_embeddings assumed by upstream when a config does not give it.
DEFAULT_TOKEN_LIMIT = 2048

# Readiness timeout: 15 min plus 18 s per GiB of weights, clamped to [30 min, 180 min] (§3.3).
_READINESS_BASE_S = 15 * 60
_READINESS_PER_GIB_S = 18
_READINESS_MIN_S = 30 * 60
_READINESS_MAX_S = 180 * 60

_COMMIT_RE = re.compile(r"/commit/([0-9a-f]{7,40})$")

# Architectures whose FP8 GEMMs only run on DeepGEMM kernels, which vLLM JIT-compiles with nvcc
# (upstream's RequiresDeepGEMM): their pods get VLLM_USE_DEEP_GEMM=1 and a CUDA toolkit.
DEEP_GEMM_ARCHITECTURES: frozenset[str] = frozenset(
    {"DeepseekV4ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM"}
)
# Models (lower-cased repo name, as upstream names them) whose FlashInfer kernels JIT-compile with
# nvcc at start-up (upstream's RequiresFlashInfer): a CUDA toolkit, DeepGEMM left off.
NVCC_JIT_MODELS: frozenset[str] = frozenset({"mistral-small-4-119b-2603"})


def _catalog_alias(name: str) -> str:
    """camelCase, with sizes spelled ``GiB`` as the data file writes them (``weightsGiB``)."""
    camel = to_camel(name)
    return camel[:-3] + "GiB" if camel.endswith("Gib") else camel


class _CatalogModel(BaseModel):
    """Shared configuration: camelCase in data and output, snake_case in Python, no unknown keys."""

    model_config = ConfigDict(
        alias_generator=_catalog_alias,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


def _flags_from_mapping(value: object) -> object:
    # The data writes extra flags as a mapping (name: value, empty for a switch); keep them as
    # ordered pairs so the spec stays hashable and the flag order stays the data's.
    if isinstance(value, Mapping):
        return tuple((str(k), "" if v is None else str(v)) for k, v in value.items())
    if isinstance(value, tuple):
        return value
    raise ValueError("must be a mapping of flag name to value")


_FLAGS_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"}}

ExtraFlags = Annotated[
    tuple[tuple[str, str], ...],
    BeforeValidator(_flags_from_mapping),
    PlainSerializer(lambda pairs: dict(pairs), return_type=dict[str, str]),
    WithJsonSchema(_FLAGS_SCHEMA),
]
"""vLLM flags by name (``""`` for a switch): a mapping in data and output, pairs in Python."""


class VLLMParams(_CatalogModel):
    """Per-model vLLM engine parameters (reference §3.1, "Generated vLLM params")."""

    dtype: str = Field(
        "bfloat16",
        description="--dtype; defaults to auto for quantized checkpoints, else bfloat16.",
    )
    trust_remote_code: bool = Field(True, description="Pass --trust-remote-code.")
    load_format: str = Field("auto", description="--load-format (mistral for consolidated).")
    config_format: str = Field("auto", description="--config-format.")
    tokenizer_mode: str = Field("auto", description="--tokenizer-mode.")
    tool_call_parser: str | None = Field(
        None, description="--tool-call-parser (also enables --enable-auto-tool-choice)."
    )
    chat_template: str | None = Field(
        None, description="File name of the tool-calling chat template, if the model needs one."
    )
    reasoning_parser: str | None = Field(None, description="--reasoning-parser.")
    extra_args: ExtraFlags = Field(
        (),
        description="Further per-model vLLM flags by name (empty value for a switch), in order.",
    )


class TransformersParams(_CatalogModel):
    """Run parameters of the Hugging Face transformers runtime for one model (reference §3.1)."""

    torch_dtype: str = Field("auto", description="auto or a torch dtype name.")
    pipeline: str = Field("text-generation", description="The only pipeline presets use.")
    trust_remote_code: bool = Field(False, description="Load the repository's modelling code.")
    chat_template: str | None = Field(
        None, description="File name of a chat template, if the tokenizer's own is unsuitable."
    )
    allow_remote_files: bool = Field(
        False, description="Allow fetching files missing from the local weights directory."
    )


class TuningParams(_CatalogModel):
    """LoRA/QLoRA tuning facts; an entry has them iff the preset can be tuned."""

    memory_gib: float = Field(description="GPU memory tuning needs, GiB.")
    disk_gib: int = Field(
        description="Upstream's tuning disk figure, GiB (shown only: NodeClaims request 1024Gi)."
    )
    target_modules: tuple[str, ...] = Field(
        (), description="Default LoRA target modules (empty: the library's default)."
    )


class LocalFile(_CatalogModel):
    """Weights that ship inside an installed Python distribution."""

    package: str = Field(description="Distribution module holding the file.")
    file: str = Field(description="File name inside that module.")


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


# Marks a field the loader sets and the data may not: the published schema says readOnly.
_READ_ONLY: dict[str, Any] = {"readOnly": True}


class ModelSpec(_CatalogModel):
    """Everything kaito knows about one preset; immutable and cheap to pass around."""

    name: str = Field(
        description="Canonical preset name: the legacy short name where one exists, else hfRepo."
    )
    hf_repo: str = Field(description="Hugging Face repository the weights come from.")
    aliases: tuple[str, ...] = Field((), description="Further names that resolve to this preset.")
    license: str | None = Field(None, description="Model licence identifier.")
    weights_gib: float | None = Field(
        None, description="Size of the weight files, GiB; null when unknown."
    )
    disk_gib: int = Field(description="Node disk to request, GiB.")
    architectures: tuple[str, ...] = Field(description="architectures of the model config.")
    token_limit: int | None = Field(
        DEFAULT_TOKEN_LIMIT,
        description="Context window (max_position_embeddings); null when unknown.",
    )
    hidden_size: int | None = Field(None, description="Attention geometry: hidden size.")
    num_hidden_layers: int | None = Field(None, description="Attention geometry: layers.")
    num_attention_heads: int | None = Field(None, description="Attention geometry: heads.")
    num_key_value_heads: int | None = Field(
        None, description="Attention geometry: KV heads (default: the attention heads)."
    )
    head_dim: int | None = Field(None, description="Attention geometry: head dimension.")
    kv_lora_rank: int | None = Field(None, description="Latent attention: KV LoRA rank.")
    qk_rope_head_dim: int | None = Field(None, description="Latent attention: rotary key dim.")
    quant_method: str | None = Field(None, description="Quantization method, if quantized.")
    quant_bits: int | None = Field(None, description="Quantization bit width, where stated.")
    bytes_per_token: int | None = Field(
        None,
        description="KV-cache bytes per token over all layers; derived from the geometry unless "
        "given; null when unknown.",
    )
    supports_distributed: bool = Field(
        True, alias="distributed", description="Multi-node inference is allowed."
    )
    tuning: TuningParams | None = Field(None, description="Present iff tuning is supported.")
    transformers: TransformersParams | None = Field(
        None, description="Present iff the transformers runtime can serve the model."
    )
    vllm: VLLMParams = Field(default_factory=VLLMParams, description="vLLM runtime parameters.")
    version: str | None = Field(
        None, description="Upstream version URL (https://huggingface.co/<repo>/commit/<sha>)."
    )
    tag: str | None = Field(None, description="Upstream weights-image tag.")
    download_at_runtime: bool = Field(
        True, description="Weights come from the hub when the server starts (no weights image)."
    )
    gated: bool = Field(False, description="Downloading needs a Hugging Face token.")
    deprecated: bool = Field(False, description="Refused on use.")
    local: LocalFile | None = Field(None, description="Weights shipped in a Python distribution.")
    legacy_only: bool = Field(
        False, description="An older upstream preset the current catalog no longer lists."
    )
    kv_cache_offload: bool = Field(
        True,
        description="CPU KV-cache offload is safe (false for hybridKvArchitectures).",
        json_schema_extra=_READ_ONLY,
    )
    best_effort: bool = Field(
        False,
        description="An org/repo id not in the catalog; sizes unknown.",
        json_schema_extra=_READ_ONLY,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _derive(cls, data: Any, handler: ModelWrapValidatorHandler[ModelSpec]) -> ModelSpec:
        # Fill the facts the data may leave to be derived, after the fields are type-checked.
        spec = handler(data)
        update: dict[str, Any] = {}
        if spec.bytes_per_token is None and spec.num_hidden_layers is not None:
            if spec.hidden_size is None or spec.num_attention_heads is None:
                lacking = [
                    key
                    for key, value in (
                        ("hiddenSize", spec.hidden_size),
                        ("numAttentionHeads", spec.num_attention_heads),
                    )
                    if value is None
                ]
                raise ValueError(
                    f"{', '.join(lacking)}: required with numHiddenLayers unless bytesPerToken "
                    "is given"
                )
            update["bytes_per_token"] = compute_bytes_per_token(
                num_hidden_layers=spec.num_hidden_layers,
                hidden_size=spec.hidden_size,
                num_attention_heads=spec.num_attention_heads,
                num_key_value_heads=spec.num_key_value_heads,
                head_dim=spec.head_dim,
                kv_lora_rank=spec.kv_lora_rank,
                qk_rope_head_dim=spec.qk_rope_head_dim,
            )
        if spec.quant_method and "dtype" not in spec.vllm.model_fields_set:
            update["vllm"] = spec.vllm.model_copy(update={"dtype": "auto"})
        return spec.model_copy(update=update) if update else spec

    @classmethod
    def read_only_keys(cls) -> frozenset[str]:
        """Aliases of the fields the loader sets itself; the data may not write them."""
        return frozenset(
            info.alias or name
            for name, info in cls.model_fields.items()
            if info.json_schema_extra == _READ_ONLY
        )

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of ``to_dict()``'s output (``kaito presets schema``)."""
        return cls.model_json_schema(by_alias=True, mode="serialization")

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready description with camelCase keys (the ``-o json`` output)."""
        return self.model_dump(mode="json", by_alias=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def runtimes(self) -> list[str]:
        """Runtimes that can serve the preset, vLLM first."""
        return ["vllm", "transformers"] if self.transformers is not None else ["vllm"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def readiness_timeout_seconds(self) -> int:
        """How long a server may take to become ready: 15 min + 18 s/GiB, within [30, 180] min."""
        if self.weights_gib is None:
            return _READINESS_MIN_S
        scaled = _READINESS_BASE_S + math.ceil(_READINESS_PER_GIB_S * self.weights_gib)
        return max(_READINESS_MIN_S, min(_READINESS_MAX_S, scaled))

    @property
    def readiness_timeout_s(self) -> int:
        """``readiness_timeout_seconds``, under the name the supervisors use."""
        return self.readiness_timeout_seconds

    @property
    def supports_tuning(self) -> bool:
        """Whether LoRA/QLoRA tuning is supported for this preset."""
        return self.tuning is not None

    @property
    def tuning_memory_gib(self) -> float | None:
        """GPU memory LoRA tuning needs; ``None`` when the preset cannot be tuned."""
        return None if self.tuning is None else self.tuning.memory_gib

    @property
    def tuning_disk_gib(self) -> int | None:
        """Upstream's per-preset tuning disk figure, if the preset can be tuned."""
        return None if self.tuning is None else self.tuning.disk_gib

    @property
    def tuning_target_modules(self) -> tuple[str, ...]:
        """Default LoRA target modules for this family (empty: the library's default)."""
        return () if self.tuning is None else self.tuning.target_modules

    @property
    def transformers_runtime(self) -> bool:
        """Whether the Hugging Face transformers runtime can serve this preset."""
        return self.transformers is not None

    @property
    def is_local(self) -> bool:
        """Whether the weights ship inside an installed Python distribution."""
        return self.local is not None

    @property
    def local_file(self) -> tuple[str, str] | None:
        """``(distribution module, file name)`` of shipped weights (read by the runtime)."""
        return None if self.local is None else (self.local.package, self.local.file)

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
