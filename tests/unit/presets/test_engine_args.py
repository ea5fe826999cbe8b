"""vLLM and transformers flags computed from a preset, its GPUs and the Workspace options."""

from __future__ import annotations

import pytest

from kaito.presets import catalog, engine_args, mig, skus


def _gpu(sku: str) -> skus.GPUConfig:
    config = skus.get_sku(sku)
    assert config is not None
    return config


def _flag(args: list[str], name: str) -> str | None:
    """Value of ``--name=value`` in ``args`` ("" for a bare switch, ``None`` when absent)."""
    for arg in args:
        if arg == f"--{name}":
            return ""
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def test_single_node_phi_4_gets_exactly_upstreams_flags_in_a_fixed_order():
    args = engine_args.build_vllm_args(
        catalog.get_model("phi-4"), _gpu("Standard_NC24ads_A100_v4"), 1, served_model_name="phi-4"
    )
    assert args == [
        "--model=microsoft/phi-4",
        "--download-dir=/workspace/weights",
        "--served-model-name=phi-4",
        "--dtype=bfloat16",
        "--trust-remote-code",
        "--load-format=auto",
        "--config-format=auto",
        "--tokenizer-mode=auto",
        "--max-model-len=auto",
        "--gpu-memory-utilization=0.84",
        "--tensor-parallel-size=1",
        '--kv-events-config={"enable_kv_cache_events":true}',
        "--compilation-config.pass_config.fuse_allreduce_rms=False",
    ]


def test_multi_node_llama_adds_pipeline_stages_over_ray_and_disables_kv_offload():
    args = engine_args.build_vllm_args(
        catalog.get_model("llama-3.3-70b-instruct"),
        _gpu("Standard_NC24ads_A100_v4"),
        3,
        served_model_name="llama-3.3-70b-instruct",
    )
    assert _flag(args, "tensor-parallel-size") == "1"
    assert _flag(args, "pipeline-parallel-size") == "3"
    assert _flag(args, "distributed-executor-backend") == "ray"
    assert _flag(args, "data-parallel-size") is None
    assert _flag(args, "kaito-kv-cache-cpu-memory-utilization") == "0"
    assert _flag(args, "tool-call-parser") == "llama3_json"
    assert _flag(args, "enable-auto-tool-choice") == ""


def test_small_model_on_a_multi_gpu_node_runs_data_parallel():
    args = engine_args.build_vllm_args(
        catalog.get_model("phi-4-mini-instruct"),
        _gpu("Standard_NC96ads_A100_v4"),
        1,
        served_model_name="phi-4-mini-instruct",
    )
    assert _flag(args, "tensor-parallel-size") == "1"
    assert _flag(args, "data-parallel-size") == "4"
    assert _flag(args, "kaito-kv-cache-cpu-memory-utilization") == "0"


@pytest.mark.parametrize(
    ("sku", "dtype"),
    [
        ("Standard_NC6s_v3", "float16"),  # V100, CC 7.0
        ("Standard_NC4as_T4_v3", "float16"),  # T4, CC 7.5
        ("Standard_NC24ads_A100_v4", "bfloat16"),
    ],
)
def test_bfloat16_falls_back_to_float16_on_gpus_without_it(sku, dtype):
    args = engine_args.build_vllm_args(
        catalog.get_model("phi-3-mini-128k-instruct"), _gpu(sku), served_model_name="m"
    )
    assert _flag(args, "dtype") == dtype


def test_quantized_auto_dtype_is_kept_on_old_gpus():
    model = catalog.get_model("Qwen/Qwen3-8B-AWQ")
    assert engine_args.resolve_dtype(model, _gpu("Standard_NC6s_v3")) == "auto"


@pytest.mark.parametrize(
    ("gpu_model", "utilization"),
    [("A10", 0.82), ("NVIDIA-A10", 0.82), ("A100", 0.84), ("A10G", 0.84), ("H100", 0.84)],
)
def test_gpu_memory_utilization_is_lower_on_a10(gpu_model, utilization):
    gpu = skus.GPUConfig(sku="x", gpu_count=1, total_memory_gib=24, gpu_model=gpu_model)
    assert engine_args.gpu_memory_utilization(gpu) == utilization


