"""End to end on the tiny model: data -> ``kaito-tune`` -> adapter -> reload -> exact answers.

Every run is the real console script in a subprocess (as in a pod), on data that teaches the four
``FACTS``. Before training the base model answers junk; after training greedy decoding returns
each answer exactly, which fails if reading data, converting rows, training, checkpointing,
resuming, saving or shipping the adapter is broken.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaito.api import default_configs
from kaito.runtime import host
from kaito.runtime.artifacts import RegistryAuth, pull_adapter, push_adapter
from kaito.runtime.tuning import TuningOptions, TuningResult, run_tuning
from tests.fixtures.registry import RunningRegistry, free_port
from tests.fixtures.tiny_model import FACTS, greedy_answer, write_facts_parquet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TRAINED = """\
training_config:
  ModelConfig: {{torch_dtype: "bfloat16", local_files_only: true, device_map: "auto"}}
  QuantizationConfig: {quant}
  LoraConfig: {{r: 8, lora_alpha: 16, lora_dropout: 0.0}}
  TrainingArguments:
    output_dir: "results"
    max_steps: 150
    per_device_train_batch_size: 8
    learning_rate: 0.005
    lr_scheduler_type: constant
    save_strategy: "no"
    logging_steps: 10
  DataCollator: {{mlm: true}}
  DatasetConfig: {{shuffle_dataset: true, train_test_split: 1}}
