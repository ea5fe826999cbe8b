"""Damaged tuning state is recovered from, never shipped (issue 16, item 8).

A checkpoint file truncated by a full disk or a kill (``adapter_model.safetensors``,
``optimizer.pt``, ``trainer_state.json``, ``rng_state.pth``, ``scheduler.pt``) must not make every
rerun fail, and a damaged final checkpoint must not become a "completed" adapter that does not
load. The fast tests build real checkpoint files with torch and safetensors; the slow ones run
the tiny model in process.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kaito.runtime.tuning import checkpoints
from kaito.runtime.tuning.errors import TuningError

CHECKPOINT_FILES = (
    "adapter_model.safetensors",
    "optimizer.pt",
    "trainer_state.json",
    "rng_state.pth",
    "scheduler.pt",
)


def _write_checkpoint(root: Path, step: int) -> Path:
    import torch
    from safetensors.torch import save_file

    staged = checkpoints.staging_dir(root, step) / f"checkpoint-{step}"
    staged.mkdir()
    weights = {"base_model.lora_A.weight": torch.randn(8, 64), "lora_B": torch.zeros(64, 8)}
    save_file(weights, str(staged / "adapter_model.safetensors"))
    (staged / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))
    (staged / "trainer_state.json").write_text(
        json.dumps({"global_step": step, "max_steps": 10, "log_history": [{"loss": 1.0}] * 50})
    )
    torch.save({"state": {0: {"exp_avg": torch.randn(512)}}}, staged / "optimizer.pt")
    torch.save({"python": list(range(200)), "cpu": torch.randn(256)}, staged / "rng_state.pth")
    torch.save({"last_epoch": step, "pad": torch.randn(256)}, staged / "scheduler.pt")
    return checkpoints.commit_checkpoint(staged, root, step)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = checkpoints.checkpoint_root(tmp_path)
    _write_checkpoint(root, 5)
    newest = _write_checkpoint(root, 10)
    assert checkpoints.checkpoint_problem(newest) is None
    _truncate(newest / name)
    caplog.set_level(logging.WARNING, logger="kaito")
    assert checkpoints.usable_checkpoint(root) == (5, root / "checkpoint-5")
    assert f"checkpoint {newest} is damaged ({name}" in caplog.text
    assert not newest.exists()


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_only_checkpoint_damaged_starts_afresh_with_a_warning(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = checkpoints.checkpoint_root(tmp_path)
    only = _write_checkpoint(root, 5)
    _truncate(only / name)
    caplog.set_level(logging.WARNING, logger="kaito")
    assert checkpoints.usable_checkpoint(root) is None
    assert "training starts afresh" in caplog.text


@pytest.mark.parametrize("content", [b"", b"\x00" * 7, b"\xff" * 64, b"{" * 10_000])
def test_garbage_files_are_reported_not_raised(tmp_path: Path, content: bytes) -> None:
    for suffix in (".safetensors", ".json", ".pt", ".pth", ".bin"):
        path = tmp_path / f"f{suffix}"
        path.write_bytes(content)
        assert checkpoints.file_problem(path) is not None


def test_missing_required_file_is_a_damaged_checkpoint(tmp_path: Path) -> None:
    root = checkpoints.checkpoint_root(tmp_path)
    newest = _write_checkpoint(root, 5)
    (newest / "trainer_state.json").unlink()
    assert checkpoints.checkpoint_problem(newest) == "trainer_state.json is missing"


def test_truncated_adapter_never_counts_as_loadable(tmp_path: Path) -> None:
    from kaito.runtime.tuning import adapter_output, training

    root = checkpoints.checkpoint_root(tmp_path)
    folder = _write_checkpoint(root, 5)
    out = tmp_path / "out"
    out.mkdir()
    for name in training.ADAPTER_FILES:
        (out / name).write_bytes((folder / name).read_bytes())
    assert adapter_output.adapter_problem(out) is None
    _truncate(out / "adapter_model.safetensors")
    assert adapter_output.adapter_problem(out) is not None
    with pytest.raises(TuningError, match="does not load"):
        adapter_output.require_loadable_adapter(out)
    (out / "adapter_model.safetensors").write_bytes(
        (folder / "adapter_model.safetensors").read_bytes()
    )
    (out / "adapter_config.json").write_text("[1]")
    assert "not a JSON object" in (adapter_output.adapter_problem(out) or "")


# -- slow: the real trainer on the tiny model ---------------------------------------------

CONFIG = """\
training_config:
  ModelConfig: {torch_dtype: "float32", local_files_only: true}
  QuantizationConfig: {load_in_4bit: false}
  LoraConfig: {r: 8, lora_alpha: 16, lora_dropout: 0.0}
  TrainingArguments:
    output_dir: "results"
    max_steps: 10
    per_device_train_batch_size: 8
    learning_rate: 0.005
    save_strategy: "no"
    logging_steps: 5
  DatasetConfig: {shuffle_dataset: true, train_test_split: 1}
