"""Every upstream catalog model gets upstream's per-preset vLLM flags from our presets.

``tests/unit/api/upstream/vllm_preset_flags.yaml`` is generated from upstream v0.12.0's preset
generator (its name-prefix and architecture tables for parsers, chat templates, tokenizer modes and
the extra backend flags) by ``scripts/upstream_tables.py``. Our flags come from the catalog data
through :func:`kaito.presets.engine_args.build_vllm_args`, the same call the manifests make.
"""

from __future__ import annotations

from importlib import resources

import pytest

from kaito.presets import catalog, engine_args, skus
from tests.fixtures.upstream import load_table

UPSTREAM: dict[str, dict[str, str]] = load_table("vllm_preset_flags.yaml")
PRESET_FLAGS = {flag for flags in UPSTREAM.values() for flag in flags} | {
    "attention-backend",
    "kv-cache-dtype",
}


def _preset_flags(repo: str) -> dict[str, str]:
    args = engine_args.build_vllm_args(
        catalog.get_model(repo),
        skus.get_sku("Standard_NC24ads_A100_v4"),
        served_model_name="m",
    )
    flags = {}
    for arg in args:
        name, _, value = arg[2:].partition("=")
        if name in PRESET_FLAGS:
            flags[name] = value
    return dict(sorted(flags.items()))


def test_table_covers_upstreams_catalog() -> None:
    assert len(UPSTREAM) >= 60
    assert UPSTREAM["microsoft/Phi-4-mini-instruct"] == {
        "chat-template": "/workspace/chat_templates/tool-chat-phi4-mini.jinja",
        "config-format": "auto",
        "load-format": "auto",
        "tokenizer-mode": "auto",
        "trust-remote-code": "",
    }


@pytest.mark.parametrize("repo", sorted(UPSTREAM))
def test_preset_flags_equal_upstreams(repo: str) -> None:
    assert _preset_flags(repo) == UPSTREAM[repo]


def test_every_chat_template_a_preset_names_ships_with_the_package() -> None:
    shipped = {
        entry.name
        for entry in resources.files("kaito.presets").joinpath("data", "chat_templates").iterdir()
    }
    named = {
        name
        for spec in catalog.list_models()
        for name in (spec.vllm.chat_template, spec.transformers and spec.transformers.chat_template)
        if name
    }
    assert named <= shipped
