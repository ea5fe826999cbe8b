"""The continuously batched engine on the tiny model, without HTTP.

A small ``max_batch_size`` forces requests to wait, join a running batch between steps and leave
it at different times; every greedy output must still equal unbatched ``generate``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import pytest

from kaito.runtime.inference import errors
from kaito.runtime.inference.engines.base import GenerationRequest, SamplingParams
from kaito.runtime.inference.engines.transformers_engine import (
    MIN_SHARED_PREFIX,
    TransformersEngine,
    TransformersEngineConfig,
    resolve_dtype,
    shared_prefix,
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
def _reference(model_dir: Path, dtype: str = "float32") -> tuple[Any, Any]:
    """Tokenizer and model in the dtype the engine resolves ``dtype`` to on this machine."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    weights = resolve_dtype(dtype, "cpu")
    return tokenizer, AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=weights)


def unbatched(model_dir: Path, ids: list[int], max_new_tokens: int, dtype: str = "float32") -> str:
    """Greedy ``generate`` of one prompt alone: what the engine must answer."""
    import torch

    tokenizer, model = _reference(model_dir, dtype)
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
    """The engine on one thread, in float32 unless asked (exact batched = unbatched greedy)."""
    overrides.setdefault("dtype", "float32")
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


@pytest.mark.parametrize(("dtype", "batch"), [("float32", 8), ("bfloat16", 1)])
async def test_each_dtype_answers_like_generate_in_that_dtype(
    tiny_model_dir: Path, dtype: str, batch: int
) -> None:
    """float32 batched is exact against fp32 ``generate``; bfloat16 one at a time against bf16.

    (A bfloat16 batch rounds differently from a lone row, so on this tiny random model, whose
    next-token scores are nearly flat, batched bf16 answers do drift; see ``resolve_dtype``.)
    """
    engine = await started(tiny_model_dir, dtype=dtype, max_batch_size=batch)
    try:
        jobs = [engine.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS]
        params = SamplingParams(max_tokens=12, temperature=0)
        results = await asyncio.gather(
            *(collect(engine, GenerationRequest("tiny", tuple(ids), params)) for ids in jobs)
        )
    finally:
        await engine.stop()
    for ids, got in zip(jobs, results, strict=True):
        assert got[0] == unbatched(tiny_model_dir, ids, 12, dtype)


def test_auto_dtype_follows_the_host_on_cpu_and_the_checkpoint_on_gpu() -> None:
    import torch

    from kaito.runtime import host

    avx2 = host.detect_cpu({"KAITO_CPU_FLAGS": "avx avx2 fma"})
    amx = host.detect_cpu({"KAITO_CPU_FLAGS": "avx2 avx512f avx512_bf16 amx_tile amx_bf16"})
    assert resolve_dtype("auto", "cpu", avx2) == torch.float32
    assert resolve_dtype("auto", "cpu", amx) == torch.bfloat16
    assert resolve_dtype("auto", "cuda", avx2) == "auto"
    assert resolve_dtype("float32", "cpu", amx) == torch.float32  # a flag always wins
    assert resolve_dtype("bfloat16", "cpu", avx2) == torch.bfloat16
    with pytest.raises(ValueError, match="'float33' is not a torch dtype"):
        resolve_dtype("float33", "cpu")


def recording_prefills(engine: TransformersEngine) -> list[tuple[int, int]]:
    """Shapes ``(rows, tokens)`` of every prefill forward pass the engine runs from now on."""
    prefills: list[tuple[int, int]] = []
    scheduler = engine._scheduler
    assert scheduler is not None
    forward = scheduler._model.forward

    def recording(input_ids: Any, adapters: list[str], **kwargs: Any) -> Any:
        if input_ids.shape[1] > 1:  # decode steps feed one token per row
            prefills.append((int(input_ids.shape[0]), int(input_ids.shape[1])))
        return forward(input_ids, adapters, **kwargs)

    scheduler._model = dataclasses.replace(scheduler._model, forward=recording)
    return prefills


async def generate_together(
    engine: TransformersEngine, jobs: list[list[int]], max_tokens: int, n: int = 1
) -> list[list[str]]:
    """Queue every prompt while the scheduler is held, so that it finds them all together."""
    hold = asyncio.ensure_future(engine._run_on_scheduler(lambda: time.sleep(0.3)))
    await asyncio.sleep(0.05)
    params = SamplingParams(max_tokens=max_tokens, temperature=0)
    results = await asyncio.gather(
        *(collect(engine, GenerationRequest("tiny", tuple(ids), params, n)) for ids in jobs)
    )
    await hold
    return results


async def test_prompts_waiting_together_are_prefilled_in_one_pass_and_match_unbatched(
    tiny_model_dir: Path,
) -> None:
    engine = await started(tiny_model_dir, max_batch_size=16)
    prefills = recording_prefills(engine)
    try:
        jobs = [engine.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS]
        assert len({len(ids) for ids in jobs}) > 1  # different lengths: padding is exercised
        results = await generate_together(engine, jobs, 9)
    finally:
        await engine.stop()
    assert prefills == [(len(PROMPTS), max(len(ids) for ids in jobs))]
    for ids, got in zip(jobs, results, strict=True):
        assert got[0] == unbatched(tiny_model_dir, ids, 9)