def test_a10_sku_gets_082_in_the_flags():
    args = engine_args.build_vllm_args(
        catalog.get_model("phi-4-mini-instruct"),
        _gpu("Standard_NV36ads_A10_v5"),
        served_model_name="phi-4-mini-instruct",
    )
    assert _flag(args, "gpu-memory-utilization") == "0.82"


def test_workspace_options_add_their_flags():
    args = engine_args.build_vllm_args(
        catalog.get_model("qwen2.5-coder-7b-instruct"),
        _gpu("Standard_NC24ads_A100_v4"),
        served_model_name="coder",
        max_model_len=8192,
        adapters=True,
        performance_mode="throughput",
        config_file="/mnt/config/inference_config.yaml",
        chat_template_dir="/workspace/chat_templates/",
    )
    assert _flag(args, "served-model-name") == "coder"
    assert _flag(args, "max-model-len") == "8192"
    assert _flag(args, "enable-lora") == ""
    assert _flag(args, "performance-mode") == "throughput"
    assert _flag(args, "kaito-config-file") == "/mnt/config/inference_config.yaml"
    assert _flag(args, "chat-template") == "/workspace/chat_templates/tool-chat-hermes.jinja"
    assert _flag(args, "tool-call-parser") == "hermes"
    # The user's config file is read by kaito-serve after every computed flag.
    assert args.index("--kaito-config-file=/mnt/config/inference_config.yaml") > args.index(
        "--max-model-len=8192"
    )


def test_chat_template_is_under_upstreams_path_and_omitted_without_a_directory():
    model = catalog.get_model("qwen2.5-coder-7b-instruct")
    gpu = _gpu("Standard_NC24ads_A100_v4")
    args = engine_args.build_vllm_args(model, gpu, served_model_name="coder")
    assert _flag(args, "chat-template") == "/workspace/chat_templates/tool-chat-hermes.jinja"
    bare = engine_args.build_vllm_args(model, gpu, served_model_name="c", chat_template_dir=None)
    assert _flag(bare, "chat-template") is None


def test_extra_args_from_the_catalog_follow_the_parsers():
    args = engine_args.build_vllm_args(
        catalog.get_model("MiniMaxAI/MiniMax-M2.7"),
        _gpu("Standard_ND96isr_H100_v5"),
        served_model_name="m",
    )
    assert "--enable-expert-parallel" in args
    assert args.index("--enable-expert-parallel") > args.index(
        "--reasoning-parser=minimax_m2_append_think"
    )


def test_mistral_checkpoints_use_mistral_formats_and_parser():
    args = engine_args.build_vllm_args(
        catalog.get_model("mistral-7b-instruct"),
        _gpu("Standard_NC24ads_A100_v4"),
        served_model_name="mistral-7b-instruct",
    )
    for name in ("load-format", "config-format", "tokenizer-mode", "tool-call-parser"):
        assert _flag(args, name) == "mistral"


def test_reasoning_models_get_their_reasoning_parser():
    args = engine_args.build_vllm_args(
        catalog.get_model("deepseek-r1-distill-llama-8b"),
        _gpu("Standard_NC24ads_A100_v4"),
        served_model_name="r1",
    )
    assert _flag(args, "reasoning-parser") == "deepseek_r1"
    assert _flag(args, "tool-call-parser") == "deepseek_v3"  # upstream's "deepseek-r1" prefix


def test_legacy_presets_pin_their_revision_and_catalog_presets_do_not():
    falcon = engine_args.build_vllm_args(
        catalog.get_model("falcon-7b"), _gpu("Standard_NC24ads_A100_v4"), served_model_name="f"
    )
    assert _flag(falcon, "code-revision") == "898df1396f35e447d5fe44e0a3ccaaaa69f30d36"
    phi = engine_args.build_vllm_args(
        catalog.get_model("phi-4"), _gpu("Standard_NC24ads_A100_v4"), served_model_name="p"
    )
    assert _flag(phi, "code-revision") is None


