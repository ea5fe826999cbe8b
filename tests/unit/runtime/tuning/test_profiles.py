"""Tuning profiles: what ``fast`` sets, and how a CPU run chooses its precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.runtime import host
from kaito.runtime.tuning import profiles
from kaito.runtime.tuning.config import load_config

AMX = host.detect_cpu({"KAITO_CPU_FLAGS": "avx2 avx512f avx512_bf16 amx_tile amx_bf16"})
AVX2 = host.detect_cpu({"KAITO_CPU_FLAGS": "avx avx2 fma"})


def test_default_changes_nothing_and_fast_sets_the_throughput_knobs(tmp_path: Path) -> None:
    config = tmp_path / "training_config.yaml"
    config.write_text(
        "training_config:\n"
        "  TrainingArguments:\n"
        "    per_device_train_batch_size: 1\n"
        "    learning_rate: 0.00005\n"
    )
    plain = load_config(config, overrides=profiles.profile_overrides("default"))
    assert plain.training["per_device_train_batch_size"] == 1
    assert "padding_free" not in plain.training
    # The user's own --set comes after the profile's, so it wins.
    fast = load_config(
        config,
        overrides=(
            *profiles.profile_overrides("fast"),
            "TrainingArguments.learning_rate=0.001",
        ),
    )
    assert fast.training["per_device_train_batch_size"] == 8
    assert fast.training["padding_free"] is True
    assert fast.training["max_length"] is None
    assert fast.training["gradient_checkpointing"] is False
    assert fast.training["learning_rate"] == 0.001


@pytest.mark.parametrize(
    ("profile", "model", "training", "cpu", "expected"),
    [
        # upstream's templates ask for bf16 weights: followed where bf16 is native
        ("default", {"torch_dtype": "bfloat16"}, {}, AMX, "bfloat16"),
        ("default", {"torch_dtype": "bfloat16"}, {}, AVX2, "float32"),  # emulated: never
        ("default", {"dtype": "torch.bfloat16"}, {}, AMX, "bfloat16"),
        ("default", {}, {}, AMX, "float32"),  # TRL's implicit default is not a request
        ("default", {"torch_dtype": "auto"}, {"bf16": True}, AMX, "bfloat16"),
        ("default", {"torch_dtype": "bfloat16"}, {"bf16": False}, AMX, "float32"),
        # float32 weights asked for, and bf16 compute too: autocast over float32 weights
        ("default", {"torch_dtype": "float32"}, {"bf16": True}, AMX, "bf16-autocast"),
        ("default", {"torch_dtype": "float32"}, {}, AMX, "float32"),
        ("fast", {}, {}, AMX, "bfloat16"),
        ("fast", {}, {}, AVX2, "float32"),
        ("fast", {}, {"bf16": False}, AMX, "float32"),  # the config's explicit word wins
        ("fast", {"torch_dtype": "float32"}, {}, AMX, "float32"),
    ],
)
def test_cpu_precision_follows_the_config_where_bf16_is_native(
    profile: profiles.Profile,
    model: dict[str, object],
    training: dict[str, object],
    cpu: host.CpuInfo,
    expected: str,
) -> None:
    assert profiles.cpu_precision(profile, model, training, cpu) == expected


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'turbo' is not one of default, fast"):
        profiles.check_profile("turbo")


def test_run_tuning_refuses_an_unknown_profile_before_reading_anything(tmp_path: Path) -> None:
    from kaito.runtime.tuning import ConfigError, TuningOptions, run_tuning

    with pytest.raises(ConfigError, match="'turbo' is not one of"):
        run_tuning(tmp_path / "absent.yaml", tmp_path, options=TuningOptions(profile="turbo"))
