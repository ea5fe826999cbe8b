"""kaito's Llama decoding step gives the model's own logits, bit for bit, on a running batch.

A small random Llama with grouped key/value heads (the case SmolLM2 has: 3 query heads per
key/value head) decodes a left-padded batch whose rows joined at different times and one of which
left, once through ``model(...)`` and once through :class:`DecodeStep`, each on its own copy of
the cache. Every step's logits must be equal, in float32 and bfloat16, with the oneDNN-packed
and fused weights the engine uses and without them.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaito.runtime.inference.engines import cpu_linear, decode_step, prefill
from kaito.runtime.inference.engines.batch import DecodeBatch


def tiny_gqa_llama(dtype: Any, **overrides: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    settings: dict[str, Any] = {
        "vocab_size": 300,
        "hidden_size": 96,
        "intermediate_size": 160,
        "num_hidden_layers": 2,
        "num_attention_heads": 6,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
    }
    settings.update(overrides)
    model = LlamaForCausalLM(LlamaConfig(**settings)).to(dtype).eval()
    with torch.no_grad():  # random init gives nearly flat scores; make rows differ clearly
        for param in model.parameters():
            param.mul_(4.0)
    return model


def forward_of(model: Any) -> Any:
    def forward(input_ids: Any, adapters: list[str], **kwargs: Any) -> Any:
        return model(input_ids=input_ids, use_cache=True, **kwargs)

    return forward


def two_batches(model: Any, prompts: list[list[int]]) -> tuple[DecodeBatch, DecodeBatch]:
    """The same prefilled rows in two independent batches (``add`` copies into new buffers)."""
    done = prefill.prefill(
        forward_of(model), prompts, ["base"] * len(prompts), [1] * len(prompts), 0, "cpu"
    )
    first = done.logits.float().argmax(-1)
    batches = (DecodeBatch(), DecodeBatch())
    for batch in batches:
        batch.add(done.layers, done.cache_len, first, done.mask)
    return batches


def reference_logits(model: Any, batch: DecodeBatch) -> Any:
    out = model(
        input_ids=batch.next_tokens.unsqueeze(1),
        past_key_values=batch.cache(),
        attention_mask=batch.step_mask(),
        position_ids=batch.positions.unsqueeze(1),
        use_cache=True,
    )
    return out.logits[:, -1, :]


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "packed"])
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_step_logits_equal_the_models_forward_on_a_padded_changing_batch(
    dtype_name: str, packed: bool
) -> None:
    import torch

    dtype = getattr(torch, dtype_name)
    if packed and not cpu_linear.prepack_supported(dtype):
        pytest.skip(f"this CPU cannot run packed {dtype_name} linears")
    model = tiny_gqa_llama(dtype)
    if packed:
        assert cpu_linear.prepack_linears(model) == 2 * 7 + 1
        assert cpu_linear.fuse_siblings(model) == 2 * 2
    step = decode_step.build(model)
    assert step is not None
    with torch.inference_mode():
        # Shared start (computed once by the prefill), then different lengths: padding inside.
        shared = list(range(10, 30))
        old, new = two_batches(model, [[*shared, 5, 6, 7], [*shared, 8], [*shared, 9, 1, 2, 3]])
        late = [[40, 41, 42, 43, 44, 45, 46, 47, 48], [50, 51]]
        for number in range(12):
            if number == 4:  # two shorter prompts join the running batch
                joining_old, joining_new = two_batches(model, late)
                for batch, joining in ((old, joining_old), (new, joining_new)):
                    layers = [(layer.keys, layer.values) for layer in joining.cache_layers]
                    batch.add(layers, joining.length, joining.next_tokens, joining.mask)
            if number == 8:  # a row leaves
                old.keep([0, 2, 3, 4])
                new.keep([0, 2, 3, 4])
            expected = reference_logits(model, old)
            got = step(new.next_tokens, new.positions, new.step_mask(), new.cache_layers)
            assert got.dtype == expected.dtype
            assert torch.equal(got, expected), f"step {number}"
            tokens = expected.float().argmax(-1)
            old.advance(tokens)
            new.advance(tokens)
        for (old_k, old_v), (new_k, new_v) in zip(old.layers, new.layers, strict=True):
            assert torch.equal(old_k, new_k)
            assert torch.equal(old_v, new_v)


def test_models_the_step_does_not_reproduce_are_left_to_their_forward() -> None:
    import torch

    assert decode_step.build(tiny_gqa_llama(torch.float32, hidden_act="gelu")) is None
    assert decode_step.build(tiny_gqa_llama(torch.float32).model) is None  # no LM head
