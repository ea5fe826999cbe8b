"""The running batch's cache bookkeeping: left padding on join, row selection and trimming."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from kaito.runtime.inference.engines.batch import DecodeBatch  # noqa: E402


def kv(rows: int, length: int, fill: float) -> list[tuple[object, object]]:
    tensor = torch.full((rows, 2, length, 4), fill)
    return [(tensor.clone(), tensor.clone()) for _ in range(3)]


def test_joining_a_longer_prompt_left_pads_the_running_rows() -> None:
    batch = DecodeBatch()
    batch.add(kv(1, 2, 1.0), 2, torch.tensor([7]))
    batch.add(kv(2, 5, 2.0), 5, torch.tensor([8, 9]))
    assert (batch.size, batch.length) == (3, 5)
    assert batch.mask.tolist() == [[0, 0, 0, 1, 1], [1] * 5, [1] * 5]
    assert batch.positions.tolist() == [2, 5, 5]
    assert batch.next_tokens.tolist() == [7, 8, 9]
    keys = batch.layers[0][0]
    assert keys[0, :, :3].abs().sum() == 0  # padding is zero
    assert bool((keys[0, :, 3:] == 1.0).all())


def test_joining_a_shorter_prompt_left_pads_the_new_row() -> None:
    batch = DecodeBatch()
    batch.add(kv(1, 4, 1.0), 4, torch.tensor([1]))
    batch.add(kv(1, 1, 2.0), 1, torch.tensor([2]))
    assert batch.mask.tolist() == [[1, 1, 1, 1], [0, 0, 0, 1]]


def test_leaving_trims_columns_that_only_the_departed_row_used() -> None:
    batch = DecodeBatch()
    batch.add(kv(1, 6, 1.0), 6, torch.tensor([1]))
    batch.add(kv(1, 2, 2.0), 2, torch.tensor([2]))
    batch.keep([1])
    assert (batch.size, batch.length) == (1, 2)
    assert batch.mask.tolist() == [[1, 1]]
    assert bool((batch.layers[2][1] == 2.0).all())
    assert batch.positions.tolist() == [2]


def test_advance_adds_a_real_column_and_moves_positions() -> None:
    batch = DecodeBatch()
    batch.add(kv(1, 3, 1.0), 3, torch.tensor([4]))
    batch.advance(kv(1, 4, 1.0), torch.tensor([5]))
    assert batch.mask.tolist() == [[1, 1, 1, 1]]
    assert batch.positions.tolist() == [4]
    assert batch.next_tokens.tolist() == [5]


def test_keeping_no_rows_empties_the_batch() -> None:
    batch = DecodeBatch()
    batch.add(kv(2, 3, 1.0), 3, torch.tensor([1, 2]))
    batch.keep([])
    assert batch.size == 0
    assert batch.layers == []
