"""The vLLM child's argv for a table of presets, GPU SKUs, adapters and user configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.presets import catalog, engine_args, skus
from kaito.runtime.inference.engines.vllm_command import (
    VLLM_SERVER_MODULE,
    build_vllm_command,
    discover_adapters,
)
from kaito.runtime.inference.options import parse_serve_args

PY = "/opt/py/bin/python"


def command(argv: list[str], adapters: dict[str, Path] | None = None, config=None) -> list[str]:
    options = parse_serve_args(argv)
    return build_vllm_command(
        options,
        python=PY,
        model=options.model,
        port=8123,
        adapters=adapters or {},
        config_entries=config or {},
    )


def value(argv: list[str], flag: str) -> str | None:
    """The last value given for ``flag`` (vLLM's argparse lets the last one win)."""
    found = None
    for i, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(argv):
            found = argv[i + 1]
    return found


def test_the_child_listens_on_loopback_at_the_internal_port() -> None:
    argv = command(["--engine=vllm", "--model=org/m", "--port=5000", "--api-key=k"])
    assert argv[:3] == [PY, "-m", VLLM_SERVER_MODULE]
    assert value(argv, "--host") == "127.0.0.1"
    assert value(argv, "--port") == "8123"
    assert value(argv, "--served-model-name") == "org/m"
    assert not any(a.startswith("--api-key") for a in argv)  # our front checks keys


@pytest.mark.parametrize(
    ("preset", "instance_type", "nodes", "expected"),
    [
        ("phi-4-mini-instruct", "Standard_NC24ads_A100_v4", 1, {"--tensor-parallel-size": "1"}),
        ("llama-3.3-70b-instruct", "Standard_NC96ads_A100_v4", 1, {"--tensor-parallel-size": "4"}),
        ("phi-4-mini-instruct", "Standard_NV36ads_A10_v5", 1, {"--gpu-memory-utilization": "0.82"}),
        ("phi-4-mini-instruct", None, 1, {"--gpu-memory-utilization": None}),
    ],
)
def test_preset_engine_arguments_reach_vllm_unchanged(
    preset: str, instance_type: str | None, nodes: int, expected: dict[str, str | None]
) -> None:
    spec = catalog.get_model(preset)
    gpu = skus.require_sku(instance_type) if instance_type else None
    flags = engine_args.build_vllm_args(
        spec, gpu, nodes, served_model_name=preset, config_file="/mnt/config/inference_config.yaml"
    )
    argv = command(["--engine=vllm", *flags])
    assert value(argv, "--model") == spec.hf_repo
    assert value(argv, "--served-model-name") == preset
    for flag, wanted in expected.items():
        assert value(argv, flag) == wanted
    # Flags meant for kaito-serve itself never reach vLLM.
    assert not any(a.startswith("--kaito-") for a in argv)
    for flag in flags:
        if not flag.startswith(("--kaito-", "--model=", "--served-model-name=", "--dtype=",
                                "--max-model-len=", "--chat-template=")):  # fmt: skip
            assert flag in argv
    # Off the image, upstream's template path becomes the packaged copy of the same file.
    template = value(argv, "--chat-template")
    assert template is not None
    assert template.endswith(spec.vllm.chat_template or "-")


def test_each_adapter_directory_becomes_a_lora_module(tmp_path: Path) -> None:
    for name in ("b-adapter", "a-adapter"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text("{}")
    (tmp_path / "no-config").mkdir()
    adapters = discover_adapters(tmp_path)
    assert list(adapters) == ["a-adapter", "b-adapter"]
    argv = command(["--model=m"], adapters)
    assert "--enable-lora" in argv
    i = argv.index("--lora-modules")
    assert argv[i + 1 : i + 3] == [
        f"a-adapter={tmp_path / 'a-adapter'}",
        f"b-adapter={tmp_path / 'b-adapter'}",
    ]


def test_no_lora_flags_without_adapters_and_no_duplicate_enable_lora(tmp_path: Path) -> None:
    assert "--enable-lora" not in command(["--model=m"])
    assert discover_adapters(tmp_path / "absent") == {}
    argv = command(["--model=m", "--enable-lora"], {"a": tmp_path})
    assert argv.count("--enable-lora") == 1


def test_explicit_lora_modules_replace_discovery(tmp_path: Path) -> None:
    argv = command(["--model=m", "--enable-lora", "--lora-modules", "x=/p"], {"a": tmp_path})
    assert argv.count("--lora-modules") == 1
    assert "x=/p" in argv
    assert f"a={tmp_path}" not in argv


def test_user_config_entries_come_last_and_win() -> None:
    argv = command(
        ["--model=m", "--max-model-len=4096", "--gpu-memory-utilization=0.84"],
        config={"max-model-len": 2048, "enforce-eager": True, "cpu-offload-gb": 0},
    )
    assert argv[-5:] == ["--max-model-len", "2048", "--enforce-eager", "--cpu-offload-gb", "0"]
    assert value(argv, "--max-model-len") == "2048"


def test_context_window_and_dtype_are_forwarded() -> None:
    argv = command(["--model=m", "--max-model-len=auto", "--dtype=bfloat16"])
    assert value(argv, "--max-model-len") == "auto"
    assert value(argv, "--dtype") == "bfloat16"
    assert value(command(["--model=m"]), "--dtype") is None


def test_upstream_chat_template_paths_resolve_to_the_packaged_templates_off_image() -> None:
    assert not Path("/workspace/chat_templates").exists()  # this machine is not the image
    flagged = command(
        ["--model=m", "--chat-template=/workspace/chat_templates/tool-chat-hermes.jinja"]
    )
    path = Path(value(flagged, "--chat-template") or "")
    assert path.name == "tool-chat-hermes.jinja"
    assert path.is_file()
    assert "<tool_call>" in path.read_text()
    configured = command(
        ["--model=m"],
        config={"chat-template": "/workspace/chat_templates/tool-chat-phi4-mini.jinja"},
    )
    assert Path(value(configured, "--chat-template") or "").is_file()


def test_other_chat_template_paths_are_left_alone() -> None:
    for given in ("/srv/my.jinja", "/workspace/chat_templates/not-shipped.jinja"):
        assert value(command(["--model=m", "--chat-template", given]), "--chat-template") == given
