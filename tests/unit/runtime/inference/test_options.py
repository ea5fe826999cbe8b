"""``kaito-serve`` flag parsing: vLLM names, upstream aliases, passthrough and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito.runtime.inference.options import ServeArgsError, parse_serve_args


def test_defaults_follow_upstream() -> None:
    options = parse_serve_args(["--model", "phi-4"])
    assert options.port == 5000
    assert options.adapters_dir == Path("/mnt/adapter")
    assert options.model_name == "phi-4"
    assert options.engine == "transformers"
    assert options.passthrough == ()


def test_unknown_flags_pass_through_in_order() -> None:
    argv = ["--model=m", "--tensor-parallel-size", "2", "--enable-lora", "--dtype=bfloat16",
            "--gpu-memory-utilization=0.84"]  # fmt: skip
    options = parse_serve_args(argv)
    assert options.passthrough == (
        "--tensor-parallel-size",
        "2",
        "--enable-lora",
        "--gpu-memory-utilization=0.84",
    )
    assert options.dtype == "bfloat16"


def test_upstream_transformers_runtime_spellings_are_aliases() -> None:
    options = parse_serve_args(
        ["--pretrained_model_name_or_path=/w", "--served_model_name=x", "--torch_dtype=float16"]
    )
    assert (options.model, options.served_model_name, options.dtype) == ("/w", "x", "float16")


def test_max_model_len_accepts_auto_for_vllm() -> None:
    options = parse_serve_args(["--model=m", "--max-model-len=auto"])
    assert options.max_model_len is None
    assert options.max_model_len_auto


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--model"),
        (["--model=m", "--port=0"], "--port"),
        (["--model=m", "--max-model-len=big"], "--max-model-len"),
        (["--model=m", "--engine=tgi"], "--engine"),
        (["--model=m", "--kaito-bogus=1"], "--kaito-bogus"),
        (["--model=m", "stray"], "stray"),
    ],
)
def test_bad_command_lines_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ServeArgsError, match=message):
        parse_serve_args(argv)


def test_api_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_API_KEY", "from-env")
    assert parse_serve_args(["--model=m"]).api_key == "from-env"
    assert parse_serve_args(["--model=m", "--api-key=flag"]).api_key == "flag"


def test_upstream_wrapper_flags_are_accepted_and_not_passed_on() -> None:
    options = parse_serve_args(
        ["--model=m", "--kaito-kv-cache-cpu-memory-utilization=0", "--kaito-disable-rate-limit"]
    )
    assert options.passthrough == ()


def test_cpu_speed_switches_default_on_and_can_be_turned_off() -> None:
    assert parse_serve_args(["--model", "m"]).fast_decode
    assert parse_serve_args(["--model", "m"]).cpu_prepack
    off = parse_serve_args(["--model", "m", "--no-fast-decode", "--no-cpu-prepack"])
    assert (off.fast_decode, off.cpu_prepack) == (False, False)
    assert off.passthrough == ()


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        (None, [], True),  # unset: compiled, like vLLM
        ("0", [], False),
        ("false", [], False),
        ("yes", [], True),
        ("0", ["--compile-decode"], True),  # the flag wins over the variable
        ("1", ["--no-compile-decode"], False),
    ],
)
def test_compile_decode_defaults_on_unless_the_environment_says_no(
    monkeypatch: pytest.MonkeyPatch, env: str | None, argv: list[str], expected: bool
) -> None:
    if env is None:
        monkeypatch.delenv("KAITO_COMPILE_DECODE", raising=False)
    else:
        monkeypatch.setenv("KAITO_COMPILE_DECODE", env)
    assert parse_serve_args(["--model", "m", *argv]).compile_decode is expected


def test_a_bad_compile_decode_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAITO_COMPILE_DECODE", "sometimes")
    with pytest.raises(ServeArgsError, match="KAITO_COMPILE_DECODE='sometimes' is not one of"):
        parse_serve_args(["--model", "m"])
