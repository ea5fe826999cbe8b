"""The running batch's cache bookkeeping: left padding on join, row selection and trimming."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from kaito.runtime.inference.engines.batch import SPARE_COLUMNS, DecodeBatch  # noqa: E402


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


def model_step(batch: DecodeBatch, fill: float) -> None:
    """What a decoder does with the cache it is given: one new column per layer."""
    cache = batch.cache()
    for index in range(len(cache.layers)):
        column = torch.full((batch.size, 2, 1, 4), fill)
        cache.update(column, column.clone(), index)


def test_advance_adds_a_real_column_and_moves_positions() -> None:
    batch = DecodeBatch()
    batch.add(kv(1, 3, 1.0), 3, torch.tensor([4]))
    model_step(batch, 5.0)
    batch.advance(torch.tensor([5]))
    assert batch.mask.tolist() == [[1, 1, 1, 1]]
    assert batch.positions.tolist() == [4]
    assert batch.next_tokens.tolist() == [5]
    keys, values = batch.layers[1]
    assert keys.shape == (1, 2, 4, 4)
    assert keys[0, :, :3].eq(1.0).all()
    assert values[0, :, 3].eq(5.0).all()


def test_a_step_writes_in_place_until_the_buffer_is_full_then_grows_keeping_the_content() -> None:
    batch = DecodeBatch()
    batch.add(kv(2, 3, 1.0), 3, torch.tensor([1, 2]))
    storage = batch.layers[0][0].untyped_storage().data_ptr()
    steps = 0
    while batch.layers[0][0].untyped_storage().data_ptr() == storage:
        model_step(batch, float(steps + 10))
        batch.advance(torch.tensor([1, 2]))
        steps += 1
        assert steps < 1000
    # No copy for the steps that fit the spare columns, then one re-allocation with new room.
    assert steps == SPARE_COLUMNS + 1
    keys = batch.layers[0][0]
    assert batch.length == keys.shape[2] == 3 + steps
    assert keys[:, :, :3].eq(1.0).all()
    assert [float(keys[0, 0, 3 + i, 0]) for i in range(steps)] == [i + 10.0 for i in range(steps)]


def test_a_model_that_ignores_the_cache_is_an_error_not_a_silent_mismatch() -> None:
    batch = DecodeBatch()
    batch.add(kv(1, 3, 1.0), 3, torch.tensor([4]))
    with pytest.raises(RuntimeError, match=r"cache lengths \[3\] after a step from 3"):
        batch.advance(torch.tensor([5]))


def test_keeping_no_rows_empties_the_batch() -> None:
    batch = DecodeBatch()
    batch.add(kv(2, 3, 1.0), 3, torch.tensor([1, 2]))
    batch.keep([])
    assert batch.size == 0
    assert batch.layers == []