def test_local_weights_replace_the_download_and_cpu_serving_drops_gpu_flags():
    args = engine_args.build_vllm_args(
        catalog.get_model("smollm2-135m-instruct"),
        None,
        served_model_name="smollm2-135m-instruct",
        model_path="/cache/smollm2",
        cluster_flags=False,
    )
    assert args == [
        "--model=/cache/smollm2",
        "--served-model-name=smollm2-135m-instruct",
        "--dtype=auto",
        "--trust-remote-code",
        "--load-format=auto",
        "--config-format=auto",
        "--tokenizer-mode=auto",
        "--max-model-len=auto",
    ]


@pytest.mark.parametrize("preset", ["gpt-oss-20b", "gemma-3-4b-instruct"])
def test_hybrid_kv_models_disable_kv_offload(preset):
    args = engine_args.build_vllm_args(
        catalog.get_model(preset), _gpu("Standard_NC24ads_A100_v4"), served_model_name="m"
    )
    assert _flag(args, "kaito-kv-cache-cpu-memory-utilization") == "0"


def test_mig_slice_disables_kv_offload():
    profile = mig.get_mig_profile("3g.40gb")
    assert profile is not None
    gpu = mig.mig_gpu_config(_gpu("Standard_NC24ads_A100_v4"), profile)
    args = engine_args.build_vllm_args(
        catalog.get_model("phi-4-mini-instruct"), gpu, served_model_name="m"
    )
    assert _flag(args, "kaito-kv-cache-cpu-memory-utilization") == "0"


def test_an_explicit_plan_overrides_the_computed_one():
    from kaito.presets.parallelism import Parallelism

    args = engine_args.build_vllm_args(
        catalog.get_model("phi-4"),
        _gpu("Standard_NC96ads_A100_v4"),
        served_model_name="p",
        parallelism=Parallelism(tensor=2, data=2),
    )
    assert (_flag(args, "tensor-parallel-size"), _flag(args, "data-parallel-size")) == ("2", "2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"performance_mode": "fast"}, "performance mode must be one of"),
        ({"max_model_len": 0}, "max-model-len must be a positive integer"),
    ],
)
def test_invalid_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        engine_args.build_vllm_args(
            catalog.get_model("phi-4"), _gpu("Standard_NC6s_v3"), served_model_name="p", **kwargs
        )


def test_flags_are_deterministic():
    def build() -> list[str]:
        return engine_args.build_vllm_args(
            catalog.get_model("deepseek-r1-0528"),
            _gpu("Standard_ND96isr_H100_v5"),
            2,
            served_model_name="r1",
            adapters=True,
        )

    assert build() == build()


def test_transformers_args_follow_the_presets_run_parameters():
    args = engine_args.build_transformers_args(
        catalog.get_model("llama-3.1-8b-instruct"),
        served_model_name="llama",
        chat_template_dir="/templates",
    )
    assert args == [
        "--pipeline=text-generation",
        "--torch_dtype=bfloat16",
        "--pretrained_model_name_or_path=meta-llama/Llama-3.1-8B-Instruct",
        "--revision=0e9e39f249a16976918f6564b8830bc894c89659",
        "--allow_remote_files",
        "--chat_template=/templates/llama-3-instruct.jinja",
        "--served_model_name=llama",
    ]


def test_transformers_args_for_local_weights_do_not_reach_the_hub():
    args = engine_args.build_transformers_args(
        catalog.get_model("phi-4"), served_model_name="phi-4", model_path="/weights"
    )
    assert "--pretrained_model_name_or_path=/weights" in args
    assert "--trust_remote_code" in args
    assert not any(arg.startswith(("--revision", "--allow_remote_files")) for arg in args)


def test_transformers_args_refuse_models_without_that_runtime():
    with pytest.raises(ValueError, match="does not support inference with Huggingface"):
        engine_args.build_transformers_args(
            catalog.get_model("phi-4-mini-instruct"), served_model_name="m"
        )
