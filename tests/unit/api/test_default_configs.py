"""The default tuning templates shipped as package data are valid for their own method."""

from __future__ import annotations

import pytest
import yaml

from kaito.api import constants, default_configs
from kaito.validation.config_files import training_config_errors


@pytest.mark.parametrize("method", ["lora", "qlora", "QLoRA"])
def test_template_name_per_method(method: str) -> None:
    assert (
        default_configs.default_tuning_configmap_name(method) == f"{method.lower()}-params-template"
    )
    assert default_configs.default_tuning_configmap_name("dora") is None


@pytest.mark.parametrize(
    ("name", "method", "four_bit"),
    [("lora-params-template", "lora", False), ("qlora-params-template", "qlora", True)],
)
def test_template_matches_upstream_and_passes_validation(
    name: str, method: str, four_bit: bool
) -> None:
    data = default_configs.default_tuning_configmaps()[name]
    config = yaml.safe_load(data[constants.CONFIGMAP_KEY_TRAINING])["training_config"]
    assert config["QuantizationConfig"]["load_in_4bit"] is four_bit
    assert config["TrainingArguments"]["output_dir"] == "/mnt/results"
    assert config["LoraConfig"] == {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0}
    assert training_config_errors(data, name, method) == []
    other = "qlora" if method == "lora" else "lora"
    assert training_config_errors(data, name, other) != []


def test_unknown_template_is_none() -> None:
    assert default_configs.load_default_training_config("inference-params-template") is None
