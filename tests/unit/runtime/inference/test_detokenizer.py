"""Incremental detokenisation: settled text only, stop strings across tokens, split characters."""

from __future__ import annotations

from collections.abc import Sequence

from kaito.runtime.inference.engines.detokenizer import IncrementalDetokenizer

# A toy vocabulary: ids index into these byte strings; decoding joins and decodes with replacement.
VOCAB = [b"Hel", b"lo", b" wor", b"ld", b"!", "é".encode()[:1], "é".encode()[1:], b" S", b"TOP"]


def decode(ids: Sequence[int]) -> str:
    return b"".join(VOCAB[i] for i in ids).decode("utf-8", errors="replace")


def run(ids: list[int], stop: list[str]) -> tuple[list[str], bool]:
    detok = IncrementalDetokenizer(decode, stop)
    deltas = [detok.push(i) for i in ids]
    if not detok.stopped:
        deltas.append(detok.push(None))
    return deltas, detok.stopped


def test_deltas_concatenate_to_the_full_text() -> None:
    deltas, stopped = run([0, 1, 2, 3, 4], [])
    assert "".join(deltas) == "Hello world!"
    assert not stopped


def test_a_split_utf8_character_is_held_until_complete() -> None:
    deltas, _ = run([0, 5, 6, 4], [])
    assert deltas[1] == ""
    assert deltas[2] == "é"
    assert "".join(deltas) == "Helé!"


def test_stop_string_spanning_tokens_ends_text_before_it() -> None:
    deltas, stopped = run([0, 1, 7, 8, 4], [" STOP"])
    assert stopped
    assert "".join(deltas) == "Hello"


def test_text_that_may_start_a_stop_string_is_held_back_then_released() -> None:
    deltas, stopped = run([0, 1, 2, 3], ["lo wX"])
    assert not stopped
    assert deltas[:2] == ["He", "l"]  # "l", then "lo", could begin "lo wX"
    assert "".join(deltas) == "Hello world"


def test_nothing_is_emitted_after_a_stop() -> None:
    detok = IncrementalDetokenizer(decode, ["lo"])
    assert detok.push(0) == "He"  # "l" may begin "lo"
    assert detok.push(1) == "l"  # "Hel" + "lo": text ends before the stop string
    assert detok.stopped
    assert detok.push(2) == ""
