"""``kaito presets list|show|skus`` and ``kaito estimate`` through the real Typer app."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.presets import catalog, skus

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


# ---- kaito estimate ----


@pytest.mark.parametrize(
    ("preset", "sku", "nodes", "tensor", "pipeline"),
    [
        ("phi-4-mini-instruct", "Standard_NV36ads_A10_v5", 1, 1, 1),
        ("phi-4", "Standard_NV36ads_A10_v5", 2, 1, 2),
        ("llama-3.3-70b-instruct", "Standard_NC24ads_A100_v4", 3, 1, 3),
        ("llama-3.3-70b-instruct", "Standard_NC96ads_A100_v4", 1, 4, 1),
        ("gpt-oss-120b", "Standard_NC24ads_A100_v4", 3, 1, 3),
        ("qwen2.5-coder-32b-instruct", "Standard_NC24ads_A100_v4", 2, 1, 2),
    ],
)
def test_estimate_json_reports_nodes_and_parallelism(preset, sku, nodes, tensor, pipeline):
    result = invoke("estimate", "--preset", preset, "--instance-type", sku, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["nodes"] == nodes
    assert data["tensorParallel"] == tensor
    assert data["pipelineParallel"] == pipeline
    assert data["dataParallel"] == 1
    gpu = skus.get_sku(sku)
    assert gpu is not None
    assert data["gpusPerNode"] == gpu.gpu_count
    assert data["memory"]["weightsGiB"] == catalog.get_model(preset).weights_gib
    assert f"--pipeline-parallel-size={pipeline}" in data["vllmArgs"] or pipeline == 1


def test_estimate_table_shows_the_breakdown_and_the_flags():
    result = invoke("estimate", "--preset", "phi-4", "--instance-type", "standard_nv36ads_a10_v5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Nodes:         2" in lines
    assert "Parallelism:   tensor 1, pipeline 2, data 1 over ray" in lines
    assert "  KV cache:         0.39 GiB" in lines
    assert "  --gpu-memory-utilization=0.82" in lines


def test_estimate_yaml_honours_max_model_len_and_cloud():
    result = invoke(
        "estimate",
        "--preset",
        "phi-4-mini-instruct",
        "--instance-type",
        "g5.12xlarge",
        "--cloud",
        "aws",
        "--max-model-len",
        "32768",
        "-o",
        "yaml",
    )
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["cloud"] == "aws"
    assert data["maxModelLen"] == 32768
    # 4 x A10G, model far below half a GPU: data parallel.
    assert (data["tensorParallel"], data["dataParallel"]) == (1, 4)
    assert "--max-model-len=32768" in data["vllmArgs"]
    assert data["memory"]["kvCachePerGpuGiB"] == round(32768 * 131072 / 1024**3 / 4, 2)


def test_estimate_founding_example_sku_falls_back_to_float16():
    result = invoke(
        "estimate",
        "--preset",
        "phi-3-mini-128k-instruct",
        "--instance-type",
        "Standard_NC6s_v3",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["nodes"] == 1
    assert data["gpu"]["bf16"] is False
    assert "--dtype=float16" in data["vllmArgs"]


def test_estimate_for_byo_gpus_described_on_the_command_line():
    result = invoke(
        "estimate", "--preset", "phi-4", "--gpus", "2", "--gpu-memory-gib", "40", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["nodes"], data["gpusPerNode"], data["tensorParallel"]) == (1, 2, 2)


def test_estimate_on_a_mig_slice_sizes_one_instance():
    result = invoke(
        "estimate",
        "--preset",
        "phi-4-mini-instruct",
        "--instance-type",
        "Standard_NC24ads_A100_v4",
        "--mig-profile",
        "3g.40gb",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["memory"]["perGpuGiB"] == 40
    assert data["gpu"]["migProfile"] == "3g.40gb"
    assert "--kaito-kv-cache-cpu-memory-utilization=0" in data["vllmArgs"]


def test_estimate_too_small_gpu_fails_with_the_documented_message():
    result = invoke(
        "estimate",
        "--preset",
        "llama-3.3-70b-instruct",
        "--instance-type",
        "Standard_NC6s_v3",
        "--max-model-len",
        "131072",
    )
    assert result.exit_code == 1
    assert "is too small" in result.stderr
    assert "needs at least 42.30GiB overhead" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--preset", "phi3", "--instance-type", "Standard_NC6s_v3"), 'preset name "phi3"'),
        (("--preset", "phi-2", "--instance-type", "Standard_NC6s_v3"), "phi-2 is deprecated"),
        (
            ("--preset", "phi-4", "--instance-type", "p4d.24xlarge", "--cloud", "azure"),
            "it is listed for cloud aws",
        ),
        (("--preset", "phi-4", "--instance-type", "Standard_NC24ads_A100"), "did you mean"),
        (("--preset", "phi-4", "--instance-type", "Standard_NC4"), "--gpus and --gpu-memory-gib"),
        (
            (
                "--preset",
                "phi-4",
                "--instance-type",
                "Standard_NC24ads_A100_v4",
                "--mig-profile",
                "9g",
            ),
            'unknown MIG profile "9g"',
        ),
        (
            (
                "--preset",
                "phi-4",
                "--instance-type",
                "Standard_NC24ads_A100_v4",
                "--mig-profile",
                "1g.10gb",
            ),
            "MIG workloads run on a single node",
        ),
        (
            ("--preset", "falcon-40b", "--instance-type", "Standard_NC24ads_A100_v4"),
            "does not support multi-node inference",
        ),
        (
            (
                "--preset",
                "phi-4",
                "--instance-type",
                "Standard_NC6s_v3",
                "--max-model-len",
                "99999",
            ),
            "exceeds model's maximum supported context window 16384",
        ),
    ],
)
def test_estimate_failures_exit_1_with_a_clear_message(args, needle):
    result = invoke("estimate", *args)
    assert result.exit_code == 1
    assert needle in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("--preset", "phi-4"),
        ("--instance-type", "Standard_NC6s_v3"),
        ("--preset", "phi-4", "--instance-type", "Standard_NC6s_v3", "-o", "xml"),
        ("--preset", "phi-4", "--instance-type", "Standard_NC6s_v3", "--cloud", "gcp"),
        ("--preset", "phi-4", "--instance-type", "Standard_NC6s_v3", "--max-model-len", "0"),
        ("--preset", "phi-4", "--gpus", "2"),
        ("--preset", "phi-4", "--instance-type", "x", "--gpus", "2", "--gpu-memory-gib", "8"),
    ],
)
def test_estimate_bad_usage_exits_2(args):
    result = invoke("estimate", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# ---- kaito presets list / show / skus ----


def test_presets_list_json_has_every_usable_preset():
    result = invoke("presets", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [entry["name"] for entry in data] == [spec.name for spec in catalog.list_models()]
    assert "phi-2" not in {entry["name"] for entry in data}
    first = data[0]
    assert {"name", "hfRepo", "weightsGiB", "tokenLimit", "tuning", "gated"} <= set(first)


def test_presets_list_all_includes_deprecated_ones():
    result = invoke("presets", "list", "--all", "-o", "yaml")
    assert result.exit_code == 0, result.output
    names = {entry["name"] for entry in yaml.safe_load(result.stdout)}
    assert "phi-2" in names


def test_presets_list_tuning_table_lists_only_tunable_presets():
    result = invoke("presets", "list", "--tuning")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "WEIGHTS", "CONTEXT", "RUNTIMES", "TUNING", "NOTES"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == [spec.name for spec in catalog.list_models(tuning_only=True)]
    assert "phi-3-mini-128k-instruct" in names
    assert "llama-3.1-8b-instruct" not in names


def test_presets_show_table_and_json():
    table = invoke("presets", "show", "LLAMA-3.1-8B-INSTRUCT")
    assert table.exit_code == 0, table.output
    assert "Gated (needs HF_TOKEN): yes" in table.stdout.splitlines()
    shown = invoke("presets", "show", "meta-llama/Llama-3.1-8B-Instruct", "-o", "json")
    data = json.loads(shown.stdout)
    assert data["name"] == "llama-3.1-8b-instruct"
    assert data["vllm"]["toolCallParser"] == "llama3_json"


def test_presets_show_best_effort_repo_says_size_unknown():
    result = invoke("presets", "show", "someorg/some-model")
    assert result.exit_code == 0, result.output
    assert "Weights:" in result.stdout
    assert "size unknown" in result.stdout


def test_presets_show_unknown_name_exits_1_with_suggestions():
    result = invoke("presets", "show", "gemma3")
    assert result.exit_code == 1
    assert "did you mean gemma-3-4b-instruct" in result.stderr


def test_presets_skus_lists_the_clouds_table():
    result = invoke("presets", "skus", "--cloud", "arc", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [entry["sku"] for entry in data] == [config.sku for config in skus.list_skus("arc")]
    table = invoke("presets", "skus")
    nc6 = next(line for line in table.stdout.splitlines() if line.startswith("Standard_NC6s_v3 "))
    assert nc6.split() == [
        "Standard_NC6s_v3",
        "1",
        "V100",
        "16.00",
        "GiB",
        "16.00",
        "GiB",
        "7.0",
        "no",
        "no",
        "legacy",
    ]


def test_estimate_for_a_best_effort_repo_says_the_size_is_unknown():
    result = invoke(
        "estimate",
        "--preset",
        "someorg/some-model",
        "--instance-type",
        "p5.48xlarge",
        "--cloud",
        "aws",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sizeKnown"] is False
    assert data["nodes"] == 1
    assert data["memory"]["weightsGiB"] is None
    # Size unknown: shard over the node's GPUs rather than replicate.
    assert (data["tensorParallel"], data["dataParallel"]) == (8, 1)
    assert any("size unknown" in note for note in data["notes"])


def test_estimate_finds_the_cloud_of_an_instance_type_only_one_table_lists() -> None:
    result = runner.invoke(
        app,
        [
            "estimate",
            "--preset",
            "phi-4-mini-instruct",
            "--instance-type",
            "g5.xlarge",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cloud"] == "aws"
    assert "A10G" in json.dumps(data["gpu"])
