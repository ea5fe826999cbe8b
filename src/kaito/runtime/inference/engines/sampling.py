"""Picking the next token for every row of a step, and each sampled row's random generator.

Kept apart from the scheduler because it is pure tensor code with OpenAI's semantics (temperature,
top-k, top-p, seed per choice), tested on its own, and the same for prefill and decode steps.
"""

from __future__ import annotations

import secrets
from typing import Any

from kaito.runtime.inference.engines.base import SamplingParams

#: torch takes any 64-bit pattern as a seed; a signed seed near the top wraps around.
SEED_MODULUS = 1 << 64


def new_generator(params: SamplingParams, choice: int, device: Any) -> Any:
    """A ``torch.Generator`` for a sampled choice (``seed + choice``), None for greedy rows.

    Without a seed each choice draws a fresh random one, so ``n`` choices differ.
    """
    if params.greedy:
        return None
    import torch

    generator = torch.Generator(device=device)
    seed = params.seed + choice if params.seed is not None else secrets.randbits(62)
    generator.manual_seed(seed % SEED_MODULUS)
    return generator


def sample(logits: Any, params: list[SamplingParams], generators: list[Any]) -> Any:
    """Pick one token per row: a batched argmax, then sampling for the non-greedy rows."""
    import torch

    tokens = greedy_tokens(logits)
    for row, (param, generator) in enumerate(zip(params, generators, strict=True)):
        if param.greedy or generator is None:
            continue
        scores = logits[row].float() / max(param.temperature, 1e-5)
        if param.top_k > 0:
            kth = torch.topk(scores, min(param.top_k, scores.shape[-1])).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if param.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = sorted_probs.cumsum(dim=-1)
            # Keep the smallest prefix whose mass reaches top_p (always at least one token).
            cut = cumulative - sorted_probs >= param.top_p
            sorted_probs = sorted_probs.masked_fill(cut, 0.0)
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        tokens[row] = torch.multinomial(probs, 1, generator=generator)[0]
    return tokens


#: Vocabulary slice :func:`greedy_tokens` reduces at once, at most (a power of two).
ARGMAX_CHUNK = 1024


def greedy_tokens(logits: Any) -> Any:
    """``logits.argmax(-1)`` (``[rows, vocab]``), the same indices, about 5x faster on CPU.

    PyTorch's CPU argmax walks a row one element at a time, and over bfloat16 it is slower still:
    6.9 ms for 64 rows of a 49k vocabulary (float32 copy plus argmax), about 6% of a 64-row
    decoding step. Here the row is cut into chunks whose maxima one vectorised ``amax`` finds;
    the argmax then only runs over the chunk maxima and inside the winning chunk (1.3 ms). Ties
    and NaNs resolve as in ``argmax``: the first chunk holding the maximum (or a NaN), then the
    first position in it.
    """
    import torch

    rows, vocab = logits.shape
    chunk = ARGMAX_CHUNK
    while chunk > 1 and vocab % chunk:
        chunk //= 2
    if chunk < 64 or vocab == chunk:
        # In float32: the same index (bf16 -> fp32 is exact), and argmax over bf16 on CPU takes
        # twice as long as the cast plus a float32 argmax.
        return logits.float().argmax(dim=-1)
    chunks = logits.reshape(rows, vocab // chunk, chunk)
    which = chunks.amax(dim=-1).float().argmax(dim=-1)
    inside = chunks[torch.arange(rows, device=logits.device), which].float().argmax(dim=-1)
    return which * chunk + inside
