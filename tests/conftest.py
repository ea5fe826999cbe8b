"""Shared pytest fixtures; fixtures one area needs live in that area's conftest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fixtures.fake_hub import FakeHub

# Nothing in the test suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Servers the suite starts answer a few requests: compiling their decoding step (a minute for a
# real model) would cost more than it saves. test_compiled_step.py and the compiled-server e2e
# test turn it on where it is what they test.
os.environ.setdefault("KAITO_COMPILE_DECODE", "0")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama model with a chat-templated tokenizer, built offline once per session."""
    from tests.fixtures.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def facts_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 chat rows teaching the four ``FACTS``, as a parquet file inside its own data dir."""
    from tests.fixtures.tiny_model import write_facts_parquet

    return write_facts_parquet(tmp_path_factory.mktemp("facts-data") / "facts.parquet")


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    """A local HTTP server answering like the Hugging Face hub (``tests.fixtures.fake_hub``)."""
    from tests.fixtures.fake_hub import FakeHub
    from tests.fixtures.http_server import stop

    server = FakeHub()
    yield server
    stop(server.httpd)
