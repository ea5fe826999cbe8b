# DeepSeek's special tokens are spelled with full-width bars and U+2581; they are meant.
# ruff: noqa: RUF001
"""The chat templates shipped at upstream's ``/workspace/chat_templates`` paths render a tool
conversation in each model's published turn format and in the shape vLLM's tool parser for that
preset reads back.

They are rendered the way vLLM and transformers render chat templates: a sandboxed Jinja
environment with ``trim_blocks``/``lstrip_blocks``, a ``tojson`` filter and ``raise_exception``.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

jinja2 = pytest.importorskip("jinja2")
from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: E402

TEMPLATES = resources.files("kaito.presets").joinpath("data", "chat_templates")
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
            },
        ],
    },
    {"role": "tool", "name": "get_weather", "tool_call_id": "c1", "content": "sunny, 21C"},
    {"role": "assistant", "content": "Sunny, 21C."},
    {"role": "user", "content": "Thanks!"},
]


def _raise(message: str) -> None:
    raise jinja2.TemplateError(message)


def render(name: str, messages: list[dict[str, Any]], **extra: Any) -> str:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.globals["raise_exception"] = _raise
    template = env.from_string(TEMPLATES.joinpath(name).read_text())
    return template.render(messages=messages, add_generation_prompt=True, **extra)


def test_hermes_lists_tools_and_replays_calls_and_results_in_chatml() -> None:
    text = render("tool-chat-hermes.jinja", CONVERSATION, tools=[WEATHER])
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools")
    assert json.dumps(WEATHER["function"]) in text
    call = re.search(
        r"<tool_call>\n(.*?)\n</tool_call>",
        text.split("<tools>")[1].split("</tools>")[1].split("<|im_end|>", 1)[1],
        re.S,
    )
    assert call is not None
    assert json.loads(call.group(1)) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert "<|im_start|>user\n<tool_response>\nsunny, 21C\n</tool_response><|im_end|>" in text
    assert text.endswith("<|im_start|>user\nThanks!<|im_end|>\n<|im_start|>assistant\n")


def test_llama31_json_puts_tools_in_the_first_user_turn_and_results_in_ipython() -> None:
    text = render("tool-chat-llama3.1-json.jinja", CONVERSATION, tools=[WEATHER])
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
    first_user = text.split("<|start_header_id|>user<|end_header_id|>\n\n", 1)[1]
    assert '"name": "get_weather"' in first_user
    assert first_user.endswith(
        "Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'
        "<|start_header_id|>ipython<|end_header_id|>\n\nsunny, 21C<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nSunny, 21C.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nThanks!<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_phi4_mini_declares_tools_in_the_system_turn_and_calls_with_functools() -> None:
    text = render("tool-chat-phi4-mini.jinja", CONVERSATION, tools=[WEATHER])
    tools = re.search(r"<\|tool\|>(.*)<\|/tool\|>", text)
    assert tools is not None
    assert json.loads(tools.group(1)) == [WEATHER["function"]]
    call = re.search(r"functools\[(.*?)\]<\|end\|>", text)  # vLLM's phi4_mini_json pattern
    assert call is not None
    assert json.loads(call.group(1)) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert text.endswith("<|user|>Thanks!<|end|><|assistant|>")


@pytest.mark.parametrize("name", ["tool-chat-deepseekr1.jinja", "tool-chat-deepseekv3.jinja"])
def test_deepseek_calls_match_the_deepseek_v3_parser(name: str) -> None:
    text = render(name, CONVERSATION, tools=[WEATHER], bos_token="<｜begin▁of▁sentence｜>")
    assert text.startswith("<｜begin▁of▁sentence｜>Be brief.")
    parser = re.compile(
        r"<｜tool▁call▁begin｜>(?P<type>.*)<｜tool▁sep｜>(?P<name>.*)\n```json\n(?P<args>.*)\n```"
        r"<｜tool▁call▁end｜>"
    )  # the deepseek_v3 tool parser's expression
    (match,) = parser.finditer(text.split("<｜User｜>Weather in Paris?")[1])
    assert (match["type"], match["name"], json.loads(match["args"])) == (
        "function",
        "get_weather",
        {"city": "Paris"},
    )
    assert "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>sunny, 21C<｜tool▁output▁end｜>" in text
    assert "<｜User｜>Thanks!<｜Assistant｜>" in text


def test_deepseek_r1_drops_earlier_reasoning_and_opens_a_think_block() -> None:
    messages = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>add</think>4"},
        {"role": "user", "content": "3+3?"},
    ]
    text = render("tool-chat-deepseekr1.jinja", messages)
    assert "add" not in text
    assert "<｜Assistant｜>4<｜end▁of▁sentence｜>" in text
    assert text.endswith("<｜User｜>3+3?<｜Assistant｜><think>\n")


def test_gemma4_uses_turns_and_the_gemma4_call_syntax() -> None:
    text = render("tool-chat-gemma4.jinja", CONVERSATION, tools=[WEATHER])
    assert text.startswith("<bos><|turn>system\nBe brief.<|tool>declaration:get_weather{")
    assert '<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>' in text
    assert '<|tool_response>response:get_weather{value:<|"|>sunny, 21C<|"|>}' in text
    assert text.endswith("<|turn>user\nThanks!<turn|>\n<|turn>model\n")


def test_transformers_runtime_templates_render_plain_turns() -> None:
    chat = [m for m in CONVERSATION if m["role"] in ("system", "user")][:2]
    chat += [{"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "Thanks!"}]
    llama = render("llama-3-instruct.jinja", chat)
    assert llama.endswith("Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    mistral = render("mistral-instruct.jinja", chat)
    assert (
        mistral
        == "<s>[INST] Be brief.\n\nWeather in Paris? [/INST] Sunny.</s>[INST] Thanks! [/INST]"
    )
    with pytest.raises(jinja2.TemplateError, match="alternate"):
        render("mistral-instruct.jinja", [{"role": "assistant", "content": "x"}])
    falcon = render("falcon-instruct.jinja", chat)
    assert falcon.endswith("User: Thanks!\nAssistant:")
