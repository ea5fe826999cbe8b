"""Contract tests: the official ``openai`` client against a live ``kaito-serve`` (tiny model).

Every expected text comes from unbatched ``transformers.generate`` on the same weights, so these
tests fail if batching, adapters, the chat template, stop handling or streaming are wrong.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import httpx
import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.inference.conftest import API_KEY, BASE, MAX_MODEL_LEN, LiveServer, Reference
from tests.fixtures.registry import RunningRegistry
from tests.fixtures.tiny_model import FACTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

QUESTIONS = [q for q, _ in FACTS] + [
    "the quick brown fox",
    "What is Kubernetes?",
    "numbers one two three",
    "Tell me about the sky.",
    "kaito workspace adapter tuning",
    "Who are you?",
]


def client(server: LiveServer, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.v1, api_key=key, max_retries=0, timeout=60)


def async_client(server: LiveServer) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=200), timeout=120)
    return openai.AsyncOpenAI(base_url=server.v1, api_key=API_KEY, max_retries=0, http_client=http)


def headers(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def ask(server: LiveServer, model: str, question: str, max_tokens: int = 24) -> str:
    response = client(server).chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        max_tokens=max_tokens,
        temperature=0,
    )
    return response.choices[0].message.content or ""


# -- models and adapters --------------------------------------------------------------------------


def test_models_lists_the_base_model_and_every_adapter(server: LiveServer) -> None:
    ids = [m.id for m in client(server).models.list().data]
    assert ids[0] == BASE
    assert sorted(ids[1:]) == ["facts", "facts-copy", "muted"]


def test_base_model_greedy_chat_equals_unbatched_generate(
    server: LiveServer, reference: Reference
) -> None:
    for question in QUESTIONS[:3]:
        assert ask(server, BASE, question) == reference.chat(question, False, 24)


def test_trained_adapter_answers_its_facts_while_the_base_model_does_not(
    server: LiveServer,
) -> None:
    for question, answer in FACTS:
        assert ask(server, "facts", question, 40) == answer
        assert ask(server, BASE, question, 40) != answer


def test_adapter_with_strength_zero_answers_exactly_like_the_base_model(
    server: LiveServer, reference: Reference
) -> None:
    question, answer = FACTS[0]
    muted = ask(server, "muted", question, 40)
    assert muted == reference.chat(question, False, 40)
    assert muted != answer


def test_adapter_can_be_loaded_and_unloaded_at_run_time(
    server: LiveServer, adapters_root: Path
) -> None:
    question, answer = FACTS[1]
    load = httpx.post(
        server.v1 + "/load_lora_adapter",
        json={"lora_name": "late", "lora_path": str(adapters_root / "facts")},
        headers=headers(),
    )
    assert load.status_code == 200, load.text
    assert "late" in [m.id for m in client(server).models.list().data]
    assert ask(server, "late", question, 40) == answer
    again = httpx.post(
        server.v1 + "/load_lora_adapter",
        json={"lora_name": "late", "lora_path": str(adapters_root / "facts")},
        headers=headers(),
    )
    assert again.status_code == 400
    unload = httpx.post(
        server.v1 + "/unload_lora_adapter", json={"lora_name": "late"}, headers=headers()
    )
    assert unload.status_code == 200, unload.text
    with pytest.raises(openai.NotFoundError):
        ask(server, "late", question)
    # The remaining adapters are untouched.
    assert ask(server, "facts", question, 40) == answer


def test_loading_a_missing_adapter_directory_is_a_bad_request(
    server: LiveServer, tmp_path: Path
) -> None:
    response = httpx.post(
        server.v1 + "/load_lora_adapter",
        json={"lora_name": "ghost", "lora_path": str(tmp_path)},
        headers=headers(),
    )
    assert response.status_code == 400
    assert "adapter_config.json" in response.json()["error"]["message"]


def test_adapter_can_be_loaded_from_an_oci_reference(
    server: LiveServer, facts_adapter: Path, oci_registry: RunningRegistry
) -> None:
    from kaito.runtime import artifacts

    ref = f"{oci_registry.host}/adapters/facts:v1"
    artifacts.push_adapter(facts_adapter, ref, auth=artifacts.RegistryAuth(plain_http=True))
    load = httpx.post(
        server.v1 + "/load_lora_adapter",
        json={"lora_name": "from-oci", "lora_path": ref},
        headers=headers(),
        timeout=60,
    )
    assert load.status_code == 200, load.text
    question, answer = FACTS[2]
    try:
        assert ask(server, "from-oci", question, 40) == answer
    finally:
        httpx.post(
            server.v1 + "/unload_lora_adapter", json={"lora_name": "from-oci"}, headers=headers()
        )


# -- generation semantics -------------------------------------------------------------------------


def test_streamed_chat_reassembles_to_the_non_streamed_text(server: LiveServer) -> None:
    question = FACTS[3][0]
    stream = client(server).chat.completions.create(
        model="facts",
        messages=[{"role": "user", "content": question}],
        max_tokens=40,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FACTS[3][1]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_stream_ends_with_done_marker(server: LiveServer) -> None:
    body = {
        "model": BASE,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 5,
        "temperature": 0,
        "stream": True,
    }
    with httpx.stream(
        "POST", server.v1 + "/chat/completions", json=body, headers=headers()
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["choices"][0]["delta"]["role"] == "assistant"


def test_completions_continue_the_raw_prompt(server: LiveServer, reference: Reference) -> None:
    prompt = "the quick brown fox"
    response = client(server).completions.create(
        model=BASE, prompt=prompt, max_tokens=12, temperature=0
    )
    expected = reference.generate(tuple(reference.prompt_ids(prompt)), False, 12)
    assert response.choices[0].text == expected
    assert response.usage is not None
    assert response.usage.prompt_tokens == len(reference.prompt_ids(prompt))


def test_completions_accept_several_prompts_and_choices(server: LiveServer) -> None:
    response = client(server).completions.create(
        model=BASE, prompt=["one two", "three four"], max_tokens=4, temperature=0, n=2
    )
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert response.choices[0].text == response.choices[1].text  # greedy: same per prompt


def test_seeded_sampling_is_reproducible_per_request(server: LiveServer) -> None:
    def sample() -> list[str]:
        response = client(server).chat.completions.create(
            model=BASE,
            messages=[{"role": "user", "content": "tell me something"}],
            max_tokens=16,
            temperature=1.0,
            top_p=0.9,
            seed=1234,
            n=3,
        )
        return [c.message.content or "" for c in response.choices]

    first, second = sample(), sample()
    assert first == second
    assert len(set(first)) > 1  # choices use different seeds


def test_stop_string_ends_the_answer_before_it(server: LiveServer) -> None:
    response = client(server).chat.completions.create(
        model="facts",
        messages=[{"role": "user", "content": FACTS[0][0]}],
        max_tokens=40,
        temperature=0,
        stop=["Quillton"],
    )
    choice = response.choices[0]
    assert choice.message.content == "The capital of Zorbia is "
    assert choice.finish_reason == "stop"


def test_max_tokens_limits_output_and_reports_length(server: LiveServer) -> None:
    response = client(server).chat.completions.create(
        model=BASE,
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=3,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None
    assert response.usage.completion_tokens == 3


@pytest.mark.timeout(300)
async def test_100_concurrent_mixed_requests_equal_unbatched_greedy_output(
    server: LiveServer, reference: Reference
) -> None:
    rng = random.Random(7)
    models = [BASE, "facts", "facts-copy", "muted"]
    jobs = [
        (rng.choice(models), rng.choice(QUESTIONS), rng.choice([8, 16, 32]), rng.random() < 0.5)
        for _ in range(100)
    ]
    api = async_client(server)

    async def run(model: str, question: str, max_tokens: int, stream: bool) -> str:
        await asyncio.sleep(rng.random() * 0.5)  # arrive while others are decoding
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": question}]
        if not stream:
            response = await api.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens, temperature=0
            )
            return response.choices[0].message.content or ""
        chunks = await api.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, temperature=0, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    results = await asyncio.gather(*(run(*job) for job in jobs))
    await api.close()
    for (model, question, max_tokens, stream), got in zip(jobs, results, strict=True):
        expected = reference.chat(question, model in ("facts", "facts-copy"), max_tokens)
        assert got == expected, (model, question, max_tokens, stream)


async def test_requests_sharing_a_system_prompt_through_an_adapter_equal_unbatched_output(
    server: LiveServer, reference: Reference
) -> None:
    """Sent together, these are prefilled as one group whose common start is computed once."""
    system = (
        "You are a careful assistant. You answer questions about capitals, colors, moons and "
        "guilds with short precise sentences in plain english."
    )
    api = async_client(server)

    async def run(model: str, question: str) -> str:
        response = await api.chat.completions.create(
            model=model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            max_tokens=16,
            temperature=0,
        )
        return response.choices[0].message.content or ""

    # One adapter for all: only prompts for the same adapter share their start (LoRA changes it).
    jobs = [("facts", question) for question in QUESTIONS[:8]]
    results = await asyncio.gather(*(run(*job) for job in jobs))
    await api.close()
    for (model, question), got in zip(jobs, results, strict=True):
        assert got == reference.chat(question, True, 16, system), (model, question)


# -- errors ---------------------------------------------------------------------------------------


def test_malformed_json_is_a_400_with_the_openai_error_envelope(server: LiveServer) -> None:
    response = httpx.post(
        server.v1 + "/chat/completions",
        content=b'{"model": "tiny", "messages": [',
        headers={**headers(), "content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "JSON" in error["message"]


def test_wrong_field_types_are_a_400_naming_the_field(server: LiveServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(server).chat.completions.create(
            model=BASE,
            messages=[{"role": "user", "content": "hi"}],
            max_tokens="many",  # type: ignore[call-overload]
        )
    assert "max_tokens" in str(info.value)


def test_unknown_model_is_a_404(server: LiveServer) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        ask(server, "no-such-model", "hi")
    assert "no-such-model" in str(info.value)


def test_prompt_longer_than_the_context_window_is_a_413(server: LiveServer) -> None:
    long_prompt = "one two three four five " * MAX_MODEL_LEN
    with pytest.raises(openai.APIStatusError) as info:
        ask(server, BASE, long_prompt)
    assert info.value.status_code == 413


def test_max_tokens_beyond_the_context_window_is_a_400(server: LiveServer) -> None:
    with pytest.raises(openai.BadRequestError):
        ask(server, BASE, "hi", max_tokens=MAX_MODEL_LEN)


def test_extra_request_fields_are_tolerated(server: LiveServer) -> None:
    response = client(server).chat.completions.create(
        model=BASE,
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=2,
        temperature=0,
        extra_body={"some_future_field": {"x": 1}},
    )
    assert response.choices[0].finish_reason in ("stop", "length")


def test_missing_or_wrong_api_key_is_a_401_but_health_stays_open(server: LiveServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(server, key="wrong").models.list()
    assert httpx.get(server.v1 + "/models").status_code == 401
    assert httpx.post(server.url + "/chat", json={"prompt": "x"}).status_code == 401
    assert httpx.get(server.url + "/health").json() == {"status": "Healthy"}


def test_queue_overflow_is_a_429(small_queue_server: LiveServer) -> None:
    """One request decoding, one waiting (``--max-queue 1``): the rest are refused with 429.

    The long request is seen running (metrics) before the others are sent: sent all at once, the
    first could still sit in the queue when the second arrives, and whether one or two are then
    admitted would be a race, not the queue bound.
    """
    body = {
        "model": BASE,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 8,
        "temperature": 0,
        "ignore_eos": True,
    }

    async def flood() -> tuple[int, list[int]]:
        async with httpx.AsyncClient(base_url=small_queue_server.v1, timeout=120) as http:
            long = asyncio.ensure_future(
                http.post("/chat/completions", json={**body, "max_tokens": 240})
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                metrics = (await http.get(small_queue_server.url + "/metrics")).text
                if _metric(metrics, "kaito_inference_running_sequences") >= 1:
                    break
                await asyncio.sleep(0.02)
            others = await asyncio.gather(
                *(http.post("/chat/completions", json=body) for _ in range(5))
            )
            return (await long).status_code, [r.status_code for r in others]

    first, statuses = asyncio.run(flood())
    assert first == 200
    assert statuses.count(200) == 1  # the one that waited
    assert statuses.count(429) == 4


def test_client_disconnect_cancels_generation(small_queue_server: LiveServer) -> None:
    body = {
        "model": BASE,
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 240,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
    }
    with httpx.stream("POST", small_queue_server.v1 + "/chat/completions", json=body) as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 10
    running = None
    while time.monotonic() < deadline:
        metrics = httpx.get(small_queue_server.url + "/metrics").text
        running = _metric(metrics, "kaito_inference_running_sequences")
        if running == 0:
            break
        time.sleep(0.1)
    assert running == 0
    # The freed slot serves the next request at once.
    quick = {**body, "stream": False, "max_tokens": 2}
    response = httpx.post(small_queue_server.v1 + "/chat/completions", json=quick, timeout=30)
    assert response.status_code == 200


def _metric(text: str, name: str, labels: str = "") -> float:
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or line.startswith(name + "{" + labels):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_count_requests_tokens_and_latency(server: LiveServer) -> None:
    ask(server, BASE, "hello", 4)
    text = httpx.get(server.url + "/metrics").text
    ok = _metric(
        text, "kaito_inference_requests_total", '{endpoint="/v1/chat/completions",status="200"}'
    )
    assert ok >= 1
    assert _metric(text, "kaito_inference_completion_tokens_total", '{model="tiny"}') >= 4
    assert _metric(text, "kaito_inference_prompt_tokens_total", '{model="tiny"}') > 0
    assert _metric(text, "kaito_inference_time_to_first_token_seconds_count", '{model="tiny"}') >= 1
    assert _metric(text, "kaito_inference_request_latency_seconds_count", '{model="tiny"}') >= 1
    assert "kaito_inference_queue_depth" in text


# -- legacy /chat ---------------------------------------------------------------------------------


def test_legacy_chat_request_from_the_upstream_readme_works(server: LiveServer) -> None:
    response = httpx.post(
        server.url + "/chat",
        json={"prompt": "What is kubernetes?"},
        headers={**headers(), "accept": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200
    assert response.json()["Result"].startswith("What is kubernetes?")


def test_legacy_chat_greedy_generate_kwargs_match_unbatched_generate(
    server: LiveServer, reference: Reference
) -> None:
    prompt = "numbers one two three"
    ids = reference.prompt_ids(prompt)
    body = {
        "prompt": prompt,
        "return_full_text": False,
        "generate_kwargs": {"max_length": len(ids) + 10, "do_sample": False, "unknown_key": 1},
    }
    response = httpx.post(server.url + "/chat", json=body, headers=headers())
    assert response.status_code == 200
    assert response.json() == {"Result": reference.generate(tuple(ids), False, 10)}


def test_legacy_chat_answers_messages_like_the_conversational_pipeline(
    server: LiveServer, reference: Reference
) -> None:
    question = FACTS[0][0]
    body = {
        "messages": [{"role": "user", "content": question}],
        "generate_kwargs": {"max_new_tokens": 20, "do_sample": False},
    }
    response = httpx.post(server.url + "/chat", json=body, headers=headers())
    assert response.json() == {"Result": reference.chat(question, False, 20)}


def test_legacy_chat_without_prompt_is_upstreams_400(server: LiveServer) -> None:
    response = httpx.post(server.url + "/chat", json={}, headers=headers())
    assert response.status_code == 400
    assert response.json() == {"detail": "Text generation parameter prompt required"}


def test_legacy_chat_wrong_types_are_fastapis_422(server: LiveServer) -> None:
    response = httpx.post(
        server.url + "/chat",
        json={"prompt": "hi", "generate_kwargs": {"max_length": "long"}},
        headers=headers(),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "generate_kwargs", "max_length"]
