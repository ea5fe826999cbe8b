"""The argv that starts vLLM's OpenAI server as our child process (ADR 0002), as a pure function.

Order matters because vLLM's argparse lets a later flag win: ours first (model, served name,
loopback host and internal port, context window, dtype), then the caller's unknown flags verbatim
(the preset's engine arguments from ``kaito.presets.engine_args``), then LoRA (``--enable-lora``
and one ``name=path`` per adapter directory unless the caller listed modules itself, §4.2), and the
user's ``inference_config.yaml`` ``vllm:`` entries last so they override everything (§4.2).
Upstream's ``/workspace/chat_templates`` paths are mapped to the packaged templates where that
folder does not exist (``kaito.runtime.inference.chat_templates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kaito.api.constants import ADAPTER_CONFIG_FILE
from kaito.runtime.inference import chat_templates
from kaito.runtime.inference.config_file import build_flag_args
from kaito.runtime.inference.options import ServeOptions

VLLM_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
INTERNAL_HOST = "127.0.0.1"
# vLLM refuses /v1/load_lora_adapter unless this is set in its environment.
RUNTIME_LORA_ENV = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}


def discover_adapters(adapters_dir: Path) -> dict[str, Path]:
    """Adapter directories (holding ``adapter_config.json``) by name, sorted by name."""
    if not adapters_dir.is_dir():
        return {}
    return {
        child.name: child
        for child in sorted(adapters_dir.iterdir())
        if (child / ADAPTER_CONFIG_FILE).is_file()
    }


def _has_flag(argv: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def build_vllm_command(
    options: ServeOptions,
    *,
    python: str,
    model: str,
    port: int,
    adapters: Mapping[str, Path],
    config_entries: Mapping[str, Any],
) -> list[str]:
    """The full argv for the vLLM child process.

    Args:
        options: parsed ``kaito-serve`` flags (``passthrough`` holds vLLM's own flags).
        python: interpreter that has vLLM installed.
        model: what vLLM loads (a local directory or a hub repo id).
        port: internal port vLLM listens on (loopback only; our front owns the public port).
        adapters: adapter name to directory, from :func:`discover_adapters`.
        config_entries: the ``vllm:`` section of ``inference_config.yaml``.
    """
    passthrough = chat_templates.resolve_template_flags(options.passthrough)
    argv = [
        python,
        "-m",
        VLLM_SERVER_MODULE,
        f"--model={model}",
        f"--served-model-name={options.model_name}",
        f"--host={INTERNAL_HOST}",
        f"--port={port}",
    ]
    if options.max_model_len is not None:
        argv.append(f"--max-model-len={options.max_model_len}")
    elif options.max_model_len_auto:
        argv.append("--max-model-len=auto")
    if options.dtype != "auto":
        argv.append(f"--dtype={options.dtype}")
    argv += passthrough
    if adapters and not _has_flag(passthrough, "--lora-modules"):
        if not _has_flag(passthrough, "--enable-lora"):
            argv.append("--enable-lora")
        argv.append("--lora-modules")
        argv += [f"{name}={path}" for name, path in adapters.items()]
    argv += build_flag_args(chat_templates.resolve_template_entries(config_entries))
    return argv
