"""The chunked greedy argmax picks exactly what ``argmax`` picks, ties and NaNs included."""

from __future__ import annotations

import pytest

from kaito.runtime.inference.engines.sampling import greedy_tokens


@pytest.mark.parametrize("vocab", [49152, 32000, 128256, 1000, 1024, 7])
@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16"])
def test_greedy_tokens_equal_argmax(vocab: int, dtype_name: str) -> None:
    import torch

    generator = torch.Generator().manual_seed(vocab)
    logits = torch.randn((9, vocab), generator=generator).to(getattr(torch, dtype_name))
    # Ties inside one chunk, across chunks, at the very end, and a NaN (argmax takes the first).
    logits[1, 3] = logits[1, 5] = 100
    logits[2, vocab - 1] = logits[2, vocab // 2] = 100
    logits[3, vocab - 1] = 100
    logits[4, vocab // 3] = float("nan")
    logits[4, 0] = 100
    logits[5] = 0  # all equal: the first index
    expected = logits.float().argmax(dim=-1)
    assert torch.equal(greedy_tokens(logits), expected)
    # A row view of a 3-D tensor, as the model's output hands it over.
    three_d = logits[:, None, :].expand(9, 2, vocab)
    assert torch.equal(greedy_tokens(three_d[:, -1, :]), expected)
