"""A CPU tuning run's decoder layers compiled (``torch.compile``), for bf16 or float32 weights.

Why: with :mod:`.cpu_lora` the frozen products of a batch-1 SmolLM2-135M step on two AMX cores
take a fraction of the step; the rest is thousands of small operators per step (norms, rotary,
casts, residual adds, the adapters' rank-8 products and their backward), each dispatched from
Python and recorded by autograd. Compiled, each decoder layer's forward and backward are one
graph each, with that elementwise work fused into a few loops: paired in one process, a step took
0.66x the time of :mod:`.cpu_lora`'s (docs/benchmarks.md, Tuning). In float32 (hosts without
native bf16, or a config that asks for float32) the products are a larger share of the step and
compiling gains less: 0.85x of PEFT's eager step under AVX2 emulation.

How, for the plain-LoRA calls :mod:`.cpu_lora` also takes (one active adapter, no variant, not
merged):

- bf16: the frozen product runs through a oneDNN-packed copy of the weight, as one operator the
  compiler leaves whole (``kaito::packed_product``), inside an autograd function whose backward
  gives the input's gradient through a packed copy of the transposed weight. While training,
  those two copies are all a linear keeps: its plain weight is released
  (:mod:`.released_weight`, :func:`release_weights`) and rebuilt, bit for bit, when training
  ends or when PEFT's own forward needs it;
- float32: the frozen product is the plain weight's ``linear`` (MKL's product, which the
  compiler calls as it is). oneDNN's packed float32 product was slower on an AVX2 host (0.94
  against 0.85 of the eager step, paired) and would cost a copy of the weights;
- the adapter is written as plain operators the compiler fuses: the input cast to the adapter's
  dtype (float32 by PEFT's default), dropout, ``A`` then ``B``, the scaling, and the sum with the
  frozen product in float32 rounded once to bf16: PEFT's own arithmetic;
- the decoder layers (the classes the model names in ``_no_split_modules``) are compiled with
  dynamic shapes, so one graph serves every sequence length; the input embeddings' output is
  made to require grad so the first layer is called like the others (one graph, not two);
- compilation happens before the first step (:func:`warm_up`, on one real batch, inside the
  timed training). If it fails (no C++ compiler, an operator the compiler rejects), the run logs
  why and trains eagerly instead (through :mod:`.cpu_lora` in bf16). After it, a call the graph
  does not cover (another batch size, evaluation without gradients) runs the same layers
  uncompiled instead of stopping the run to compile again.

What it costs: compiling, once per process (11-21 s on two cores for SmolLM2-135M with an empty
cache, :func:`_compile_time_settings`; inductor's cache, :mod:`kaito.runtime.inductor_cache`, makes
a later run on the same machine compile in about 4 s), so ``auto`` (the default) compiles only
when the run trains at least :data:`AUTO_MIN_ROWS` rows (sequences, epochs counted); memory: in
bf16 two packed copies per linear while training and no plain weight (:mod:`.cpu_lora` keeps the
plain weight, a packed copy and grouped copies of siblings), in float32 the weights as they are;
plus the compiler's own; and exactness: fused loops and oneDNN's products round differently, so
losses agree with the eager path's to bf16 rounding (in float32, to float32 rounding), not bit
for bit.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Literal

from kaito.runtime.tuning import cpu_lora, options, released_weight

logger = logging.getLogger(__name__)

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[CompileMode, ...] = ("auto", "on", "off")
#: Rows (sequences through a forward and backward pass) from which ``auto`` compiles. At batch 1
#: compiling saves SmolLM2-135M on two cores about 56 ms a row in bf16 on AMX (128 against 184 ms
#: a step, paired) and about 60 ms in float32 under AVX2 emulation, and compiling with an empty
#: cache took 11-21 s: this many rows repay even the slower figure. Rows rather than passes so
#: that a run with larger batches compiles whenever the same data at batch 1 would: a pass of 8
#: padding-free rows saves about 120 ms, less per row, but without it the fast profile (batches of
#: 8) fell behind the compiled default in float32 (docs/benchmarks.md, Tuning).
AUTO_MIN_ROWS = 400


def check_mode(name: str) -> CompileMode:
    """``name`` as a compile mode.

    Raises:
        ValueError: not one of :data:`COMPILE_MODES` (the message lists them).
    """
    return options.one_of(name, COMPILE_MODES, "compile mode")


def planned_rows(args: Any, rows: int) -> int:
    """Rows a run over ``rows`` training rows passes forward and backward under ``args``.

    ``args`` is the run's resolved ``TrainingArguments`` (TRL's ``SFTConfig``), defaults filled in:
    every epoch's rows, or with ``max_steps`` that many steps of full batches.
    """
    batch = max(1, int(args.per_device_train_batch_size))
    if args.max_steps > 0:
        return int(args.max_steps) * max(1, int(args.gradient_accumulation_steps)) * batch
    return math.ceil(rows * float(args.num_train_epochs))


def wanted(mode: CompileMode, rows: int) -> bool:
    """Whether to compile: ``on``, or ``auto`` with at least :data:`AUTO_MIN_ROWS` rows."""
    if mode == "auto":
        return rows >= AUTO_MIN_ROWS
    return mode == "on"


def _base_model(model: Any) -> Any:
    """The transformers model under PEFT's wrapper (``model`` itself when unwrapped)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model: Any) -> list[Any]:
    """The model's decoder layers: modules of the classes it names in ``_no_split_modules``."""
    base = _base_model(model)
    names = set(getattr(base, "_no_split_modules", None) or ())
    return [m for m in base.modules() if type(m).__name__ in names]


