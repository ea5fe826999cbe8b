"""``kaito-serve`` with its decoding step compiled (its default outside the test suite).

The suite's other servers run with ``KAITO_COMPILE_DECODE=0`` (tests/conftest.py); this one
turns compilation on as a user's server has it, on the tiny model in float32, and checks what a
user sees: the log names the compiled step, and many concurrent greedy chats (batches of every
size as they arrive and finish) answer what unbatched ``transformers.generate`` answers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.inference.conftest import BASE, LiveServer, Reference, plain_server
from tests.fixtures.tiny_model import FACTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

QUESTIONS = [q for q, _ in FACTS] + ["the quick brown fox", "What is Kubernetes?", "one two"]


@pytest.fixture(scope="module")
def compiled_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with plain_server(tiny_model_dir, tmp_path_factory, "compiled", "--compile-decode") as live:
        yield live


async def test_compiled_server_answers_concurrent_chats_as_unbatched_generate(
    compiled_server: LiveServer, reference: Reference
) -> None:
    log = compiled_server.log.read_text()
    assert "decoding steps through kaito's compiled Llama step" in log, log[-3000:]
    rng = random.Random(11)
    jobs = [(rng.choice(QUESTIONS), rng.choice([6, 12, 24])) for _ in range(40)]
    api = openai.AsyncOpenAI(base_url=compiled_server.v1, api_key="unused", max_retries=0)

    async def run(question: str, max_tokens: int) -> str:
        await asyncio.sleep(rng.random() * 0.5)  # arrive while others are decoding
        response = await api.chat.completions.create(
            model=BASE,
            messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens,
            temperature=0,
        )
        return response.choices[0].message.content or ""

    results = await asyncio.gather(*(run(*job) for job in jobs))
    await api.close()
    for (question, max_tokens), got in zip(jobs, results, strict=True):
        assert got == reference.chat(question, False, max_tokens), (question, max_tokens)
