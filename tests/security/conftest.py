"""Fixtures for the hostile-input suite: ``kaito-serve`` on the tiny model behind a TestClient."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaito.runtime.inference.options import parse_serve_args
from kaito.runtime.inference.server import build_app

BASE = "tiny"


@contextmanager
def serving(model_dir: Path, adapters_dir: Path, *extra: str) -> Iterator[TestClient]:
    """The transformers ``kaito-serve`` app on ``model_dir``, once ``/health`` says 200."""
    options = parse_serve_args(
        [
            "--model", str(model_dir), "--served-model-name", BASE, "--max-model-len", "128",
            "--threads", "1", "--kaito-adapters-dir", str(adapters_dir), *extra,
        ]
    )  # fmt: skip
    with TestClient(build_app(options), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 60
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the tiny model did not load in 60 s"
            time.sleep(0.05)
        yield client


@pytest.fixture(scope="session")
def lora_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained) PEFT LoRA adapter for the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("lora") / "adapter"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(str(out))
    return out


@pytest.fixture
def adapters_dir(tmp_path: Path, lora_dir: Path) -> Path:
    """An adapters folder holding one adapter, ``facts``."""
    root = tmp_path / "adapters"
    shutil.copytree(lora_dir, root / "facts")
    return root


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One server per module for tests that load no adapters."""
    with serving(tiny_model_dir, tmp_path_factory.mktemp("no-adapters")) as client:
        yield client
