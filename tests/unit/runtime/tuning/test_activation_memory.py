"""The CPU gradient-checkpointing choice: the estimate, the longest row, and who decides."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kaito.runtime.tuning import activation_memory as am
from tests.fixtures.tiny_model import fact_rows

SMOLLM2 = SimpleNamespace(
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    vocab_size=49152,
)


def test_estimate_grows_with_tokens_layers_and_width() -> None:
    one = am.activation_bytes(SMOLLM2, 1)
    assert am.activation_bytes(SMOLLM2, 100) == 100 * one
    # Per token: 30 layers x (10*576 + 4*1536 + 4*192) floats plus 3 vocab-wide rows, in fp32.
    assert one == 4 * (30 * (5760 + 6144 + 768) + 3 * 49152)
    deeper = SimpleNamespace(**{**vars(SMOLLM2), "num_hidden_layers": 60})
    assert am.activation_bytes(deeper, 1) > one
    assert am.activation_bytes(SMOLLM2, 1, element_bytes=2) == one // 2


def test_batch_tokens_uses_batch_size_and_max_length() -> None:
    assert am.batch_tokens(80, {"per_device_train_batch_size": 1}) == 80
    assert am.batch_tokens(80, {"per_device_train_batch_size": 4, "max_length": 50}) == 200
    assert am.batch_tokens(2000, {"per_device_train_batch_size": 1}) == am.TRL_DEFAULT_MAX_LENGTH
    assert am.batch_tokens(2000, {"per_device_train_batch_size": 2, "max_length": None}) == 4000
    assert am.batch_tokens(10, {}) == 80  # TRL's default batch of 8


def test_keep_activations_is_a_share_of_the_weights() -> None:
    weights = 1000
    assert am.keep_activations(int(am.ACTIVATION_SHARE * weights), weights)
    assert not am.keep_activations(int(am.ACTIVATION_SHARE * weights) + 1, weights)


class _Tokenizer:
    """Counts words as tokens; a chat template adds two tokens per message."""

    chat_template = "yes"

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool) -> list[int]:
        assert tokenize
        return [0] * sum(len(m["content"].split()) + 2 for m in messages)

    def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
        return {"input_ids": [0] * len(text.split())}


def _chat(words: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "q"}, {"role": "assistant",
            "content": " ".join(["w"] * words)}]}  # fmt: skip


def test_longest_row_is_found_among_the_longest_by_characters() -> None:
    rows = [_chat(n) for n in (3, 40, 7, 12)]
    assert am.longest_row_tokens(rows, _Tokenizer()) == 1 + 2 + 40 + 2
    text_rows = [{"text": "a b c"}, {"prompt": "x y", "completion": "z z z z"}]
    assert am.longest_row_tokens(text_rows, _Tokenizer()) == 6
    assert am.longest_row_tokens([], _Tokenizer()) == 0


class _Model:
    def __init__(self, parameters: int) -> None:
        import torch

        self.config = SMOLLM2
        self._params = [torch.nn.Parameter(torch.zeros(parameters))]

    def parameters(self) -> list[Any]:
        return self._params + self._params  # a tied weight is listed twice, counted once


def test_weight_bytes_counts_tied_weights_once() -> None:
    assert am.weight_bytes(_Model(1000)) == 4000


def test_cpu_checkpointing_follows_the_estimate_unless_the_config_decides() -> None:
    rows = [_chat(30)]
    per_row = am.activation_bytes(SMOLLM2, 34)
    small = _Model(parameters=per_row)  # weights (4 bytes each) far above the activations
    tiny = _Model(parameters=per_row // 8)  # weights half of the activations
    assert (
        am.cpu_checkpointing({"per_device_train_batch_size": 1}, rows, _Tokenizer(), small) is False
    )
    assert (
        am.cpu_checkpointing({"per_device_train_batch_size": 1}, rows, _Tokenizer(), tiny) is True
    )
    for key in am.CHECKPOINTING_KEYS:
        assert am.cpu_checkpointing({key: False}, rows, _Tokenizer(), tiny) is None


def test_packed_weight_copies_count_as_resident_weights() -> None:
    """bf16 weights plus their packed copies (cpu_lora) weigh what float32 weights would."""
    rows, training = [_chat(30)], {"per_device_train_batch_size": 1}
    per_row = am.activation_bytes(SMOLLM2, 34)
    half = _Model(parameters=per_row // 4)  # 1x the activations: checkpointing
    assert am.cpu_checkpointing(training, rows, _Tokenizer(), half) is True
    extra = am.weight_bytes(half) * 2  # now 3x the activations: kept
    assert am.cpu_checkpointing(training, rows, _Tokenizer(), half, extra) is False


def test_a_model_without_decoder_sizes_keeps_trls_default() -> None:
    nested = _Model(parameters=10**9)
    nested.config = SimpleNamespace(text_config=SMOLLM2)  # a multimodal wrapper's config
    assert not am.estimable(nested.config)
    assert am.cpu_checkpointing({}, [_chat(30)], _Tokenizer(), nested) is None
    assert am.estimable(SMOLLM2)


def test_checkpointing_key_is_a_training_argument() -> None:
    import dataclasses

    from transformers import TrainingArguments

    assert am.checkpointing_key() in {f.name for f in dataclasses.fields(TrainingArguments)}


@pytest.mark.timeout(120)
def test_real_tokenizer_counts_the_chat_template(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rows = fact_rows(20)
    counts = [len(tokenizer.apply_chat_template(r["messages"], tokenize=True)["input_ids"])
              for r in rows]  # fmt: skip
    assert am.longest_row_tokens(rows, tokenizer) == max(counts)
