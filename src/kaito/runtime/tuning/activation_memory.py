"""Whether a CPU run can keep its activations: the gradient-checkpointing choice, by estimate.

TRL turns gradient checkpointing on unless told otherwise. It stores only each layer's input and
recomputes the rest of the layer in the backward pass, which is what lets a long context or a big
batch fit on a GPU. On a CPU with a small batch it buys little memory and costs a lot of time:
for SmolLM2-135M at upstream's batch of 1, one epoch of 128 chat rows took 110 s of CPU with it
and 63 s without (one thread), for about 6% more peak memory (docs/benchmarks.md, Tuning). So on
CPU, where the config says nothing, we estimate the activations of the largest batch and keep them
when they are small next to the weights (:data:`ACTIVATION_SHARE`); an explicit
``gradient_checkpointing`` in the config always wins, and CUDA keeps TRL's default, as does a model
whose config does not give the sizes the estimate needs.

The estimate counts, per token and layer, the tensors a decoder layer keeps for the backward pass
of a LoRA run (norm inputs and outputs, q/k/v and the rotated q/k, the attention output, the MLP's
gate, up, activation and product, residuals), plus the LM head's logits, their log-probabilities
and their gradient. It overstates what PyTorch really keeps (views and freed tensors are counted),
which errs towards checkpointing. Token counts come from the longest rows by characters (a few
rows are tokenized, not the whole dataset), times the batch size, capped by ``max_length``.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

#: Activations are kept when the estimate is at most this share of the weights' bytes.
ACTIVATION_SHARE = 0.5
#: Rows (the longest by characters) that are tokenized to find the longest row in tokens.
SAMPLED_ROWS = 8
#: TRL's ``max_length`` when the config leaves it unset.
TRL_DEFAULT_MAX_LENGTH = 1024
#: TrainingArguments keys that set checkpointing (transformers 5 renamed it; both are honoured).
CHECKPOINTING_KEYS = frozenset({"gradient_checkpointing", "activation_checkpointing"})


def cpu_checkpointing(
    training: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    tokenizer: Any,
    model: Any,
    extra_weight_bytes: int = 0,
) -> bool | None:
    """Checkpointing for a CPU run: the estimate's answer, or None (the config or TRL decides).

    None when the config sets it, or when the model's config lacks the sizes to estimate with.
    ``extra_weight_bytes``: resident copies of the weights besides the parameters (the packed
    ones of ``cpu_lora``), which the activations are weighed against too.
    """
    if CHECKPOINTING_KEYS & training.keys() or not estimable(model.config):
        return None
    tokens = batch_tokens(longest_row_tokens(rows, tokenizer), training)
    estimate = activation_bytes(model.config, tokens)
    weights = weight_bytes(model) + extra_weight_bytes
    keep = keep_activations(estimate, weights)
    logger.info(
        "gradient checkpointing %s: the largest batch (%d tokens) keeps about %d MiB of "
        "activations, against %d MiB of weights",
        "off" if keep else "on",
        tokens,
        estimate >> 20,
        weights >> 20,
    )
    return not keep


def checkpointing_key() -> str:
    """The TrainingArguments field this transformers version calls checkpointing."""
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    if "activation_checkpointing" in fields:
        return "activation_checkpointing"
    return "gradient_checkpointing"


def estimable(model_config: Any) -> bool:
    """Whether the config gives the sizes :func:`activation_bytes` needs (a text decoder's)."""
    return all(
        isinstance(getattr(model_config, key, None), int) and getattr(model_config, key) > 0
        for key in ("hidden_size", "num_hidden_layers", "vocab_size")
    )


def activation_bytes(model_config: Any, tokens: int, element_bytes: int = 4) -> int:
    """Estimated bytes a forward pass over ``tokens`` positions keeps for its backward pass."""
    hidden = int(getattr(model_config, "hidden_size", 0) or 0)
    inner = int(getattr(model_config, "intermediate_size", 0) or 4 * hidden)
    layers = int(getattr(model_config, "num_hidden_layers", 0) or 0)
    heads = int(getattr(model_config, "num_attention_heads", 0) or 1)
    kv_heads = int(getattr(model_config, "num_key_value_heads", 0) or heads)
    vocab = int(getattr(model_config, "vocab_size", 0) or 0)
    kv_width = hidden * kv_heads // max(heads, 1)
    per_layer = 10 * hidden + 4 * inner + 4 * kv_width
    per_token = layers * per_layer + 3 * vocab
    return tokens * per_token * element_bytes


def weight_bytes(model: Any) -> int:
    """Bytes of the model's parameters (tied weights counted once)."""
    unique = {id(param): param for param in model.parameters()}
    return sum(int(param.numel()) * int(param.element_size()) for param in unique.values())


def longest_row_tokens(rows: Iterable[Mapping[str, Any]], tokenizer: Any) -> int:
    """Tokens in the longest row, found among the :data:`SAMPLED_ROWS` longest by characters."""
    longest = heapq.nlargest(SAMPLED_ROWS, rows, key=lambda row: len(_strings(row)))
    return max((_token_count(row, tokenizer) for row in longest), default=0)


def batch_tokens(longest_row: int, training: Mapping[str, Any]) -> int:
    """Positions in the largest batch: the batch size times the longest row, cut at max_length."""
    max_length = training.get("max_length", TRL_DEFAULT_MAX_LENGTH)
    row = longest_row if max_length is None else min(longest_row, int(max_length))
    batch = int(training.get("per_device_train_batch_size", 8) or 1)
    return batch * row


def keep_activations(estimate: int, weights: int) -> bool:
    """Whether activations of ``estimate`` bytes are small enough to skip checkpointing."""
    return estimate <= ACTIVATION_SHARE * weights


def _token_count(row: Mapping[str, Any], tokenizer: Any) -> int:
    messages = row.get("messages")
    if isinstance(messages, list) and getattr(tokenizer, "chat_template", None):
        try:
            ids = tokenizer.apply_chat_template(messages, tokenize=True)
        except (ValueError, TypeError, KeyError):
            ids = None
        if ids is not None:
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            return len(ids)
    return len(tokenizer(_strings(row), add_special_tokens=True)["input_ids"])


def _strings(value: Any) -> str:
    """Every string in a row, joined (ranks rows by length; counts rows without a template)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "\n".join(_strings(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(_strings(v) for v in value)
    return ""
