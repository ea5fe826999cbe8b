"""Parsing and validating upstream's training_config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.api import default_configs
from kaito.runtime.tuning.config import (
    load_config,
    parse_config,
    resolve_output_dir,
)
from kaito.runtime.tuning.errors import ConfigError, InputUnreadableError

LORA_DEFAULT = """\
training_config:
  ModelConfig: {torch_dtype: "bfloat16", local_files_only: true, device_map: "auto"}
  QuantizationConfig: {load_in_4bit: false}
  LoraConfig: {r: 8, lora_alpha: 8, lora_dropout: 0.0}
  TrainingArguments: {output_dir: "/mnt/results", ddp_find_unused_parameters: false,
                      save_strategy: "no", per_device_train_batch_size: 1}
  DataCollator: {mlm: true}
  DatasetConfig: {shuffle_dataset: true, train_test_split: 1}
"""


def _doc(sections: dict[str, object]) -> dict[str, object]:
    return {"training_config": sections}


@pytest.fixture
def lora_file(tmp_path: Path) -> Path:
    path = tmp_path / "training_config.yaml"
    path.write_text(LORA_DEFAULT, encoding="utf-8")
    return path


def test_upstream_lora_default_loads_as_lora(lora_file: Path) -> None:
    config = load_config(lora_file, method="lora")
    assert config.method == "lora"
    assert config.lora == {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0}
    assert config.training["output_dir"] == "/mnt/results"
    assert config.dataset.train_test_split == 1.0
    assert config.collator == {"mlm": True}


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_shipped_upstream_templates_load_unchanged(method: str, tmp_path: Path) -> None:
    name = default_configs.default_tuning_configmap_name(method)
    assert name is not None
    text = default_configs.load_default_training_config(name)
    assert text is not None
    path = tmp_path / "training_config.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, method=method)
    assert config.method == method
    assert config.training["save_strategy"] == "no"


def test_qlora_default_is_quantized() -> None:
    config = parse_config(
        _doc(
            {
                "QuantizationConfig": {
                    "load_in_4bit": True,
                    "bnb_4bit_quant_type": "nf4",
                    "bnb_4bit_compute_dtype": "bfloat16",
                    "bnb_4bit_use_double_quant": True,
                }
            }
        ),
        method="qlora",
    )
    assert config.quantized
    assert config.method == "qlora"


def test_unknown_section_is_named() -> None:
    with pytest.raises(ConfigError, match="Unrecognized section: TrainingArgs"):
        parse_config(_doc({"TrainingArgs": {"num_train_epochs": 1}}))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("TrainingArguments", "learning_rte"),
        ("LoraConfig", "rank"),
        ("QuantizationConfig", "load_in_3bit"),
        ("ModelConfig", "model_path"),
        ("DatasetConfig", "dataset_format"),
        ("DataCollator", "tokenizer"),
    ],
)
def test_unknown_key_is_named_with_its_section(section: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_doc({section: {key: 1}}))
    assert str(info.value) == f"unknown key '{key}' in section {section}"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("TrainingArguments", "gradient_accumulation_steps"),
        ("TrainingArguments", "packing"),
        ("TrainingArguments", "padding_free"),
        ("LoraConfig", "target_modules"),
        ("QuantizationConfig", "bnb_4bit_quant_storage"),
        ("QuantizationConfig", "quant_method"),
        ("DataCollator", "pad_to_multiple_of"),
        ("ModelConfig", "chat_template"),
        ("DatasetConfig", "messages_column"),
    ],
)
def test_keys_of_the_real_classes_are_accepted(section: str, key: str) -> None:
    value: object = "x" if section in {"ModelConfig", "DatasetConfig"} else None
    parse_config(_doc({section: {key: value}}))


def test_4bit_and_8bit_together_are_rejected() -> None:
    with pytest.raises(ConfigError, match="load_in_4bit and load_in_8bit cannot both be true"):
        parse_config(_doc({"QuantizationConfig": {"load_in_4bit": True, "load_in_8bit": True}}))


def test_qlora_without_quantization_section_is_rejected() -> None:
    with pytest.raises(ConfigError, match="method qlora requires a QuantizationConfig section"):
        parse_config(_doc({"LoraConfig": {"r": 8}}), method="qlora")


def test_qlora_with_quantization_off_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"qlora requires QuantizationConfig\.load_in_4bit"):
        parse_config(_doc({"QuantizationConfig": {"load_in_4bit": False}}), method="qlora")


def test_lora_with_quantization_on_is_rejected() -> None:
    with pytest.raises(ConfigError, match="method lora cannot load the model quantized"):
        parse_config(_doc({"QuantizationConfig": {"load_in_8bit": True}}), method="lora")


def test_quantization_flag_must_be_boolean() -> None:
    with pytest.raises(ConfigError, match=r"load_in_4bit must be true or false, not 'yes'"):
        parse_config(_doc({"QuantizationConfig": {"load_in_4bit": "yes"}}))


@pytest.mark.parametrize("split", [0, -0.5, 1.5, "all", True])
def test_train_test_split_outside_zero_one_is_rejected(split: object) -> None:
    with pytest.raises(ConfigError, match=r"train_test_split must be a number in \(0, 1\]"):
        parse_config(_doc({"DatasetConfig": {"train_test_split": split}}))


def test_output_dir_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match="output_dir must be a string"):
        parse_config(_doc({"TrainingArguments": {"output_dir": 5}}))


def test_output_dir_outside_the_root_names_both(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_output_dir("/etc/results", tmp_path)
    message = str(info.value)
    assert "output_dir '/etc/results'" in message
    assert str(tmp_path) in message


@pytest.mark.parametrize("escape", ["{root}/../outside", "{root}", ".."])
def test_output_dir_escaping_the_root_is_rejected(escape: str, tmp_path: Path) -> None:
    root = tmp_path / "mnt"
    with pytest.raises(ConfigError, match="must be a sub-directory of the allowed root"):
        resolve_output_dir(escape.format(root=root), root)


def test_relative_output_dir_is_taken_under_the_root(tmp_path: Path) -> None:
    assert resolve_output_dir("results/run1", tmp_path) == tmp_path / "results" / "run1"
    assert resolve_output_dir(tmp_path / "a" / ".." / "b", tmp_path) == tmp_path / "b"


def test_overrides_replace_values_before_validation(lora_file: Path) -> None:
    config = load_config(
        lora_file,
        overrides=["TrainingArguments.max_steps=20", "LoraConfig.target_modules=[q_proj, v_proj]"],
    )
    assert config.training["max_steps"] == 20
    assert config.lora["target_modules"] == ["q_proj", "v_proj"]


def test_override_with_unknown_key_is_rejected(lora_file: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'max_stepz' in section TrainingArguments"):
        load_config(lora_file, overrides=["TrainingArguments.max_stepz=3"])


def test_malformed_override_is_rejected(lora_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"must look like Section\.key=value"):
        load_config(lora_file, overrides=["max_steps=3"])


def test_missing_file_is_unreadable_input(tmp_path: Path) -> None:
    with pytest.raises(InputUnreadableError, match="cannot read training config") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.exit_code == 2


def test_invalid_yaml_is_unreadable_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("training_config: [unclosed", encoding="utf-8")
    with pytest.raises(InputUnreadableError, match="is not valid YAML"):
        load_config(path)


def test_missing_top_level_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown top-level key 'TrainingArguments'"):
        parse_config({"TrainingArguments": {}})


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ConfigError, match="tuning method 'dora' is not one of lora, qlora"):
        parse_config(_doc({}), method="dora")
