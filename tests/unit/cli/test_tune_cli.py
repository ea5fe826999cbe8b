"""``kaito tune`` rejects bad inputs before loading any model, with one line and an exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaito.cli.main import app

GOOD = """\
training_config:
  LoraConfig: {r: 8}
  TrainingArguments: {output_dir: results, max_steps: 1}
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    (folder / "train.jsonl").write_text((json.dumps(row) + "\n") * 5, encoding="utf-8")
    return folder


def _tune(tmp_path: Path, config_text: str | None, data_dir: Path, *extra: str) -> tuple[int, str]:
    config = tmp_path / "training_config.yaml"
    if config_text is not None:
        config.write_text(config_text, encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "tune",
            "--config",
            str(config),
            "--data-dir",
            str(data_dir),
            "--output-root",
            str(tmp_path),
            "--model",
            str(tmp_path / "no-such-model"),
            "--metrics-port",
            "0",
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_unknown_key_exits_1_naming_it(tmp_path: Path, data_dir: Path) -> None:
    code, output = _tune(tmp_path, GOOD.replace("r: 8", "rank: 8"), data_dir)
    assert code == 1
    assert "kaito-tune: error: unknown key 'rank' in section LoraConfig" in output
    assert "Traceback" not in output


def test_missing_config_exits_2(tmp_path: Path, data_dir: Path) -> None:
    code, output = _tune(tmp_path, None, data_dir)
    assert code == 2
    assert "cannot read training config" in output


def test_output_dir_outside_root_exits_1(tmp_path: Path, data_dir: Path) -> None:
    code, output = _tune(tmp_path, GOOD.replace("results", "/etc/results"), data_dir)
    assert code == 1
    assert "output_dir '/etc/results' must be a sub-directory of the allowed root" in output


def test_bad_dataset_row_fails_before_the_model_is_loaded(tmp_path: Path, data_dir: Path) -> None:
    (data_dir / "train.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "q"}]}\n', encoding="utf-8"
    )
    code, output = _tune(tmp_path, GOOD, data_dir)
    assert code == 1
    assert f"{data_dir / 'train.jsonl'}: row 1: no assistant message" in output
    assert "no-such-model" not in output


def test_missing_model_is_reported_after_data_checks(tmp_path: Path, data_dir: Path) -> None:
    code, output = _tune(tmp_path, GOOD, data_dir)
    assert code == 1
    assert "cannot use model" in output
    assert "no-such-model" in output


def test_qlora_method_without_quantization_exits_1(tmp_path: Path, data_dir: Path) -> None:
    code, output = _tune(tmp_path, GOOD, data_dir, "--method", "qlora")
    assert code == 1
    assert "method qlora requires a QuantizationConfig section" in output


def test_an_unknown_compile_mode_exits_1_naming_the_known_ones(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _tune(tmp_path, GOOD, data_dir, "--compile", "always")
    assert code == 1
    assert "kaito-tune: error: compile mode 'always' is not one of auto, on, off" in output
    # The variable is the flag's default, checked the same way; the flag wins over it.
    monkeypatch.setenv("KAITO_TUNING_COMPILE", "sometimes")
    code, output = _tune(tmp_path, GOOD, data_dir)
    assert code == 1
    assert "compile mode 'sometimes' is not one of" in output
    code, output = _tune(tmp_path, GOOD, data_dir, "--compile", "off")
    assert "compile mode" not in output
    assert "cannot use model" in output  # it went on, to the missing model


def test_config_and_data_come_from_upstream_environment(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "from-env.yaml"
    config.write_text(GOOD.replace("r: 8", "rr: 8"), encoding="utf-8")
    monkeypatch.setenv("YAML_FILE_PATH", str(config))
    monkeypatch.setenv("DATASET_FOLDER_PATH", str(data_dir))
    monkeypatch.setenv("KAITO_TUNING_OUTPUT_ROOT", str(tmp_path))
    result = CliRunner().invoke(app, ["tune", "--metrics-port", "0"])
    assert result.exit_code == 1
    assert "unknown key 'rr' in section LoraConfig" in result.output


def test_completed_run_is_not_repeated(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    # A completed run's adapter must load (config and every tensor) to count as completed.
    import numpy as np
    from safetensors.numpy import save_file

    (out / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}', encoding="utf-8")
    tensors = {"lora_A": np.zeros((2, 2), dtype=np.float32)}
    save_file(tensors, str(out / "adapter_model.safetensors"))
    (out / "fine_tuning_completed.txt").write_text("fine-tuning completed at step 7\n")
    code, output = _tune(tmp_path, GOOD, data_dir)
    assert code == 0, output
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["already_completed"] is True
    assert summary["global_step"] == 7
