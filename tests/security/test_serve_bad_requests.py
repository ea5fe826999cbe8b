"""Item 7 of issue 16: malformed sampling fields and non-Unicode text get 4xx naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.security.conftest import BASE

LONE_SURROGATE = '"\\ud800x"'  # JSON text decoding to a string no UTF-8 encoder accepts


def _lone(template: str) -> str:
    return template.replace("SURROGATE", LONE_SURROGATE)


def _post(client: TestClient, path: str, raw: str) -> Any:
    return client.post(path, content=raw, headers={"content-type": "application/json"})


COMPLETION = '{"model": "tiny", "prompt": "hi", "max_tokens": 2, %s}'
CHAT = '{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, %s}'

OPENAI_CASES = [
    ("/v1/completions", COMPLETION % f'"seed": {2**64}', "seed"),
    ("/v1/completions", COMPLETION % f'"seed": {-(2**64)}', "seed"),
    ("/v1/chat/completions", CHAT % f'"seed": {2**64}', "seed"),
    ("/v1/completions", COMPLETION % '"top_p": 0', "top_p"),
    ("/v1/completions", COMPLETION % '"top_p": -0.5', "top_p"),
    ("/v1/chat/completions", CHAT % '"top_p": 0', "top_p"),
    ("/v1/completions", COMPLETION % '"temperature": NaN', "temperature"),
    ("/v1/completions", COMPLETION % '"temperature": Infinity', "temperature"),
    ("/v1/chat/completions", CHAT % '"temperature": NaN', "temperature"),
    ("/v1/completions", COMPLETION % '"presence_penalty": NaN', "presence_penalty"),
    ("/v1/completions", COMPLETION % f'"stop": [{LONE_SURROGATE}]', "stop"),
    (
        "/v1/completions",
        _lone('{"model": "tiny", "max_tokens": 2, "prompt": SURROGATE}'),
        "prompt",
    ),
    (
        "/v1/completions",
        _lone('{"model": "tiny", "max_tokens": 2, "prompt": ["ok", SURROGATE]}'),
        "prompt",
    ),
    (
        "/v1/chat/completions",
        _lone('{"model": "tiny", "messages": [{"role": "user", "content": SURROGATE}]}'),
        "messages.0.content",
    ),
    (
        "/v1/chat/completions",
        _lone(
            '{"model": "tiny", "messages": [{"role": "user", "content": [{"type": "text", '
            '"text": SURROGATE}]}]}'
        ),
        "messages.0.content",
    ),
    ("/tokenize", _lone('{"prompt": SURROGATE}'), "prompt"),
    (
        "/tokenize",
        _lone('{"messages": [{"role": "user", "content": SURROGATE}]}'),
        "messages.0.content",
    ),
]


@pytest.mark.parametrize(("path", "raw", "field"), OPENAI_CASES)
def test_openai_routes_answer_400_naming_the_field(
    served: TestClient, path: str, raw: str, field: str
) -> None:
    response = _post(served, path, raw)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] is not None
    assert error["param"].startswith(field), error


LEGACY_CASES = [
    (_lone('{"prompt": SURROGATE}'), "prompt"),
    (_lone('{"messages": [{"role": "user", "content": SURROGATE}]}'), "messages"),
    ('{"prompt": "hi", "generate_kwargs": {"top_p": 0}}', "top_p"),
    ('{"prompt": "hi", "generate_kwargs": {"top_p": -1}}', "top_p"),
    ('{"prompt": "hi", "generate_kwargs": {"temperature": NaN}}', "temperature"),
    ('{"prompt": "hi", "generate_kwargs": {"temperature": -1}}', "temperature"),
    ('{"prompt": "hi", "generate_kwargs": {"max_new_tokens": 0}}', "max_new_tokens"),
]


@pytest.mark.parametrize(("raw", "field"), LEGACY_CASES)
def test_legacy_chat_answers_422_naming_the_field(served: TestClient, raw: str, field: str) -> None:
    response = _post(served, "/chat", raw)
    assert response.status_code == 422, response.text
    locations = [detail["loc"] for detail in response.json()["detail"]]
    assert any(field in [str(part) for part in loc] for loc in locations), locations


@pytest.mark.parametrize("seed", [0, 2**63 - 1, -(2**63)])
def test_seeds_across_the_whole_64_bit_range_sample(served: TestClient, seed: int) -> None:
    body = {"model": BASE, "prompt": "hi", "max_tokens": 2, "seed": seed, "n": 3}
    response = served.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    again = served.post("/v1/completions", json=body)
    assert again.json()["choices"] == response.json()["choices"]


def test_valid_unicode_still_works(served: TestClient) -> None:
    text = "Zorbia \U0001f600 - \u00fcn\u00efcode"
    response = served.post("/tokenize", json={"prompt": text})
    assert response.status_code == 200, response.text
    chat = served.post(
        "/v1/chat/completions",
        json={"model": BASE, "messages": [{"role": "user", "content": text}], "max_tokens": 2},
    )
    assert chat.status_code == 200, chat.text
    assert json.loads(chat.text)["choices"][0]["finish_reason"] in {"stop", "length"}