def prepare(model: Any) -> int:
    """Put ``model``'s plain-LoRA linears on the compiled path and compile its decoder layers.

    Linears over float32 weights, or bf16 ones where oneDNN packs them, qualify. Undoes
    :func:`.cpu_lora.accelerate` where it ran (its grouped copies are not used here).
    Returns how many layers will compile (0: nothing changed, no decoder layer or LoRA linear
    qualified). Compilation itself happens at the first call (:func:`warm_up`).
    """
    import torch

    layers = decoder_layers(model)
    if not layers:
        return 0
    dtypes = {torch.float32, torch.bfloat16} if cpu_lora.packing_available() else {torch.float32}
    cpu_lora.restore(model)
    lora_class = _compiled_lora_class()
    switched = 0
    for module in model.modules():
        if not cpu_lora.lora_eligible(module):
            continue
        weight = module.base_layer.weight
        if weight.dtype not in dtypes or weight.device.type != "cpu":
            continue
        module.__class__ = lora_class
        module._kaito_packed = cpu_lora.pack(weight) if weight.dtype == torch.bfloat16 else None
        switched += 1
    if not switched:
        cpu_lora.accelerate(model)  # what restore() undid
        return 0
    cpu_lora.pack_head(model)
    # Without it the embeddings' output needs no gradient, and the first layer, called with
    # such an input, would compile a second graph.
    _base_model(model).enable_input_require_grads()
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


def undo(model: Any) -> None:
    """Back to eager: layers uncompiled, LoRA linears through :func:`.cpu_lora.accelerate`."""
    for layer in decoder_layers(model):
        layer._compiled_call_impl = None
    _base_model(model).disable_input_require_grads()
    restore_weights(model)
    cpu_lora.back_to_peft(model, _compiled_lora_class(), ("_kaito_packed", "_kaito_transposed"))
    cpu_lora.accelerate(model)


def release_weights(model: Any) -> int:
    """Give each packed compiled LoRA linear a packed transposed weight; release its plain one.

    The backward's products through the packed copy are faster than through the plain weight,
    and holding both copies as well would cost the weights' size again, so the plain weight is
    replaced by :func:`.released_weight.placeholder` and the memory handed back. A weight
    another module shares is kept. Returns how many were released; :func:`restore_weights`
    rebuilds them. Float32 linears (not packed) keep their weights.
    """
    from collections import Counter

    lora_class = _compiled_lora_class()
    uses = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    released = 0
    for name, module in model.named_modules():
        if type(module) is not lora_class or module._kaito_packed is None:
            continue
        if module._kaito_transposed is not None:
            continue
        weight = module.base_layer.weight
        if uses[id(weight)] != 1 or weight.requires_grad:
            continue
        module._kaito_transposed = cpu_lora.pack(weight.t())
        module.base_layer.weight = released_weight.placeholder(weight, name)
        released += 1
    released_weight.return_freed_memory()
    return released


def restore_weights(model: Any) -> int:
    """Rebuild the plain weights :func:`release_weights` released; returns how many."""
    lora_class = _compiled_lora_class()
    restored = sum(_restore_weight(m) for m in model.modules() if type(m) is lora_class)
    released_weight.return_freed_memory()
    return restored


def _restore_weight(module: Any) -> bool:
    """Rebuild ``module``'s plain weight from its packed copy (bit for bit); whether it did."""
    import torch

    if module._kaito_transposed is None:
        return False
    if released_weight.is_released(module.base_layer.weight):
        plain = module._kaito_packed.to_dense()
        module.base_layer.weight = torch.nn.Parameter(plain, requires_grad=False)
    module._kaito_transposed = None
    return True


