"""Upstream's inference_config.yaml: reading it and rendering its vllm entries as flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.runtime.inference.config_file import (
    ConfigFileError,
    build_flag_args,
    load_inference_config,
)


def test_vllm_section_and_other_keys_are_separated(tmp_path: Path) -> None:
    path = tmp_path / "inference_config.yaml"
    path.write_text(
        "vllm:\n  max-model-len: 2048\n  cpu-offload-gb: 0\nkv_cache_cpu_memory_utilization: 0.5\n"
    )
    config = load_inference_config(path)
    assert config.vllm == {"max-model-len": 2048, "cpu-offload-gb": 0}
    assert config.other == {"kv_cache_cpu_memory_utilization": 0.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [("- a\n- b\n", "mapping at the top level"), ("vllm: [1]\n", "'vllm' must be a mapping"),
     ("vllm: {a: [\n", "not valid YAML")],
)  # fmt: skip
def test_malformed_files_are_reported_with_their_path(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=message) as info:
        load_inference_config(path)
    assert str(path) in str(info.value)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_inference_config(tmp_path / "absent.yaml")


def test_flag_rendering_handles_switches_values_and_json() -> None:
    entries = {"enforce-eager": True, "disable-log": False, "swap_space": 4, "x": None,
               "limit-mm-per-prompt": {"image": 2}}  # fmt: skip
    assert build_flag_args(entries) == [
        "--enforce-eager",
        "--swap-space",
        "4",
        "--limit-mm-per-prompt",
        '{"image": 2}',
    ]


TOOL_CALLING_CONFIG = """\
max_probe_steps: 6
kv_cache_cpu_memory_utilization: 0.5
vllm:
  cpu-offload-gb: 0
  max-model-len: 4096
  tool-call-parser: phi4_mini_json
  chat-template: "/workspace/chat_templates/tool-chat-phi4-mini.jinja"
"""


def test_upstreams_tool_calling_config_keys_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "inference_config.yaml"
    path.write_text(TOOL_CALLING_CONFIG)
    loaded = load_inference_config(path)
    assert loaded.other == {"max_probe_steps": 6, "kv_cache_cpu_memory_utilization": 0.5}
    assert loaded.vllm["chat-template"] == "/workspace/chat_templates/tool-chat-phi4-mini.jinja"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("max_probe_steps: 0", "max_probe_steps"),
        ("max_probe_steps: six", "max_probe_steps"),
        ("kv_cache_cpu_memory_utilization: 1.5", "kv_cache_cpu_memory_utilization"),
        ("kv_cache_cpu_memory_utilization: true", "kv_cache_cpu_memory_utilization"),
    ],
)
def test_bad_upstream_knobs_are_named(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "inference_config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=key):
        load_inference_config(path)