async def test_a_system_prompt_shared_by_waiting_requests_is_computed_once(
    tiny_model_dir: Path,
) -> None:
    engine = await started(tiny_model_dir, max_batch_size=16)
    prefills = recording_prefills(engine)
    system = {
        "role": "system",
        "content": "You are a careful assistant. You answer questions about capitals, colors, "
        "moons and guilds with short precise sentences in plain english.",
    }
    try:
        jobs = [engine.encode_chat([system, {"role": "user", "content": p}]) for p in PROMPTS]
        prefix = shared_prefix([tuple(ids) for ids in jobs], ["base"] * len(jobs))
        assert prefix >= MIN_SHARED_PREFIX
        results = await generate_together(engine, jobs, 9, n=2)
    finally:
        await engine.stop()
    # The prefix once for everybody, then every prompt's own tokens together.
    assert prefills == [(1, prefix), (len(jobs), max(len(ids) for ids in jobs) - prefix)]
    for ids, got in zip(jobs, results, strict=True):
        assert got == [unbatched(tiny_model_dir, ids, 9)] * 2  # both choices of each request


def test_only_same_adapter_prompts_with_a_long_enough_common_start_share_it() -> None:
    long = tuple(range(100, 100 + MIN_SHARED_PREFIX))
    assert shared_prefix([(*long, 1, 2), (*long, 3)], ["a", "a"]) == MIN_SHARED_PREFIX
    assert shared_prefix([(*long, 1, 2), (*long, 3)], ["a", "b"]) == 0  # LoRA changes the cache
    assert shared_prefix([(*long, 1)], ["a"]) == 0  # nobody to share with
    assert shared_prefix([(*long[:-1], 1), (*long[:-1], 2)], ["a", "a"]) == 0  # too short
    # Identical prompts still keep one token each: its logits choose the row's first token.
    same = (*long, 7, 8)
    assert shared_prefix([same, same], ["a", "a"]) == len(same) - 1


async def test_a_command_after_stop_is_refused_instead_of_waiting_forever(
    tiny_model_dir: Path,
) -> None:
    engine = await started(tiny_model_dir)
    await engine.stop()
    with pytest.raises(errors.NotReadyError, match="shutting down"):
        await asyncio.wait_for(engine._run_on_scheduler(lambda: None), timeout=5)


async def test_kaitos_decoding_step_answers_as_the_models_forward(tiny_model_dir: Path) -> None:
    """The tiny Llama decodes through :mod:`.decode_step` unless switched off; same answers."""
    answers = []
    for fast in (True, False):
        engine = await started(tiny_model_dir, max_batch_size=4, fast_decode=fast)
        try:
            assert (engine._decode_step is not None) is fast
            jobs = [engine.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS[:4]]
            answers.append(await generate_together(engine, jobs, max_tokens=9))
        finally:
            await engine.stop()
    assert answers[0] == answers[1]
    assert len({text for (text,) in answers[0]}) > 1  # rows really differ


async def test_first_token_is_delivered_before_the_next_decoding_step_ends(
    tiny_model_dir: Path,
) -> None:
    """Time to first token: the prefill's token reaches the client while the batch decodes on."""
    import threading

    engine = await started(tiny_model_dir)
    scheduler = engine._scheduler
    assert scheduler is not None
    first_seen = threading.Event()
    waited: list[bool] = []
    decode = scheduler._model.decode

    def held_decode(batch: Any, adapters: list[str]) -> Any:
        waited.append(first_seen.wait(10))  # the decoding step waits for the client's token
        return decode(batch, adapters)

    scheduler._model = dataclasses.replace(scheduler._model, decode=held_decode)
    try:
        ids = tuple(engine.encode_prompt("tell me"))
        params = SamplingParams(max_tokens=3, temperature=0, ignore_eos=True)
        events = []
        async for event in engine.generate(GenerationRequest("tiny", ids, params)):
            first_seen.set()
            events.append(event)
    finally:
        await engine.stop()
    assert waited == [True, True]  # both decoding steps started after the first token arrived
    assert events[-1].finish_reason == "length"


async def test_each_prefill_pass_streams_its_first_tokens_before_the_next_pass(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting prompts beyond one pass's token budget: the first pass's rows do not wait."""
    import threading

    from kaito.runtime.inference.engines import prefill

    monkeypatch.setattr(prefill, "PREFILL_TOKEN_BUDGET", 1)  # one prompt per pass
    engine = await started(tiny_model_dir)
    scheduler = engine._scheduler
    assert scheduler is not None
    first_seen = threading.Event()
    waited: list[bool] = []
    forward = scheduler._model.forward

    def held_forward(input_ids: Any, adapters: list[str], **kwargs: Any) -> Any:
        if input_ids.shape[1] > 1 and not first_seen.is_set() and waited == []:
            waited.append(False)  # the first prefill pass runs at once
        elif input_ids.shape[1] > 1 and len(waited) == 1:
            waited.append(first_seen.wait(10))  # the second waits for the first's token
        return forward(input_ids, adapters, **kwargs)

    scheduler._model = dataclasses.replace(scheduler._model, forward=held_forward)
    # One token each: the prefill's token finishes the request, so it is always an event (a
    # token whose text the detokenizer still holds back would not be).
    params = SamplingParams(max_tokens=1, temperature=0)

    async def first_token_then_rest(ids: list[int]) -> str:
        text = ""
        async for event in engine.generate(GenerationRequest("tiny", tuple(ids), params)):
            first_seen.set()
            text += event.text
        return text

    try:
        hold = asyncio.ensure_future(engine._run_on_scheduler(lambda: time.sleep(0.3)))
        await asyncio.sleep(0.05)
        jobs = [engine.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS[:2]]
        await asyncio.gather(*(first_token_then_rest(ids) for ids in jobs))
        await hold
    finally:
        await engine.stop()
    assert waited == [False, True]