"""
LORA_QUANT = "{load_in_4bit: false}"
QLORA_QUANT = (
    '{load_in_4bit: true, bnb_4bit_quant_type: "nf4", bnb_4bit_compute_dtype: "bfloat16", '
    "bnb_4bit_use_double_quant: true}"
)


def _kaito_tune() -> str:
    script = Path(sys.executable).parent / "kaito-tune"
    return str(script) if script.exists() else "kaito-tune"


def _command(root: Path, config: Path, data: Path, model: Path, *extra: str) -> list[str]:
    return [
        _kaito_tune(),
        "--config",
        str(config),
        "--data-dir",
        str(data),
        "--model",
        str(model),
        "--output-root",
        str(root),
        "--metrics-port",
        "0",
        *extra,
    ]


def _run(cmd: list[str], log: Path) -> tuple[list[dict[str, Any]], str]:
    with log.open("w") as stderr:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=580)
    errors = log.read_text()
    assert done.returncode == 0, errors[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return events, errors


def _answers(model_dir: Path, adapter: Path | None, quantized: bool = False) -> list[str]:
    import peft
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if quantized:
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32,
        )
    model: transformers.PreTrainedModel | peft.PeftModel
    model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    if adapter is not None:
        model = peft.PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return [greedy_answer(model, tokenizer, question) for question, _ in FACTS]


def _expected() -> list[str]:
    return [answer for _, answer in FACTS]


def _train(
    root: Path, model: Path, data: Path, quant: str, *extra: str
) -> tuple[Path, list[dict[str, Any]], str]:
    config = root / "training_config.yaml"
    config.write_text(TRAINED.format(quant=quant), encoding="utf-8")
    events, errors = _run(_command(root, config, data, model, *extra), root / "stderr.log")
    return root / "results", events, errors


@pytest.fixture(scope="module")
def lora_run(
    tiny_model_dir: Path, facts_parquet: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("lora-run")
    out, events, _ = _train(root, tiny_model_dir, facts_parquet.parent, LORA_QUANT)
    return out, events


needs_native_bf16 = pytest.mark.skipif(
    not host.host_cpu().native_bf16, reason="CPU runs train bf16 weights where bf16 is native only"
)
# The tiny model's activations outweigh its weights, so checkpointing would be chosen (and layers
# are not compiled under it): the compiling runs say no.
NO_CHECKPOINTING = ("--set", "TrainingArguments.gradient_checkpointing=false")


def test_base_model_does_not_know_the_facts(tiny_model_dir: Path) -> None:
    answers = _answers(tiny_model_dir, None)
    assert all(got != want for got, want in zip(answers, _expected(), strict=True))


def test_lora_adapter_answers_every_fact_exactly(
    lora_run: tuple[Path, list[dict[str, Any]]], tiny_model_dir: Path
) -> None:
    out, _ = lora_run
    assert _answers(tiny_model_dir, out) == _expected()


@pytest.mark.parametrize(
    "dtype",
    [
        pytest.param("bfloat16", marks=needs_native_bf16),
        "float32",  # what a host without native bf16 trains in
    ],
)
def test_compiled_layers_learn_every_fact_exactly(
    dtype: str, tiny_model_dir: Path, facts_parquet: Path, tmp_path: Path
) -> None:
    out, events, errors = _train(
        tmp_path, tiny_model_dir, facts_parquet.parent, LORA_QUANT, "--compile", "on",
        *NO_CHECKPOINTING, "--set", f"ModelConfig.torch_dtype={dtype}",
    )  # fmt: skip
    assert f"(lora, {dtype})" in errors, errors[-3000:]
    assert re.search(r"compiled 2 decoder layers in [\d.]+ s", errors), errors[-3000:]
    assert "compiling the decoder layers failed" not in errors
    assert events[-1]["global_step"] == 150
    assert _answers(tiny_model_dir, out) == _expected()


@needs_native_bf16
def test_auto_does_not_compile_a_short_run(
    tiny_model_dir: Path, facts_parquet: Path, tmp_path: Path
) -> None:
    _, events, errors = _train(
        tmp_path, tiny_model_dir, facts_parquet.parent, LORA_QUANT,
        *NO_CHECKPOINTING, "--set", "TrainingArguments.max_steps=5",
    )  # fmt: skip
    assert events[-1]["global_step"] == 5
    assert "decoder layers not compiled: 40 training rows planned" in errors
    assert "decoder layers in" not in errors


def test_lora_run_writes_adapter_then_sentinel_and_no_checkpoints(
    lora_run: tuple[Path, list[dict[str, Any]]],
) -> None:
    out, events = lora_run
    names = {p.name for p in out.iterdir()}
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "fine_tuning_completed.txt",
    } <= names
    assert ".kaito-checkpoints" not in names
    sentinel = (out / "fine_tuning_completed.txt").stat().st_mtime
    assert sentinel >= (out / "adapter_model.safetensors").stat().st_mtime
    summary = events[-1]
    assert summary["event"] == "completed"
    assert summary["global_step"] == 150
    assert summary["method"] == "lora"


def test_progress_is_one_json_line_per_logging_step(
    lora_run: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, events = lora_run
    progress = [e for e in events if e["event"] == "progress"]
    assert [e["step"] for e in progress] == list(range(10, 151, 10))
    for field in ("epoch", "loss", "learning_rate", "tokens_per_second", "eta_seconds"):
        assert all(e[field] is not None for e in progress), field
    assert progress[-1]["loss"] < progress[0]["loss"] / 5
    assert progress[-1]["eta_seconds"] == 0


def test_adapter_ships_through_a_registry_unchanged(
    lora_run: tuple[Path, list[dict[str, Any]]],
    oci_registry: RunningRegistry,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    out, _ = lora_run
    auth = RegistryAuth(plain_http=True)
    ref = f"{oci_registry.host}/tuning/facts:v1"
    push_adapter(out, ref, base_model="tiny-llama", auth=auth)
    pulled = pull_adapter(ref, tmp_path / "pulled", auth=auth)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (pulled / name).read_bytes() == (out / name).read_bytes()
    assert _answers(tiny_model_dir, pulled) == _expected()


def _train_in_process(
    root: Path, model: Path, data: Path, quant: str, method: str | None = None
) -> TuningResult:
    config = root / "training_config.yaml"
    config.write_text(TRAINED.format(quant=quant), encoding="utf-8")
    options = TuningOptions(output_root=root, method=method, metrics_port=0, progress="none")
    return run_tuning(config, data, str(model), None, options)


def test_qlora_adapter_answers_every_fact_exactly(
    tiny_model_dir: Path, facts_parquet: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kaito")
    result = _train_in_process(
        tmp_path, tiny_model_dir, facts_parquet.parent, QLORA_QUANT, method="qlora"
    )
    assert result.method == "qlora"
    assert result.global_step == 150
    assert "(qlora, float32)" in caplog.text
    assert _answers(tiny_model_dir, result.output_dir, quantized=True) == _expected()


def _instruction_rows(
    facts: list[tuple[str, str]], answer_key: str, extra_key: str
) -> list[dict[str, str]]:
    return [
        {"instruction": question, extra_key: "", answer_key: answer}
        for _ in range(50)
        for question, answer in facts
    ]


def test_alpaca_and_dolly_rows_are_converted_and_learned(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # Two facts only in the Alpaca file, the other two only in the Dolly file: every answer is
    # exact only if both conversions work.
    data = tmp_path / "data"
    data.mkdir()
    alpaca = _instruction_rows(FACTS[:2], "output", "input")
    (data / "alpaca.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in alpaca), encoding="utf-8"
    )
    dolly = _instruction_rows(FACTS[2:], "response", "context")
    with (data / "dolly.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["instruction", "context", "response"])
        writer.writeheader()
        writer.writerows(dolly)
    result = _train_in_process(tmp_path, tiny_model_dir, data, LORA_QUANT)
    assert result.global_step == 150
    assert _answers(tiny_model_dir, result.output_dir) == _expected()


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_upstream_default_config_trains_unchanged(
    method: str, tiny_model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import safetensors.torch

    template = default_configs.default_tuning_configmap_name(method)
    assert template is not None
    text = default_configs.load_default_training_config(template)
    assert text is not None
    config = tmp_path / "training_config.yaml"
    config.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    write_facts_parquet(data / "facts.parquet", n=40)
    events, errors = _run(
        _command(tmp_path, config, data, tiny_model_dir, "--output-dir", str(tmp_path / "results")),
        tmp_path / "stderr.log",
    )
    # upstream defaults: batch 1, 3 epochs, all rows trained (train_test_split 1)
    assert events[-1]["global_step"] == 120
    assert events[-1]["method"] == method
    assert "DataCollator.mlm is ignored" in errors
    out = tmp_path / "results"
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert (adapter_config["r"], adapter_config["lora_alpha"]) == (8, 8)
    weights = safetensors.torch.load_file(str(out / "adapter_model.safetensors"))
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b
    assert all(float(t.abs().sum()) > 0 for t in lora_b)  # B starts at zero: training moved it
    assert (out / "fine_tuning_completed.txt").is_file()


def test_sigkill_mid_run_resumes_and_finishes_with_the_same_step_count(
    tiny_model_dir: Path, facts_parquet: Path, tmp_path: Path
) -> None:
    config = tmp_path / "training_config.yaml"
    config.write_text(TRAINED.format(quant=LORA_QUANT), encoding="utf-8")
    port = free_port()
    cmd = _command(
        tmp_path, config, facts_parquet.parent, tiny_model_dir, "--checkpoint-steps", "20"
    )
    cmd[cmd.index("--metrics-port") + 1] = str(port)
    first_log = tmp_path / "first.log"
    with first_log.open("w") as stderr:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert process.stdout is not None
        scraped = ""
        for line in process.stdout:
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "progress" and not scraped:
                scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            if event.get("event") == "progress" and event["step"] >= 60:
                os.kill(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert re.search(r"^kaito_tuning_step \d", scraped, re.MULTILINE)
    assert "kaito_tuning_tokens_per_second" in scraped
    out = tmp_path / "results"
    assert not (out / "fine_tuning_completed.txt").exists()
    assert (out / ".kaito-checkpoints").is_dir()

    cmd[cmd.index("--metrics-port") + 1] = "0"
    events, errors = _run(cmd, tmp_path / "second.log")
    match = re.search(r"resuming from step (\d+)", errors)
    assert match, errors[-2000:]
    resumed = int(match.group(1))
    assert resumed >= 60
    assert resumed % 20 == 0
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0]["step"] == resumed + 10
    assert events[-1]["global_step"] == 150
    assert events[-1]["resumed_from_step"] == resumed
    assert not (out / ".kaito-checkpoints").exists()
    assert _answers(tiny_model_dir, out) == _expected()


def test_kill_after_the_last_checkpoint_but_before_the_adapter_still_completes(
    tiny_model_dir: Path,
    facts_parquet: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kaito.runtime.tuning import adapter_output

    config = tmp_path / "training_config.yaml"
    config.write_text(
        TRAINED.format(quant=LORA_QUANT).replace("max_steps: 150", "max_steps: 10"),
        encoding="utf-8",
    )
    options = TuningOptions(output_root=tmp_path, metrics_port=0, progress="none")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("simulated kill while writing the adapter")

    with monkeypatch.context() as patch:
        patch.setattr(adapter_output, "save_adapter", killed)
        with pytest.raises(KeyboardInterrupt):
            run_tuning(config, facts_parquet.parent, str(tiny_model_dir), None, options)
    out = tmp_path / "results"
    assert not (out / "fine_tuning_completed.txt").exists()
    assert (out / ".kaito-checkpoints" / "checkpoint-10").is_dir()

    caplog.set_level(logging.INFO, logger="kaito")
    result = run_tuning(config, facts_parquet.parent, str(tiny_model_dir), None, options)
    assert "resuming from step 10" in caplog.text
    assert result.global_step == 10
    assert result.resumed_from_step == 10
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "fine_tuning_completed.txt").is_file()
    assert not (out / ".kaito-checkpoints").exists()


def test_checkpoints_of_a_different_config_are_not_reused(
    tiny_model_dir: Path,
    facts_parquet: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kaito.runtime.tuning import adapter_output

    config = tmp_path / "training_config.yaml"
    text = TRAINED.format(quant=LORA_QUANT).replace("max_steps: 150", "max_steps: 10")
    config.write_text(text, encoding="utf-8")
    options = TuningOptions(output_root=tmp_path, metrics_port=0, progress="none")

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("simulated kill while writing the adapter")

    with monkeypatch.context() as patch:
        patch.setattr(adapter_output, "save_adapter", killed)
        with pytest.raises(KeyboardInterrupt):
            run_tuning(config, facts_parquet.parent, str(tiny_model_dir), None, options)
    config.write_text(text.replace("max_steps: 10", "max_steps: 12"), encoding="utf-8")
    caplog.set_level(logging.INFO, logger="kaito")
    result = run_tuning(config, facts_parquet.parent, str(tiny_model_dir), None, options)
    assert "belong to another configuration: starting over" in caplog.text
    assert "resuming" not in caplog.text
    assert result.resumed_from_step is None
    assert result.global_step == 12