"""


def _killed_at_the_final_save(
    tmp_path: Path, tiny_model_dir: Path, facts_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, object]:
    from kaito.runtime.tuning import TuningOptions, adapter_output, run_tuning

    config = tmp_path / "training_config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    options = TuningOptions(
        output_root=tmp_path, metrics_port=0, progress="none", checkpoint_steps=5
    )

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("simulated kill while writing the adapter")

    with monkeypatch.context() as patch:
        patch.setattr(adapter_output, "save_adapter", killed)
        with pytest.raises(KeyboardInterrupt):
            run_tuning(config, facts_parquet.parent, str(tiny_model_dir), None, options)

    def rerun() -> object:
        return run_tuning(config, facts_parquet.parent, str(tiny_model_dir), None, options)

    return tmp_path / "results", rerun


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_truncated_final_checkpoint_is_not_shipped_and_training_finishes_from_the_previous(
    tmp_path: Path,
    tiny_model_dir: Path,
    facts_parquet: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kaito.runtime.tuning import adapter_output

    out, rerun = _killed_at_the_final_save(tmp_path, tiny_model_dir, facts_parquet, monkeypatch)
    final = out / ".kaito-checkpoints" / "checkpoint-10"
    _truncate(final / "adapter_model.safetensors")
    caplog.set_level(logging.INFO, logger="kaito")
    result = rerun()  # type: ignore[operator]
    assert "is damaged" in caplog.text
    assert "resuming from step 5" in caplog.text
    assert result.global_step == 10
    assert (out / "fine_tuning_completed.txt").is_file()
    assert adapter_output.adapter_problem(out) is None
    import peft
    import transformers

    base = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft.PeftModel.from_pretrained(base, str(out))  # the shipped adapter loads


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_truncated_rng_state_in_the_only_checkpoint_starts_afresh(
    tmp_path: Path,
    tiny_model_dir: Path,
    facts_parquet: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kaito.runtime.tuning import adapter_output

    out, rerun = _killed_at_the_final_save(tmp_path, tiny_model_dir, facts_parquet, monkeypatch)
    root = out / ".kaito-checkpoints"
    for folder in root.glob("checkpoint-*"):
        _truncate(folder / "rng_state.pth")
    caplog.set_level(logging.INFO, logger="kaito")
    result = rerun()  # type: ignore[operator]
    assert "training starts afresh" in caplog.text
    assert result.resumed_from_step is None
    assert result.global_step == 10
    assert adapter_output.adapter_problem(out) is None
    # A completed run whose adapter was damaged afterwards is trained again, not skipped.
    _truncate(out / "adapter_model.safetensors")
    caplog.clear()
    again = rerun()  # type: ignore[operator]
    assert "does not load" in caplog.text
    assert not again.already_completed
    assert adapter_output.adapter_problem(out) is None
