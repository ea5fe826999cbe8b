"""Prefilling several prompts in one forward pass, their common start computed once.

The prompts waiting when the scheduler admits are run together, left-padded to the longest, with
an attention mask and per-row position ids, as the decode batch is (:mod:`.batch`). A lone prompt
runs unpadded, exactly as an unbatched ``generate`` would. When the prompts also start with the
same tokens (a chat template's system prompt), that prefix is computed once and shared: each
row's cache is then the prefix, padding, and its own suffix, with positions that continue the
prefix (see :func:`shared_prefix`). On 16 chat prompts sharing SmolLM2's 24-token system prompt,
that took TTFT from 0.6-0.7 to 0.4-0.5 s (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

#: Padded prompt tokens prefilled in one forward pass at most (a lone longer prompt still runs).
#: Bigger passes barely run faster per token but hold every first token until the whole pass
#: ends: 64 chat prompts of 35-40 tokens took 632 ms of CPU in one pass and 680 ms in two, and
#: with the first pass's tokens streamed as soon as it ends (the scheduler does), 1536 instead
#: of 4096 cut their time to first token in the engine (64 concurrent requests, one thread,
#: alternating rounds) from 0.93-1.19 to 0.57-0.66 s (median) and from 0.86-0.96 to 0.63-0.69 s
#: (mean), the whole wave taking as long within the noise.
PREFILL_TOKEN_BUDGET = 1536
#: Shortest common prompt start computed once for a prefill group (:func:`shared_prefix`).
MIN_SHARED_PREFIX = 16

#: ``forward(input_ids, adapters, **model_kwargs)`` -> the model's output (logits, cache).
Forward = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Prefilled:
    """What the decode batch needs from a prefill, one entry per choice (row)."""

    layers: list[tuple[Any, Any]]
    """Per model layer, keys and values ``[rows, heads, cache_len, head_dim]``."""
    logits: Any
    """``[rows, vocab]`` scores of each row's first generated token."""
    cache_len: int
    """Columns of the cache (prefix, padding and the longest suffix)."""
    mask: Any | None
    """``[rows, cache_len]`` attention mask, or None when no row is padded."""


def shared_prefix(prompts: Sequence[Sequence[int]], adapters: Sequence[str]) -> int:
    """Tokens at the start of every prompt worth computing once for all of them (0: none).

    Only prompts for the same adapter can share (LoRA changes the keys and values), each keeps at
    least one token of its own (its last logits pick its first token), and a prefix shorter than
    :data:`MIN_SHARED_PREFIX` does not pay for the extra forward pass.
    """
    if len(prompts) < 2 or len(set(adapters)) != 1:
        return 0
    first, limit = prompts[0], min(len(prompt) for prompt in prompts) - 1
    length = 0
    while length < limit and all(prompt[length] == first[length] for prompt in prompts):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0


def prefill(
    forward: Forward,
    prompts: Sequence[Sequence[int]],
    adapters: Sequence[str],
    choices: Sequence[int],
    pad_id: int,
    device: Any,
) -> Prefilled:
    """Run ``prompts`` (``choices[i]`` rows each) through ``forward`` in one padded pass."""
    import torch
    from transformers import DynamicCache

    count = len(prompts)
    prefix = shared_prefix(prompts, adapters)
    cache = DynamicCache()
    if prefix:
        logger.debug("prefilling %d prompts that share their first %d tokens", count, prefix)
        head = torch.tensor([list(prompts[0][:prefix])], dtype=torch.long, device=device)
        shared = forward(head, list(adapters[:1]), past_key_values=DynamicCache(), logits_to_keep=1)
        size = (count, -1, -1, -1)
        cache = DynamicCache(
            ddp_cache_data=[
                (layer.keys.expand(*size), layer.values.expand(*size))
                for layer in shared.past_key_values.layers
            ]
        )
    lengths = [len(prompt) - prefix for prompt in prompts]
    longest = max(lengths)
    input_ids = torch.full((count, longest), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros((count, prefix + longest), dtype=torch.long, device=device)
    mask[:, :prefix] = 1
    for i, (prompt, length) in enumerate(zip(prompts, lengths, strict=True)):
        input_ids[i, longest - length :] = torch.tensor(
            list(prompt[prefix:]), dtype=torch.long, device=device
        )
        mask[i, prefix + longest - length :] = 1
    padded = prefix > 0 or min(lengths) != longest
    extra: dict[str, Any] = {}
    if padded:
        extra["attention_mask"] = mask
        extra["position_ids"] = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, prefix:]
    out = forward(input_ids, list(adapters), past_key_values=cache, logits_to_keep=1, **extra)
    index = torch.repeat_interleave(
        torch.arange(count, device=device), torch.tensor(list(choices), device=device)
    )
    if len(index) == count:  # one choice each: the rows are the prompts
        layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
    else:
        layers = [
            (layer.keys.index_select(0, index), layer.values.index_select(0, index))
            for layer in out.past_key_values.layers
        ]
    return Prefilled(
        layers=layers,
        logits=out.logits[:, -1, :].index_select(0, index),
        cache_len=prefix + longest,
        mask=mask.index_select(0, index) if padded else None,
    )
