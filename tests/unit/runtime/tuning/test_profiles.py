"""Tuning profiles: what ``fast`` sets, and where bf16 autocast is chosen on CPU."""

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
    ("profile", "training", "cpu", "expected"),
    [
        ("fast", {}, AMX, True),
        ("fast", {}, AVX2, False),  # emulated bf16 is several times slower: never chosen
        ("fast", {"bf16": False}, AMX, False),  # the config's explicit word wins
        ("default", {}, AMX, False),  # TRL's implicit default is not a request
        ("default", {"bf16": True}, AMX, True),
        ("default", {"bf16": True}, AVX2, False),
    ],
)
def test_cpu_bf16_autocast_only_where_native_and_asked(
    profile: profiles.Profile, training: dict[str, object], cpu: host.CpuInfo, expected: bool
) -> None:
    assert profiles.cpu_autocast_bf16(profile, training, cpu) is expected


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'turbo' is not one of default, fast"):
        profiles.check_profile("turbo")


def test_run_tuning_refuses_an_unknown_profile_before_reading_anything(tmp_path: Path) -> None:
    from kaito.runtime.tuning import ConfigError, TuningOptions, run_tuning

    with pytest.raises(ConfigError, match="'turbo' is not one of"):
        run_tuning(tmp_path / "absent.yaml", tmp_path, options=TuningOptions(profile="turbo"))
