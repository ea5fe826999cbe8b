"""The continuously batched engine on the tiny model, without HTTP.

A small ``max_batch_size`` forces requests to wait, join a running batch between steps and leave
it at different times; every greedy output must still equal unbatched ``generate``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path
from typing import Any

import pytest

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines.base import GenerationRequest, SamplingParams
from kaito.runtime.inference.engines.transformers_engine import (
    TransformersEngine,
    TransformersEngineConfig,
)

pytestmark = pytest.mark.timeout(120)

PROMPTS = [
    "What is the capital of Zorbia?",
    "the quick brown fox",
    "numbers one two three four",
    "Who maintains the kaito operator?",
    "moons",
    "a model learns to answer questions about capitals colors moons and guilds",
]


@functools.cache
def _reference(model_dir: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return tokenizer, AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)


def unbatched(model_dir: Path, ids: list[int], max_new_tokens: int) -> str:
    import torch

    tokenizer, model = _reference(model_dir)
    inputs = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    text: str = tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
    return text


async def collect(engine: TransformersEngine, request: GenerationRequest) -> list[str]:
    texts = [""] * request.n
    async for event in engine.generate(request):
        texts[event.index] += event.text
    return texts


async def started(model_dir: Path, **overrides: Any) -> TransformersEngine:
    config = TransformersEngineConfig(
        model_dir=model_dir, served_model_name="tiny", threads=1, **overrides
    )
    engine = TransformersEngine(config)
    await engine.start()
    return engine


@pytest.mark.slow
async def test_requests_joining_and_leaving_a_batch_match_unbatched_greedy(
    tiny_model_dir: Path,
) -> None:
    engine = await started(tiny_model_dir, max_batch_size=3)
    try:
        jobs = []
        for i, prompt in enumerate(PROMPTS * 2):
            ids = engine.encode_chat([{"role": "user", "content": prompt}])
            jobs.append((ids, 4 + (i * 5) % 23))

        async def run(i: int, ids: list[int], max_tokens: int) -> str:
            await asyncio.sleep(0.02 * (i % 4))
            params = SamplingParams(max_tokens=max_tokens, temperature=0)
            return (await collect(engine, GenerationRequest("tiny", tuple(ids), params)))[0]

        results = await asyncio.gather(*(run(i, *job) for i, job in enumerate(jobs)))
    finally:
        await engine.stop()
    for (ids, max_tokens), got in zip(jobs, results, strict=True):
        assert got == unbatched(tiny_model_dir, ids, max_tokens)


async def test_seeded_sampling_repeats_and_choices_differ(tiny_model_dir: Path) -> None:
    engine = await started(tiny_model_dir)
    try:
        ids = tuple(engine.encode_prompt("tell me"))
        params = SamplingParams(max_tokens=12, temperature=1.0, top_p=0.95, top_k=50, seed=5)
        first = await collect(engine, GenerationRequest("tiny", ids, params, n=3))
        second = await collect(engine, GenerationRequest("tiny", ids, params, n=3))
    finally:
        await engine.stop()
    assert first == second
    assert len(set(first)) == 3


async def test_full_queue_refuses_and_unknown_model_and_long_prompt_are_rejected(
    tiny_model_dir: Path,
) -> None:
    engine = await started(tiny_model_dir, max_batch_size=1, max_queue=1, max_model_len=64)
    try:
        long_params = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
        ids = tuple(engine.encode_prompt("hello"))
        running = engine.generate(GenerationRequest("tiny", ids, long_params))
        await running.__anext__()  # admitted: now decoding
        waiting = engine.generate(GenerationRequest("tiny", ids, long_params))
        with pytest.raises(errors.QueueFullError):
            engine.generate(GenerationRequest("tiny", ids, long_params))
        with pytest.raises(errors.ModelNotFoundError):
            engine.generate(GenerationRequest("other", ids, long_params))
        with pytest.raises(errors.PromptTooLongError):
            engine.generate(GenerationRequest("tiny", tuple(range(5, 70)), long_params))
        running.cancel()
        waiting.cancel()
        for _ in range(100):
            if engine.stats().running == 0 and engine.stats().waiting == 0:
                break
            await asyncio.sleep(0.02)
        assert engine.stats().running == 0
    finally:
        await engine.stop()


async def test_stop_string_and_length_finish_reasons(tiny_model_dir: Path) -> None:
    engine = await started(tiny_model_dir)
    try:
        ids = tuple(engine.encode_prompt("the quick brown fox"))
        plain = await collect(
            engine, GenerationRequest("tiny", ids, SamplingParams(max_tokens=10, temperature=0))
        )
        stop = plain[0][2:5]
        params = SamplingParams(max_tokens=10, temperature=0, stop=(stop,))
        events = [e async for e in engine.generate(GenerationRequest("tiny", ids, params))]
    finally:
        await engine.stop()
    text = "".join(e.text for e in events)
    assert plain[0].startswith(text)
    assert stop not in text
    assert events[-1].finish_reason == "stop"


async def test_bfloat16_weights_on_cpu_match_bfloat16_generate(tiny_model_dir: Path) -> None:
    """``--dtype bfloat16`` (the fast CPU setting in docs/benchmarks.md) computes what bf16 does."""
    import torch
    from transformers import AutoModelForCausalLM

    engine = await started(tiny_model_dir, dtype="bfloat16", max_batch_size=1)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16)
    tokenizer, _ = _reference(tiny_model_dir)
    try:
        for prompt in PROMPTS[:4]:
            ids = engine.encode_chat([{"role": "user", "content": prompt}])
            params = SamplingParams(max_tokens=12, temperature=0)
            got = (await collect(engine, GenerationRequest("tiny", tuple(ids), params)))[0]
            inputs = torch.tensor([ids])
            with torch.no_grad():
                out = model.generate(
                    inputs,
                    attention_mask=torch.ones_like(inputs),
                    max_new_tokens=12,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            assert got == tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
    finally:
        await engine.stop()


async def test_prompts_waiting_together_are_prefilled_in_one_pass_and_match_unbatched(
    tiny_model_dir: Path,
) -> None:
    engine = await started(tiny_model_dir, max_batch_size=16)
    prefills: list[tuple[int, int]] = []
    forward = engine._forward

    def counting_forward(input_ids: Any, adapters: list[str], **kwargs: Any) -> Any:
        if input_ids.shape[1] > 1:  # decode steps feed one token per row
            prefills.append((int(input_ids.shape[0]), int(input_ids.shape[1])))
        return forward(input_ids, adapters, **kwargs)

    engine._forward = counting_forward  # type: ignore[method-assign]
    try:
        jobs = [engine.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS]
        assert len({len(ids) for ids in jobs}) > 1  # different lengths: padding is exercised
        # Hold the scheduler while all requests are queued, so that it finds them together.
        hold = asyncio.ensure_future(engine._run_on_scheduler(lambda: time.sleep(0.3)))
        await asyncio.sleep(0.05)
        streams = [
            collect(
                engine,
                GenerationRequest("tiny", tuple(ids), SamplingParams(max_tokens=9, temperature=0)),
            )
            for ids in jobs
        ]
        results = await asyncio.gather(*streams)
        await hold
    finally:
        await engine.stop()
    assert prefills[0] == (len(PROMPTS), max(len(ids) for ids in jobs))
    assert len(prefills) == 1
    for ids, got in zip(jobs, results, strict=True):
        assert got[0] == unbatched(tiny_model_dir, ids, 9)
