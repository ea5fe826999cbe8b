"""The running batch's key/value cache: rows join and leave between decoding steps.

Each row is one choice of one request. Rows have different lengths, so the cache is left-padded to
a common length ``L``: every layer keeps keys and values of shape ``[rows, heads, L, head_dim]``
and a ``[rows, L]`` attention mask marks the real positions. Position ids are kept per row (the
count of real tokens), so rotary embeddings see exactly what an unbatched run sees, and padded
slots hold zeros that the mask removes from attention. That is why batched greedy decoding
returns what unbatched greedy decoding returns.

Joining pads the shorter side on the left; leaving selects the remaining rows and trims columns
that have become padding for every row, so the cache never keeps the length of a departed row.
"""

from __future__ import annotations

from typing import Any

LayerKV = tuple[Any, Any]  # (keys, values), each a torch.Tensor [rows, heads, length, head_dim]


class DecodeBatch:
    """Tensors of the running batch; row ``i`` belongs to ``owners[i]`` of the engine."""

    def __init__(self) -> None:
        self.layers: list[LayerKV] = []
        self.mask: Any = None
        """``[rows, L]`` long tensor: 1 for real positions, 0 for padding."""
        self.positions: Any = None
        """``[rows]`` long tensor: position id of each row's next token."""
        self.next_tokens: Any = None
        """``[rows]`` long tensor: the last sampled token of each row, fed at the next step."""

    @property
    def size(self) -> int:
        """Number of rows."""
        return 0 if self.mask is None else int(self.mask.shape[0])

    @property
    def length(self) -> int:
        """Common (padded) cache length ``L``."""
        return 0 if self.mask is None else int(self.mask.shape[1])

    def add(
        self, layers: list[LayerKV], prompt_len: int, next_tokens: Any, mask: Any = None
    ) -> None:
        """Append rows prefilled together.

        Args:
            layers: per-layer (keys, values) of shape ``[k, heads, prompt_len, head_dim]``.
            prompt_len: cache length of those rows (their longest prompt).
            next_tokens: ``[k]`` long tensor of each new row's first sampled token.
            mask: ``[k, prompt_len]`` long tensor when the rows were prefilled left-padded to a
                common length (different prompts); None when every position is real.
        """
        import torch

        rows = int(next_tokens.shape[0])
        device = next_tokens.device
        if mask is None:
            new_mask = torch.ones((rows, prompt_len), dtype=torch.long, device=device)
        else:
            new_mask = mask.to(dtype=torch.long, device=device)
        new_positions = new_mask.sum(dim=1)
        if self.size == 0:
            self.layers = list(layers)
            self.mask, self.positions, self.next_tokens = new_mask, new_positions, next_tokens
            return
        total = max(self.length, prompt_len)
        old_pad, new_pad = total - self.length, total - prompt_len
        merged: list[LayerKV] = []
        for (ok, ov), (nk, nv) in zip(self.layers, layers, strict=True):
            merged.append(
                (
                    torch.cat([_pad_left(ok, old_pad), _pad_left(nk, new_pad)], dim=0),
                    torch.cat([_pad_left(ov, old_pad), _pad_left(nv, new_pad)], dim=0),
                )
            )
        self.layers = merged
        self.mask = torch.cat(
            [_pad_left_mask(self.mask, old_pad), _pad_left_mask(new_mask, new_pad)], dim=0
        )
        self.positions = torch.cat([self.positions, new_positions])
        self.next_tokens = torch.cat([self.next_tokens, next_tokens])

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in that order) and drop columns that are padding for all of them."""
        import torch

        if not rows:
            self.layers, self.mask, self.positions, self.next_tokens = [], None, None, None
            return
        if rows == list(range(self.size)):
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        # Rows are left-padded, so the first column any row uses is where the cache starts.
        start = int((mask.sum(dim=0) > 0).nonzero()[0].item())
        self.mask = mask[:, start:]
        self.layers = [
            (k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
            for k, v in self.layers
        ]
        self.positions = self.positions.index_select(0, index)
        self.next_tokens = self.next_tokens.index_select(0, index)

    def advance(self, layers: list[LayerKV], next_tokens: Any) -> None:
        """Record one decoding step: the cache grew by one real column for every row."""
        import torch

        self.layers = layers
        ones = torch.ones((self.size, 1), dtype=torch.long, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], dim=1)
        self.positions = self.positions + 1
        self.next_tokens = next_tokens


def _pad_left(tensor: Any, amount: int) -> Any:
    if amount == 0:
        return tensor
    from torch.nn import functional

    # Pad dimension -2 (sequence) on the left with zeros.
    return functional.pad(tensor, (0, 0, amount, 0))


def _pad_left_mask(mask: Any, amount: int) -> Any:
    if amount == 0:
        return mask
    from torch.nn import functional

    return functional.pad(mask, (amount, 0))
