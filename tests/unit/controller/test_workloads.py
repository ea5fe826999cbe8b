"""Pure helpers of the workload step."""

from __future__ import annotations

from kaito.controller.workloads import output_dir_of


def test_output_dir_is_read_from_training_arguments() -> None:
    text = "training_config:\n  TrainingArguments:\n    output_dir: /mnt/out\n"
    assert output_dir_of(text) == "/mnt/out"


def test_missing_or_malformed_configs_give_no_output_dir() -> None:
    assert output_dir_of(None) is None
    assert output_dir_of("training_config:\n  LoraConfig: {r: 8}\n") is None
    assert output_dir_of("training_config: [unclosed") is None
