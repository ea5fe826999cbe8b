"""``kaito-serve`` flags: vLLM's names where they overlap, ``--kaito-*`` for upstream's own flags.

The same command line works with either engine: flags we do not know are kept in order as
``passthrough`` and handed to vLLM verbatim (``--flag``, ``--flag value``, ``--flag=value``); the
transformers engine logs and ignores them. Parsing is pure so the CLI, the local mode and the tests
share it; ``--api-key`` falls back to ``$KAITO_API_KEY``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Literal

from kaito.runtime.inference import settings

Engine = Literal["transformers", "vllm"]
ENGINES: tuple[Engine, ...] = ("transformers", "vllm")
DEFAULT_PORT = 5000
DEFAULT_ADAPTERS_DIR = Path("/mnt/adapter")


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """The post-load benchmark's load: upstream's 60 s of 2048-token prompts, 256-token answers."""

    duration_s: float = 60.0
    input_tokens: int = 2048
    output_tokens: int = 256
    concurrency: int = 16


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """Everything ``kaito-serve`` was asked to do."""

    model: str
    """A local directory, a ``.gguf`` file, a preset name or a Hugging Face repo id."""
    served_model_name: str | None = None
    """Name clients use for the base model (default: ``model``)."""
    engine: Engine = "transformers"
    """Which engine generates tokens."""
    host: str = "0.0.0.0"
    """Interface to bind."""
    port: int = DEFAULT_PORT
    """Public port (upstream's 5000)."""
    max_model_len: int | None = None
    """Context window in tokens (prompt plus output)."""
    max_model_len_auto: bool = False
    """``--max-model-len=auto``: let vLLM fit the window into memory (vLLM only)."""
    api_key: str | None = None
    """When set, requests need ``Authorization: Bearer <key>`` (``/health`` stays open)."""
    adapters_dir: Path = DEFAULT_ADAPTERS_DIR
    """Each sub-directory is a LoRA adapter served under the directory's name."""
    config_file: Path | None = None
    """Upstream's ``inference_config.yaml`` (its ``vllm:`` entries go last on vLLM's argv)."""
    dtype: str = "auto"
    """Weights dtype (``auto``, ``float32``, ``bfloat16``, ``float16``); ``auto`` is the host's
    choice on CPU (``kaito.runtime.host.serving_dtype``), the checkpoint's dtype on GPU."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda[:N]`` (transformers engine)."""
    max_batch_size: int = 64
    """Rows decoded together (transformers engine; vLLM's is ``--max-num-seqs``)."""
    max_queue: int = 256
    """Requests that may wait for a batch slot before HTTP 429."""
    threads: int | None = None
    """torch CPU threads (transformers engine); default every CPU the process may use."""
    cpu_prepack: bool = True
    """Reorder linear weights once for oneDNN on CPU (faster; linear weights held twice)."""
    fast_decode: bool = True
    """Decode Llama models on CPU through kaito's own step (same logits, less CPU)."""
    compile_decode: bool = True
    """Compile that step into native code at start (faster steps, a slower start)."""
    vllm_python: str | None = None
    """Interpreter that has vLLM installed (default: this one)."""
    vllm_port: int | None = None
    """Internal port for the vLLM child (default: a free one)."""
    registry_plain_http: bool = False
    """Pull OCI adapters over plain HTTP (a registry on loopback)."""
    adapter_registries: tuple[str, ...] = ()
    """Registries (``host`` or ``host:port``) hot-load may pull from; none: OCI hot-load off."""
    adapter_registry_allow_private: bool = False
    """Let those registries be on loopback or private addresses (metadata addresses: never)."""
    max_adapter_pulls: int = 2
    """Hot-load pulls running at once; more get HTTP 429."""
    adapter_pull_timeout: float = 300.0
    """Seconds a hot-load pull may take before the request is answered with an error."""
    log_level: str = "info"
    """Logging level of the server."""
    benchmark: BenchmarkConfig | None = None
    """Measure throughput once the model is up, before ``/health`` passes."""
    passthrough: tuple[str, ...] = ()
    """Unknown flags, handed to vLLM unchanged."""

    @property
    def model_name(self) -> str:
        """The served name of the base model."""
        return self.served_model_name or self.model


class ServeArgsError(ValueError):
    """The command line is not valid; the message names the flag."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ServeArgsError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for ``kaito-serve`` (also used for ``--help``)."""
    parser = _Parser(
        prog="kaito-serve",
        description="OpenAI-compatible inference server (vLLM or our batched transformers engine).",
        allow_abbrev=False,
    )
    add = parser.add_argument
    # Upstream's transformers-runtime spellings are accepted as aliases (§4.3).
    add(
        "--model",
        "--pretrained_model_name_or_path",
        dest="model",
        help="Local dir, .gguf file, preset name or HF repo id.",
    )
    add(
        "--served-model-name",
        "--served_model_name",
        dest="served_model_name",
        help="Name clients use for the base model (default: --model).",
    )
    add("--engine", choices=ENGINES, default="transformers", help="Generation engine.")
    add("--host", default="0.0.0.0", help="Interface to bind.")
    add("--port", type=int, default=DEFAULT_PORT, help="Public port.")
    add("--max-model-len", help="Context window (prompt plus output) in tokens, or auto.")
    add("--api-key", help="Require this bearer token (default: $KAITO_API_KEY).")
    add("--kaito-adapters-dir", type=Path, default=DEFAULT_ADAPTERS_DIR, help="LoRA adapters.")
    add("--kaito-config-file", type=Path, help="inference_config.yaml (vllm: entries go last).")
    add(
        "--dtype",
        "--torch_dtype",
        dest="dtype",
        default="auto",
        help="Weights dtype. auto: on a CPU with native bf16 (AVX512-BF16 or AMX) bfloat16, "
        "about 1.3x faster, but batched greedy answers may differ from unbatched ones where two "
        "tokens tie within bf16's precision; on other CPUs (AVX2: bf16 is emulated, several "
        "times slower) float32, where batched greedy answers equal unbatched ones exactly; on "
        "GPU the checkpoint's dtype. float32 / bfloat16 / float16 force one.",
    )
    add("--device", default="auto", help="auto, cpu or cuda[:N] (transformers engine).")
    add("--max-batch-size", type=int, default=64, help="Rows decoded together.")
    add("--max-queue", type=int, default=256, help="Waiting requests before HTTP 429.")
    add(
        "--threads",
        type=int,
        help="torch CPU threads (default: the CPUs this process may use, i.e. its affinity mask "
        "capped by the cgroup CPU limit; fewer can be faster when other work shares the cores). "
        "Changes speed only, never answers.",
    )
    add(
        "--cpu-prepack",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Pack linear weights for oneDNN on CPU: faster decoding, linear weights held twice.",
    )
    add(
        "--fast-decode",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Run decoding steps of Llama-architecture models on CPU through kaito's own step "
        "instead of the model's forward: the same logits with less CPU per step. Steps with "
        "adapter rows always use the model's forward.",
    )
    add(
        "--compile-decode",
        action=argparse.BooleanOptionalAction,
        default=None,  # then $KAITO_COMPILE_DECODE, on when unset (parse_serve_args)
        help="Compile that decoding step into native code at start (torch.compile; needs a C++ "
        "compiler, else the server says so and decodes without it): steps about 1.3-1.5x "
        "faster in bf16 (less in float32), a start about a minute longer on two cores for a "
        "small model. Logits may then differ from the eager step's in their last bits, "
        "so a greedy pick can change where two tokens are that close. Like vLLM's "
        "--enforce-eager, --no-compile-decode turns it off; KAITO_COMPILE_DECODE=0 makes that "
        "the default.",
    )
    add("--kaito-vllm-python", help="Python interpreter with vLLM installed.")
    add("--kaito-vllm-port", type=int, help="Internal port of the vLLM child process.")
    add(
        "--kaito-registry-plain-http",
        action="store_true",
        help="Pull OCI adapters over plain HTTP (local registries).",
    )
    add(
        "--kaito-adapter-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="A registry /v1/load_lora_adapter may pull OCI adapters from (repeatable; "
        "default none: hot-load only from --kaito-adapters-dir).",
    )
    add(
        "--kaito-adapter-registry-allow-private",
        action="store_true",
        help="Let those registries resolve to loopback/private addresses (never metadata).",
    )
    add("--kaito-adapter-pulls", type=int, default=2, help="Hot-load pulls at once (more: 429).")
    add(
        "--kaito-adapter-pull-timeout",
        type=float,
        default=300.0,
        help="Seconds a hot-load pull may take.",
    )
    # Upstream's vLLM-wrapper flags (§4.2); accepted for compatibility, not used on CPU.
    add("--kaito-kv-cache-cpu-memory-utilization", type=float, help=argparse.SUPPRESS)
    add("--kaito-max-probe-steps", type=int, help=argparse.SUPPRESS)
    add("--kaito-disable-rate-limit", action="store_true", help=argparse.SUPPRESS)
    add(
        "--kaito-benchmark",
        action="store_true",
        help="Benchmark the server once the model is loaded; /health passes after it.",
    )
    defaults = BenchmarkConfig()
    add("--kaito-benchmark-duration", type=float, default=defaults.duration_s, help="Seconds.")
    add("--kaito-benchmark-concurrency", type=int, default=defaults.concurrency, help="Clients.")
    add("--kaito-benchmark-input-tokens", type=int, default=defaults.input_tokens, help="Prompt.")
    add("--kaito-benchmark-output-tokens", type=int, default=defaults.output_tokens, help="Answer.")
    add("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def parse_serve_args(argv: list[str]) -> ServeOptions:
    """Parse ``argv`` into :class:`ServeOptions`; unknown flags become ``passthrough``.

    Raises:
        ServeArgsError: a known flag is missing or has a bad value.
    """
    namespace, unknown = build_parser().parse_known_args(argv)
    if not namespace.model:
        raise ServeArgsError("the following arguments are required: --model")
    max_model_len, auto = _parse_model_len(namespace.max_model_len)
    for value, flag in (
        (namespace.port, "--port"),
        (namespace.max_batch_size, "--max-batch-size"),
        (max_model_len, "--max-model-len"),
        (namespace.threads, "--threads"),
        (namespace.kaito_adapter_pulls, "--kaito-adapter-pulls"),
        (namespace.kaito_benchmark_concurrency, "--kaito-benchmark-concurrency"),
        (namespace.kaito_benchmark_input_tokens, "--kaito-benchmark-input-tokens"),
        (namespace.kaito_benchmark_output_tokens, "--kaito-benchmark-output-tokens"),
    ):
        if value is not None and value < 1:
            raise ServeArgsError(f"{flag} must be at least 1, got {value}")
    if not namespace.kaito_benchmark_duration > 0:
        raise ServeArgsError("--kaito-benchmark-duration must be a positive number of seconds")
    if not namespace.kaito_adapter_pull_timeout > 0:
        raise ServeArgsError("--kaito-adapter-pull-timeout must be a positive number of seconds")
    if namespace.max_queue < 0:
        raise ServeArgsError(f"--max-queue must be at least 0, got {namespace.max_queue}")
    compile_decode = namespace.compile_decode
    if compile_decode is None:
        try:
            compile_decode = settings.compile_decode_default()
        except ValueError as exc:
            raise ServeArgsError(str(exc)) from None
    if unknown and not unknown[0].startswith("-"):
        raise ServeArgsError(f"unexpected argument {unknown[0]!r} (flags start with --)")
    for arg in unknown:
        if arg.startswith("--kaito-"):
            raise ServeArgsError(f"unknown flag {arg.split('=', 1)[0]}")
    return ServeOptions(
        model=namespace.model,
        served_model_name=namespace.served_model_name,
        engine=namespace.engine,
        host=namespace.host,
        port=namespace.port,
        max_model_len=max_model_len,
        max_model_len_auto=auto,
        api_key=namespace.api_key or settings.get_api_key(),
        adapters_dir=namespace.kaito_adapters_dir,
        config_file=namespace.kaito_config_file,
        dtype=namespace.dtype,
        device=namespace.device,
        max_batch_size=namespace.max_batch_size,
        max_queue=namespace.max_queue,
        threads=namespace.threads,
        cpu_prepack=namespace.cpu_prepack,
        fast_decode=namespace.fast_decode,
        compile_decode=compile_decode,
        vllm_python=namespace.kaito_vllm_python,
        vllm_port=namespace.kaito_vllm_port,
        registry_plain_http=namespace.kaito_registry_plain_http,
        adapter_registries=tuple(namespace.kaito_adapter_registry),
        adapter_registry_allow_private=namespace.kaito_adapter_registry_allow_private,
        max_adapter_pulls=namespace.kaito_adapter_pulls,
        adapter_pull_timeout=namespace.kaito_adapter_pull_timeout,
        log_level=namespace.log_level,
        benchmark=(
            BenchmarkConfig(
                duration_s=namespace.kaito_benchmark_duration,
                input_tokens=namespace.kaito_benchmark_input_tokens,
                output_tokens=namespace.kaito_benchmark_output_tokens,
                concurrency=namespace.kaito_benchmark_concurrency,
            )
            if namespace.kaito_benchmark
            else None
        ),
        passthrough=tuple(unknown),
    )


def _parse_model_len(raw: str | None) -> tuple[int | None, bool]:
    if raw is None:
        return None, False
    if raw.strip().lower() == "auto":
        return None, True
    try:
        return int(raw), False
    except ValueError as exc:
        raise ServeArgsError(f"--max-model-len must be an integer or 'auto', got {raw!r}") from exc