def warm_up(model: Any, step: Callable[[], Any]) -> bool:
    """Compile by running ``step``; False (logged, undone) on failure.

    ``step`` makes one forward and backward pass of ``model`` the way training does. The way
    matters: the graph is specialised to the arguments the layers get (the trainer
    passes its loss arguments down to them), and a call unlike the warm-up's would later run
    uncompiled. The gradients it leaves are cleared and the random state restored, so training
    starts as it would have without it.
    """
    import torch

    from kaito.runtime import inductor_cache

    started = time.monotonic()
    rng = torch.get_rng_state()
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:
        inductor_cache.private_cache_dir()
        release_weights(model)
        with contextlib.ExitStack() as settings:
            for patch in _compile_time_settings():
                settings.enter_context(patch)
            step()
    except Exception as exc:  # any compiler failure leaves the eager path
        logger.warning("compiling the decoder layers failed, training without: %s", exc)
        undo(model)
        return False
    finally:
        for parameter in trainable:
            parameter.grad = None
        torch.set_rng_state(rng)
    # A shape the graph does not cover (a smaller last batch, evaluation) runs the same code
    # uncompiled rather than stopping the run to compile again.
    torch.compiler.set_stance("eager_on_recompile")
    seconds = time.monotonic() - started
    logger.info("compiled %d decoder layers in %.1f s", len(decoder_layers(model)), seconds)
    return True


def _compile_time_settings() -> list[Any]:
    """Compiler settings (context managers) that shorten the warm-up; results are unchanged.

    - Python floats the layers read (the norm's epsilon, the LoRA scaling) become constants.
      Left symbolic, as ``dynamic=True`` makes them, tracing fails a pass that turns them into
      tensors and starts over: 7.6 against 4.7 s to compile SmolLM2-135M's layer with a warm
      cache. A layer with other values (per-module LoRA ranks) gets a graph of its own.
    - Inductor trusts the CPU's flags (``/proc/cpuinfo``) for which vector instruction sets to
      compile for, instead of building and loading a probe program per set first: 7.5 s of
      an empty cache's 20 s on an AMX host, 1.6 s with this (the finer probes for bf16, VNNI and
      AMX still run). Only where ``TORCHINDUCTOR_VEC_ISA_OK`` leaves it unset; a compiler that
      cannot build for a set then fails the warm-up, which falls back to the eager path.
    """
    import torch

    patches = [torch._dynamo.config.patch(specialize_float=True)]
    if torch._inductor.config.cpp.vec_isa_ok is None:
        patches.append(torch._inductor.config.patch({"cpp.vec_isa_ok": True}))
    return patches


@functools.cache
def _frozen_product_classes() -> tuple[type[Any], type[Any]]:
    """Autograd functions for the frozen product: the packed forward, the input's gradient.

    The weight is frozen, so the backward gives only the input's gradient. ``ThroughPlain``
    computes it as ``grad @ weight`` with the plain weight; :func:`.cpu_lora.frozen_function`
    through a packed copy of the transposed weight (:func:`release_weights`), 1.3-1.6x faster at
    a batch-1 step's 48 rows. Autograd functions, so the compiler traces both directions into the
    layer's graphs.
    """
    import torch

    cpu_lora.packed_product_op()
    product = torch.ops.kaito.packed_product.default

    class ThroughPlain(torch.autograd.Function):
        @staticmethod
        def forward(x: Any, weight: Any, packed: Any, bias: Any) -> Any:
            return product(x, packed, bias, weight.shape[0])

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            ctx.save_for_backward(inputs[1])

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, None, None, None]:
            (weight,) = ctx.saved_tensors
            return grad @ weight, None, None, None

    return ThroughPlain, cpu_lora.frozen_function()


@functools.cache
def _compiled_lora_class() -> type[Any]:
    from peft.tuners.lora.layer import Linear as LoraLinear
    from torch.nn import functional

    through_plain, through_packed = _frozen_product_classes()

    class CompiledLoraLinear(LoraLinear):
        """PEFT's LoRA ``Linear``; plain LoRA calls as operators the compiler can fuse."""

        _kaito_packed: Any
        _kaito_transposed: Any = None

        def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
            name = cpu_lora.plain_adapter(self, args, kwargs)
            base: Any = self.base_layer
            packed = self._kaito_packed
            if name is None or x.dtype != base.weight.dtype:
                _restore_weight(self)  # PEFT's forward reads the plain weight
                return super().forward(x, *args, **kwargs)
            lora_a: Any = self.lora_A[name].weight
            lora_b: Any = self.lora_B[name].weight
            dropout: Any = self.lora_dropout[name]
            if packed is None:
                frozen = functional.linear(x, base.weight, base.bias)
            elif self._kaito_transposed is None:
                frozen = through_plain.apply(x, base.weight, packed, base.bias)
            else:
                frozen = through_packed.apply(x, packed, self._kaito_transposed, base.bias)
            delta = (dropout(x.to(lora_a.dtype)) @ lora_a.t()) @ lora_b.t()
            return (frozen.to(delta.dtype) + delta * self.scaling[name]).to(x.dtype)

    return CompiledLoraLinear
