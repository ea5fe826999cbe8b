"""Session fixtures for the inference contract tests: a trained adapter and live ``kaito-serve``s.

The main server runs the real console script in a subprocess (so the test process, which also
plays 100 concurrent clients, does not share a GIL with it) on the tiny model with three adapters:
``facts`` (trained here on ``FACTS``), ``facts-copy`` (the same files) and ``muted`` (the same
files with strength 0, which must answer exactly like the base model).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.inference.adapter_training import train_facts_adapter
from tests.fixtures.registry import free_port, oci_registry

__all__ = ["oci_registry"]

API_KEY = "test-key-123"
BASE = "tiny"
MAX_MODEL_LEN = 256


@dataclass(frozen=True)
class LiveServer:
    """A running ``kaito-serve``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def v1(self) -> str:
        return self.url + "/v1"


def start_server(args: list[str], log: Path, env: dict[str, str] | None = None) -> LiveServer:
    """Start ``kaito-serve`` with ``args`` on a free port (does not wait for readiness)."""
    port = free_port()
    exe = Path(sys.executable).parent / "kaito-serve"
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(exe), "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "KAITO_API_KEY": "", **(env or {})},
    )
    return LiveServer(url=f"http://127.0.0.1:{port}", process=process, log=log)


def wait_ready(server: LiveServer, timeout: float = 180.0) -> None:
    """Wait for ``/health`` to answer 200; fail with the server log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"kaito-serve exited early:\n{server.log.read_text()[-4000:]}")
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"kaito-serve not ready in {timeout}s:\n{server.log.read_text()[-4000:]}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def facts_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter that answers the four ``FACTS`` exactly (trained once per session)."""
    # 80 steps at 8e-3 learn all four answers exactly (checked); half the recipe's 150 at 5e-3.
    return train_facts_adapter(
        tiny_model_dir, tmp_path_factory.mktemp("facts-training"), steps=80, learning_rate=8e-3
    )


@pytest.fixture(scope="session")
def adapters_root(facts_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapters")
    for name in ("facts", "facts-copy", "muted"):
        shutil.copytree(facts_adapter, root / name)
    (root / "not-an-adapter").mkdir()  # ignored: no adapter_config.json
    return root


@pytest.fixture(scope="session")
def server(
    tiny_model_dir: Path, adapters_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The shared server: API key, three adapters, small context window."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    live = start_server(
        [
            "--model",
            str(tiny_model_dir),
            "--served-model-name",
            BASE,
            "--kaito-adapters-dir",
            str(adapters_root),
            "--api-key",
            API_KEY,
            "--max-model-len",
            str(MAX_MODEL_LEN),
            "--max-batch-size",
            "24",
            "--kaito-registry-plain-http",
            # The test registry listens on loopback (hot-load refuses it without these).
            "--kaito-adapter-registry",
            "127.0.0.1",
            "--kaito-adapter-registry-allow-private",
            "--threads",
            "1",
            # Exactness against unbatched generate is a float32 property; ``auto`` would pick
            # bfloat16 on a CPU with native bf16 (kaito.runtime.host.serving_dtype).
            "--dtype",
            "float32",
        ],
        log,
        env={"muted": "0.0"},
    )
    try:
        wait_ready(live)
        yield live
    finally:
        stop_server(live)


@contextmanager
def plain_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str, *extra: str
) -> Iterator[LiveServer]:
    """A float32 server on the tiny model without adapters, ``extra`` flags added; stopped after.

    Float32, because exactness against unbatched generate is a float32 property (``auto`` would
    pick bfloat16 on a CPU with native bf16: kaito.runtime.host.serving_dtype).
    """
    log = tmp_path_factory.mktemp(name) / "server.log"
    no_adapters = str(tmp_path_factory.mktemp("no-adapters"))
    flags = ["--model", str(tiny_model_dir), "--served-model-name", BASE, "--threads", "1"]
    flags += ["--kaito-adapters-dir", no_adapters, "--dtype", "float32", *extra]
    live = start_server(flags, log)
    try:
        wait_ready(live, timeout=420.0)
        yield live
    finally:
        stop_server(live)


@pytest.fixture(scope="session")
def small_queue_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server that decodes one request at a time and lets only one wait."""
    with plain_server(
        tiny_model_dir,
        tmp_path_factory,
        "small-server",
        "--max-batch-size",
        "1",
        "--max-queue",
        "1",
    ) as live:
        yield live


class Reference:
    """Unbatched greedy generation with ``transformers.generate``: what the server must match.

    In float32, as the servers are started (``--dtype float32``).
    """

    def __init__(self, model_dir: Path, adapter_dir: Path) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dtype = torch.float32
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        tuned = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        self.tuned = PeftModel.from_pretrained(tuned, str(adapter_dir))
        self.base.eval()
        self.tuned.eval()

    def chat_ids(self, question: str, system: str | None = None) -> list[int]:
        messages = [{"role": "user", "content": question}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        encoded: Any = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True
        )
        if hasattr(encoded, "keys"):
            encoded = encoded["input_ids"]
        return [int(t) for t in encoded]

    def prompt_ids(self, prompt: str) -> list[int]:
        return [int(t) for t in self.tokenizer(prompt)["input_ids"]]

    @cache  # noqa: B019 - one Reference per session
    def generate(self, ids: tuple[int, ...], adapter: bool, max_new_tokens: int) -> str:
        model = self.tuned if adapter else self.base
        inputs = self.torch.tensor([list(ids)])
        with self.torch.no_grad():
            # transformers types ``generate``'s self as a Protocol (GenerativePreTrainedModel,
            # written for the ``ty`` checker) that its own auto classes do not satisfy for mypy.
            out = model.generate(  # type: ignore[misc]
                inputs,
                attention_mask=self.torch.ones_like(inputs),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
            )
        text = self.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
        assert isinstance(text, str)  # one sequence of ids decodes to one string
        return text

    def chat(
        self, question: str, adapter: bool, max_new_tokens: int, system: str | None = None
    ) -> str:
        return self.generate(tuple(self.chat_ids(question, system)), adapter, max_new_tokens)


@pytest.fixture(scope="session")
def reference(tiny_model_dir: Path, facts_adapter: Path) -> Reference:
    return Reference(tiny_model_dir, facts_adapter)
