"""Turn a growing list of token ids into text deltas, honouring stop strings.

Streaming needs text per token, but byte-level BPE tokens can split a UTF-8 character and a stop
string can span several tokens. Decoding the whole generated sequence each step and emitting only
the new, settled suffix handles both: an incomplete character (U+FFFD at the end) and any tail
that could still grow into a stop string are held back until the next token decides them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Per-choice text state: what has been emitted and whether a stop string has matched."""

    def __init__(self, decode: Callable[[Sequence[int]], str], stop: Sequence[str]) -> None:
        self._decode = decode
        self._stop = tuple(s for s in stop if s)
        self._ids: list[int] = []
        self._emitted = 0
        self.stopped = False
        """Set once a stop string matched; the text ends before it."""

    def push(self, token_id: int | None) -> str:
        """Add a token (``None`` at the end) and return the newly settled text."""
        if self.stopped:
            return ""
        final = token_id is None
        if token_id is not None:
            self._ids.append(token_id)
        text = self._decode(self._ids)
        if self._stop:
            # A match can only start where unsent text could still begin a stop string.
            start = max(0, self._emitted - max(len(s) for s in self._stop) + 1)
            cut = min((i for s in self._stop if (i := text.find(s, start)) >= 0), default=-1)
            if cut >= 0:
                self.stopped = True
                return self._take(text, max(cut, self._emitted))
        if final:
            return self._take(text, len(text))
        end = len(text)
        while end > self._emitted and text[end - 1] == _REPLACEMENT:
            end -= 1
        end -= self._held_prefix(text[:end])
        return self._take(text, end)

    def _held_prefix(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of a stop string."""
        for size in range(
            min(len(text) - self._emitted, max((len(s) for s in self._stop), default=0)), 0, -1
        ):
            tail = text[-size:]
            if any(s.startswith(tail) and s != tail for s in self._stop):
                return size
        return 0

    def _take(self, text: str, end: int) -> str:
        if end <= self._emitted:
            return ""
        delta = text[self._emitted : end]
        self._emitted = end
        return delta
