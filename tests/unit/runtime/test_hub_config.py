"""``HubConfigReader`` against a real local HTTP server standing in for the Hugging Face hub.

Each repo path answers the way the hub would (config, 404, gated 401, server error, broken JSON),
so the tests check what admission gets out of each: architectures, "does not exist", or "not
checked", plus the token header, redirects and the per-process cache.
"""

from __future__ import annotations

import asyncio

import pytest

from kaito.runtime.models.hub_config import HubConfigReader
from kaito.validation import LookupUnavailableError
from tests.fixtures.fake_hub import FakeHub


def test_reads_architectures_and_sends_the_token(fake_hub: FakeHub) -> None:
    reader = HubConfigReader(endpoint=fake_hub.url + "/", token="hf_secret")
    assert reader.model_architectures("org/llama") == ("LlamaForCausalLM",)
    assert fake_hub.requests == [("/org/llama/resolve/main/config.json", "Bearer hf_secret")]


def test_follows_redirects(fake_hub: FakeHub) -> None:
    assert HubConfigReader(endpoint=fake_hub.url).model_architectures("org/moved") == (
        "LlamaForCausalLM",
    )


def test_missing_repo_is_a_lookup_error_naming_it(fake_hub: FakeHub) -> None:
    with pytest.raises(LookupError, match=r"org/absent .*HTTP 404"):
        HubConfigReader(endpoint=fake_hub.url).model_architectures("org/absent")


@pytest.mark.parametrize(
    ("repo", "reason"),
    [
        ("org/gated", "HTTP 401: gated or private"),
        ("org/broken", "HTTP 500"),
        ("org/noarch", "names no architectures"),
        ("org/notjson", "is not JSON"),
    ],
)
def test_open_questions_are_unavailable_not_errors(
    fake_hub: FakeHub, repo: str, reason: str
) -> None:
    with pytest.raises(LookupUnavailableError, match=reason):
        HubConfigReader(endpoint=fake_hub.url).model_architectures(repo)


def test_unreachable_hub_is_unavailable() -> None:
    reader = HubConfigReader(endpoint="http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(LookupUnavailableError, match="did not answer"):
        reader.model_architectures("org/llama")


def test_answers_are_cached_but_transient_failures_are_not(fake_hub: FakeHub) -> None:
    now = [0.0]
    reader = HubConfigReader(endpoint=fake_hub.url, clock=lambda: now[0])
    for _ in range(3):
        assert reader.model_architectures("org/llama") == ("LlamaForCausalLM",)
        with pytest.raises(LookupError):
            reader.model_architectures("org/absent")
        with pytest.raises(LookupUnavailableError):
            reader.model_architectures("org/broken")
    paths = [p for p, _ in fake_hub.requests]
    assert paths.count("/org/llama/resolve/main/config.json") == 1
    assert paths.count("/org/absent/resolve/main/config.json") == 1
    assert paths.count("/org/broken/resolve/main/config.json") == 3
    now[0] = 3601.0  # an hour later the hub is asked again
    reader.model_architectures("org/llama")
    assert [p for p, _ in fake_hub.requests].count("/org/llama/resolve/main/config.json") == 2


def test_async_prefetch_returns_answers_without_raising(fake_hub: FakeHub) -> None:
    reader = HubConfigReader(endpoint=fake_hub.url)

    async def main() -> list[object]:
        return [await reader.prefetch(r) for r in ("org/llama", "org/absent", "org/gated")]

    found, absent, gated = asyncio.run(main())
    assert found == ("LlamaForCausalLM",)
    assert isinstance(absent, LookupError)
    assert isinstance(gated, LookupUnavailableError)
    # The sync path reuses what the async one cached.
    before = len(fake_hub.requests)
    assert reader.model_architectures("org/llama") == ("LlamaForCausalLM",)
    assert len(fake_hub.requests) == before
