"""The SFT trainer we train with: TRL's, with the ordinary LM head where the fused one costs more.

TRL's ``SFTTrainer`` always scores tokens through a chunked "fused" LM head that never builds the
full ``(tokens, vocab)`` logits. On a GPU with a large batch that saves gigabytes. On CPU it is a
loss: the head is recomputed chunk by chunk in the backward pass and entropy and top-1 accuracy
are computed for the logs, which took about a third of every step for SmolLM2-135M (see
``docs/benchmarks.md``, tuning). When a batch's logits are small, the model's own
cross-entropy gives the same loss and gradients for less work, so we use it there and keep TRL's
path everywhere else (CUDA, large batches, label smoothing, custom losses, other loss types, MoE
auxiliary losses, models that do not take ``num_items_in_batch``).

Per-step bookkeeping of ``Trainer`` is also cut on CPU, where a small model's step is short enough
for it to show. Each step ``Trainer`` counts the parameters for its FLOP log, clips gradients over
every parameter, calls ``model.train()`` (a recursive walk setting a flag on ~2,500 modules of a
PEFT-wrapped SmolLM2) and ``model.zero_grad()`` (a walk over every parameter). In a one-thread
profile of a bf16 SmolLM2 epoch at batch 1 the last two alone took 3.2 s and 1.9 s of 57 s
(docs/benchmarks.md, Tuning). Here the count is taken
once; clipping is given the trainable parameters (the same norm: the frozen ones have no
gradients); and, during ``train`` only (:func:`lean_step_bookkeeping`), ``model.train()`` returns
at once when every module is already in training mode and none overrides ``train`` with more
than a flag change, and ``model.zero_grad()`` clears the trainable parameters' gradients (a LoRA
run's frozen parameters never get any).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

#: The largest float32 logits tensor (bytes) a CPU batch may build with the plain head. 256 MiB is
#: about 1,300 tokens at a 49k vocabulary or 430 at 150k; beyond it the fused head's memory
#: saving matters more than its cost.
PLAIN_HEAD_LOGITS_BUDGET = 256 * 1024 * 1024


def plain_head_fits(tokens: int, vocab_size: int, budget: int = PLAIN_HEAD_LOGITS_BUDGET) -> bool:
    """Whether a batch of ``tokens`` positions may materialise its float32 logits."""
    return tokens > 0 and vocab_size > 0 and tokens * vocab_size * 4 <= budget


@functools.cache
def sft_trainer_class() -> type[Any]:
    """``SFTTrainer`` subclass choosing the LM head per batch (built lazily: TRL imports slowly)."""
    from transformers import Trainer
    from trl import SFTTrainer

    class KaitoSFTTrainer(SFTTrainer):
        """TRL's trainer; batches that qualify take the model's own loss (see module docstring)."""

        plain_head_logits_budget = PLAIN_HEAD_LOGITS_BUDGET
        plain_head_batches = 0
        _parameter_count: int | None = None
        _trainable: tuple[int, list[Any]] | None = None

        def floating_point_ops(self, inputs: dict[str, Any]) -> int:
            model: Any = self.model
            main = getattr(model, "main_input_name", "input_ids")
            if main not in inputs or not hasattr(model, "num_parameters"):
                return 0
            if self._parameter_count is None:
                self._parameter_count = int(model.num_parameters(exclude_embeddings=True))
            return 6 * int(inputs[main].numel()) * self._parameter_count

        def _clip_grad_norm(self, model: Any) -> Any:
            if self.accelerator.device.type != "cpu" or self._has_mixed_mesh_grads(model):
                return super()._clip_grad_norm(model)  # type: ignore[no-untyped-call]
            if self._trainable is None or self._trainable[0] != id(model):
                self._trainable = (id(model), [p for p in model.parameters() if p.requires_grad])
            return self.accelerator.clip_grad_norm_(self._trainable[1], self.args.max_grad_norm)

        def train(self, *args: Any, **kwargs: Any) -> Any:
            if self.args.device.type != "cpu":
                return super().train(*args, **kwargs)
            with lean_step_bookkeeping(self.model):
                return super().train(*args, **kwargs)

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            if not self._plain_head_applies(inputs):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)  # type: ignore[no-untyped-call]
            self.plain_head_batches += 1
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

        def _plain_head_applies(self, inputs: dict[str, Any]) -> bool:
            ids = inputs.get("input_ids")
            if ids is None or "labels" not in inputs or ids.device.type != "cpu":
                return False
            if getattr(self.args, "loss_type", "nll") != "nll":
                return False
            if self.label_smoother is not None or self.compute_loss_func is not None:
                return False
            if getattr(self, "aux_loss_enabled", False) or not self.model_accepts_loss_kwargs:
                return False
            return plain_head_fits(
                int(ids.numel()), _vocab_size(self.model), self.plain_head_logits_budget
            )

    return KaitoSFTTrainer


@contextlib.contextmanager
def lean_step_bookkeeping(model: Any) -> Iterator[None]:
    """Within the block, ``model.train()`` and ``model.zero_grad()`` skip their full walks.

    ``train(mode)`` does nothing when every module already has that mode (only when no module's
    class overrides ``train`` beyond torch's and transformers' flag setting, which do nothing
    more when the mode is unchanged); ``zero_grad(set_to_none=True)`` sets the gradients of the
    parameters that require them to None (the others are frozen and never get one). Restored on
    exit.
    """
    from torch import nn
    from transformers import PreTrainedModel

    modules = tuple(model.modules())
    plain_train = (nn.Module.train, PreTrainedModel.train)
    if any(type(module).train not in plain_train for module in modules):
        yield
        return
    trainable = [param for param in model.parameters() if param.requires_grad]
    full_train, full_zero_grad = model.train, model.zero_grad

    def train(mode: bool = True) -> Any:
        if all(module.training == mode for module in modules):
            return model
        return full_train(mode)

    def zero_grad(set_to_none: bool = True) -> None:
        if not set_to_none:
            full_zero_grad(set_to_none)
            return
        for param in trainable:
            param.grad = None

    model.train, model.zero_grad = train, zero_grad
    try:
        yield
    finally:
        del model.train, model.zero_grad


def _vocab_size(model: Any) -> int:
    """Rows of the output embedding (0 when the model has none we can see)."""
    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return 0
    weight = getattr(head, "weight", None)
    return int(weight.shape[0]) if weight is not None and weight.dim() == 2 else 0
