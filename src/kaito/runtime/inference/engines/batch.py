"""The running batch's key/value cache: rows join and leave between decoding steps.

Each row is one choice of one request. Rows have different lengths, so the cache is left-padded to
a common length ``L``: every layer keeps keys and values of shape ``[rows, heads, L, head_dim]``
and a ``[rows, L]`` attention mask marks the real positions. Position ids are kept per row (the
count of real tokens), so rotary embeddings see exactly what an unbatched run sees, and padded
slots are removed from attention by the mask. That is why batched greedy decoding returns what
unbatched greedy decoding returns. Padding may also sit inside a row, between a prompt prefix that
rows computed once together and the row's own tokens; positions skip it in the same way.

Joining pads the shorter side on the left; leaving selects the remaining rows and trims columns
that have become padding for every row, so the cache never keeps the length of a departed row.

A decoding step must not copy the cache: transformers' ``DynamicCache`` concatenates one column
onto every layer's keys and values per step (and rebuilding it from tensors copies them once
more), which took 18% of a 16-row step on CPU. Each layer here lives in a buffer with spare
columns (:class:`GrowingLayer`); the model writes the step's column in place and attends over a
view of the filled part. Buffers grow by a quarter (at least :data:`SPARE_COLUMNS` columns) when
full, so the copies that remain are amortised over many steps.
"""

from __future__ import annotations

import functools
from typing import Any

LayerKV = tuple[Any, Any]  # (keys, values), each a torch.Tensor [rows, heads, length, head_dim]

#: Spare columns allocated beyond the current length, at least, when a buffer is (re)built.
SPARE_COLUMNS = 64


@functools.cache
def growing_layer_class() -> type[Any]:
    """The cache layer class (built lazily: transformers is imported only when serving)."""
    import torch
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):  # type: ignore[no-untyped-call]
        """One model layer's keys and values in buffers with spare columns (module docstring).

        ``keys``/``values`` are views of the first ``length`` columns, as transformers expects
        of a cache layer; ``update`` writes new columns in place and returns the longer views.
        """

        def __init__(self, keys: torch.Tensor, values: torch.Tensor) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.dtype, self.device = keys.dtype, keys.device
            self.is_initialized = True
            self.length = 0
            self._key_buffer = keys
            self._value_buffer = values
            self.replace(keys, values)

        @property
        def capacity(self) -> int:
            """Columns the buffers hold before they must grow."""
            return int(self._key_buffer.shape[2])

        def replace(self, keys: torch.Tensor, values: torch.Tensor, room: int = 0) -> None:
            """Hold ``keys``/``values`` in fresh buffers with spare columns (``room`` at least)."""
            length = int(keys.shape[2])
            capacity = length + max(SPARE_COLUMNS, length // 4, room)
            rows, heads, _, dim = keys.shape
            self._key_buffer = keys.new_empty((rows, heads, capacity, dim))
            self._value_buffer = values.new_empty((rows, heads, capacity, values.shape[3]))
            self._key_buffer[:, :, :length] = keys
            self._value_buffer[:, :, :length] = values
            self.set_length(length)

        @property
        def buffers(self) -> tuple[torch.Tensor, torch.Tensor]:
            """The whole key and value buffers, spare columns included (written in place)."""
            return self._key_buffer, self._value_buffer

        def reserve(self, new: int) -> None:
            """Grow the buffers, keeping the filled columns, unless ``new`` more columns fit."""
            if self.length + new > self.capacity:
                filled_keys, filled_values = self.set_length(self.length)
                self.replace(filled_keys, filled_values, room=new)

        def set_length(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
            """Take the first ``length`` columns as filled; returns their views."""
            self.length = length
            keys = self._key_buffer[:, :, :length]
            values = self._value_buffer[:, :, :length]
            self.keys, self.values = keys, values
            return keys, values

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            """Append ``key_states``/``value_states`` (``[rows, heads, new, dim]``) in place."""
            start, new = self.length, int(key_states.shape[2])
            self.reserve(new)
            self._key_buffer[:, :, start : start + new] = key_states
            self._value_buffer[:, :, start : start + new] = value_states
            return self.set_length(start + new)

        def get_seq_length(self) -> int:
            """Filled columns (transformers sizes its masks from this)."""
            return self.length

    return GrowingLayer


class DecodeBatch:
    """Tensors of the running batch; row ``i`` belongs to ``owners[i]`` of the engine."""

    def __init__(self) -> None:
        self._layers: list[Any] = []  # growing_layer_class() instances
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

    @property
    def layers(self) -> list[LayerKV]:
        """Per layer (keys, values) of the filled columns, ``[rows, heads, L, head_dim]``."""
        return [(layer.keys, layer.values) for layer in self._layers]

    @property
    def cache_layers(self) -> list[Any]:
        """The layers' growing buffers (``update(keys, values)`` appends columns in place)."""
        return self._layers

    def step_mask(self) -> Any:
        """``[rows, L + 1]`` mask of a decoding step: the cache's, plus the column it adds."""
        import torch

        ones = torch.ones((self.size, 1), dtype=torch.long, device=self.mask.device)
        return torch.cat([self.mask, ones], dim=1)

    def cache(self) -> Any:
        """A transformers ``DynamicCache`` over this batch's buffers, for one decoding step.

        The model writes the step's keys and values into the buffers; call :meth:`advance` next.
        """
        from transformers import DynamicCache

        cache = DynamicCache()
        cache.layers = list(self._layers)
        cache.layer_class_to_replicate = None
        return cache

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
            layer_class = growing_layer_class()
            self._layers = [layer_class(k, v) for k, v in layers]
            self.mask, self.positions, self.next_tokens = new_mask, new_positions, next_tokens
            return
        total = max(self.length, prompt_len)
        old_pad, new_pad = total - self.length, total - prompt_len
        for layer, (nk, nv) in zip(self._layers, layers, strict=True):
            layer.replace(
                torch.cat([_pad_left(layer.keys, old_pad), _pad_left(nk, new_pad)], dim=0),
                torch.cat([_pad_left(layer.values, old_pad), _pad_left(nv, new_pad)], dim=0),
            )
        self.mask = torch.cat(
            [_pad_left_mask(self.mask, old_pad), _pad_left_mask(new_mask, new_pad)], dim=0
        )
        self.positions = torch.cat([self.positions, new_positions])
        self.next_tokens = torch.cat([self.next_tokens, next_tokens])

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in that order) and drop columns that are padding for all of them."""
        import torch

        if not rows:
            self._layers, self.mask, self.positions, self.next_tokens = [], None, None, None
            return
        if rows == list(range(self.size)):
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        # Rows are left-padded, so the first column any row uses is where the cache starts.
        start = int((mask.sum(dim=0) > 0).nonzero()[0].item())
        self.mask = mask[:, start:]
        for layer in self._layers:
            layer.replace(
                layer.keys.index_select(0, index)[:, :, start:],
                layer.values.index_select(0, index)[:, :, start:],
            )
        self.positions = self.positions.index_select(0, index)
        self.next_tokens = self.next_tokens.index_select(0, index)

    def advance(self, next_tokens: Any) -> None:
        """Record one decoding step: the model wrote one real column for every row.

        Raises:
            RuntimeError: a layer's cache did not grow by exactly one column (a model that does
                not update the cache it is given cannot be batched this way).
        """
        import torch

        grown = {layer.length for layer in self._layers}
        if grown != {self.length + 1}:
            raise RuntimeError(
                f"the model left cache lengths {sorted(grown)} after a step from {self.length}"
            )
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
