"""Our own continuously batched engine over a Hugging Face causal LM (CPU or GPU).

This module owns the public surface (:class:`TransformersEngine`: requests, adapters, start and
stop) and loading. The work is split by what it owns:

- :mod:`.scheduler`: the one scheduler thread's loop (admit, decode, stream results);
- :mod:`.prefill`: several prompts in one padded forward pass, their common start computed once;
- :mod:`.sampling`: picking tokens (greedy, temperature, top-k/top-p, seeds);
- :mod:`.inbox`: what other threads hand to the scheduler, and the adapter table, under locks;
- :mod:`.batch`: the running batch's key/value cache;
- :mod:`.decode_step`: a Llama decoding step without transformers' per-call machinery (same
  logits, less CPU), used for steps whose rows all run the base model;
- :mod:`.compiled_step`: that step compiled into native code at load (``kaito-serve``'s default).

Adapters are PEFT LoRA adapters loaded side by side into one ``PeftModel``; a mixed batch passes
``adapter_names`` per row, so requests for the base model and for different adapters share every
step. Strength (upstream's per-adapter weight) scales that adapter's LoRA delta.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

from kaito.api.constants import ADAPTER_CONFIG_FILE
from kaito.runtime.inference import errors, settings
from kaito.runtime.inference.engines import compiled_step, cpu_linear, decode_step
from kaito.runtime.inference.engines.base import EngineStats, EventStream, GenerationRequest
from kaito.runtime.inference.engines.batch import DecodeBatch
from kaito.runtime.inference.engines.host_choice import default_cpu_threads, resolve_dtype
from kaito.runtime.inference.engines.inbox import AdapterTable, Inbox, Pending
from kaito.runtime.inference.engines.prefill import (
    MIN_SHARED_PREFIX,
    PREFILL_TOKEN_BUDGET,
    shared_prefix,
)
from kaito.runtime.inference.engines.scheduler import EventStream as RequestStream
from kaito.runtime.inference.engines.scheduler import LoadedModel, Scheduler

__all__ = [
    "MIN_SHARED_PREFIX",
    "PREFILL_TOKEN_BUDGET",
    "TransformersEngine",
    "TransformersEngineConfig",
    "default_cpu_threads",
    "resolve_dtype",
    "shared_prefix",
]

logger = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch
DEFAULT_MAX_MODEL_LEN = 4096


@dataclasses.dataclass(frozen=True)
class TransformersEngineConfig:
    """Everything the engine needs to load and schedule."""

    model_dir: Path
    """Local Hugging Face model directory (see ``kaito.runtime.models``)."""
    served_model_name: str
    """Name clients use for the base model."""
    max_model_len: int | None = None
    """Context window; defaults to the model's ``max_position_embeddings`` (capped at 4096)."""
    dtype: str = "auto"
    """A torch dtype name, or ``auto`` (see :func:`resolve_dtype`)."""
    device: str = "auto"
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    max_batch_size: int = 64
    """Rows decoded together at most."""
    max_queue: int = 256
    """Requests allowed to wait for a batch slot before new ones get HTTP 429."""
    threads: int | None = None
    """torch intra-op threads on CPU; defaults to :func:`default_cpu_threads`."""
    cpu_prepack: bool = True
    """On CPU, run linear layers on weights packed once for oneDNN (:mod:`.cpu_linear`)."""
    fast_decode: bool = True
    """Decode base-model steps of supported models through :mod:`.decode_step` (same logits)."""
    compile_decode: bool = False
    """Compile that step at load (:mod:`.compiled_step`; ``kaito-serve`` turns it on)."""
    adapters_dir: Path | None = None
    """Each sub-directory holding ``adapter_config.json`` is served under its directory name."""


class TransformersEngine:
    """Continuous batching over ``transformers`` with LoRA adapters; see the module docstring."""

    def __init__(self, config: TransformersEngineConfig) -> None:
        self._config = config
        self._model: Any = None
        self._decode_step: decode_step.DecodeStep | compiled_step.CompiledStep | None = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._max_model_len = config.max_model_len or DEFAULT_MAX_MODEL_LEN
        self._adapters = AdapterTable()
        self._inbox = Inbox(config.max_queue)
        self._scheduler: Scheduler | None = None
        self._thread: threading.Thread | None = None
        self._ready = False

    # -- public surface -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the model is loaded and the scheduler runs."""
        return self._ready

    @property
    def base_model_name(self) -> str:
        """The served name of the base model."""
        return self._config.served_model_name

    @property
    def max_model_len(self) -> int:
        """Context window in tokens."""
        return self._max_model_len

    def adapter_names(self) -> list[str]:
        """Loaded adapters in load order."""
        return self._adapters.names()

    def stats(self) -> EngineStats:
        """Waiting requests and running rows."""
        running = self._scheduler.running if self._scheduler is not None else 0
        return EngineStats(waiting=self._inbox.waiting, running=running)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Render ``messages`` with the tokenizer's chat template and tokenise them."""
        self._require_ready()
        try:
            encoded = self._tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True
            )
        except Exception as exc:  # jinja errors from user-controlled roles/content
            raise errors.BadRequestError(f"cannot apply the chat template: {exc}") from exc
        if hasattr(encoded, "keys") and "input_ids" in encoded:
            encoded = encoded["input_ids"]
        return [int(t) for t in encoded]

    def encode_prompt(self, prompt: str) -> list[int]:
        """Tokenise a completion prompt (with the tokenizer's special tokens, e.g. BOS)."""
        self._require_ready()
        return [int(t) for t in self._tokenizer(prompt)["input_ids"]]

    def decode(self, token_ids: list[int]) -> str:
        """Decode ids to text without special tokens (used for prompts given as ids)."""
        self._require_ready()
        text: str = self._tokenizer.decode(token_ids, skip_special_tokens=True)
        return text

    def generate(self, request: GenerationRequest) -> EventStream:
        """Queue ``request`` and return its event stream.

        Raises (synchronously, before any event): ModelNotFoundError, PromptTooLongError,
        QueueFullError, NotReadyError, BadRequestError.
        """
        self._require_ready()
        if request.model != self.base_model_name and request.model not in self._adapters:
            raise errors.ModelNotFoundError(
                f"The model `{request.model}` does not exist.", param="model"
            )
        prompt_len = len(request.prompt_ids)
        if prompt_len == 0:
            raise errors.BadRequestError("the prompt is empty", param="prompt")
        if prompt_len >= self._max_model_len:
            raise errors.PromptTooLongError(
                f"This model's maximum context length is {self._max_model_len} tokens, but the "
                f"prompt has {prompt_len} tokens.",
                param="messages",
            )
        vocab = len(self._tokenizer)
        if any(t < 0 or t >= vocab for t in request.prompt_ids):
            raise errors.BadRequestError("prompt token ids out of the vocabulary", param="prompt")
        pending = Pending(request=request, loop=asyncio.get_running_loop(), queue=asyncio.Queue())
        self._inbox.submit(pending)
        return RequestStream(pending, self._inbox.wake)

    async def load_adapter(self, name: str, path: str) -> None:
        """Load the adapter folder ``path`` (the caller has checked where it lies)."""
        self._require_ready()
        if name == self.base_model_name or name in self._adapters:
            raise errors.AdapterError(f"adapter {name!r} is already loaded", param="lora_name")
        directory = Path(path)
        if not await asyncio.to_thread(directory.is_dir):
            raise errors.AdapterError(f"adapter path {path} is not a directory")
        config_file = directory / ADAPTER_CONFIG_FILE
        if not await asyncio.to_thread(config_file.is_file):
            raise errors.AdapterError(f"adapter path {directory} has no {ADAPTER_CONFIG_FILE}")
        # Callers choose hot-loaded names: no strength variable is looked up for them.
        await self._run_on_scheduler(
            lambda: self._load_adapter_now(name, directory, settings.DEFAULT_ADAPTER_STRENGTH)
        )

    async def unload_adapter(self, name: str) -> None:
        """Stop serving ``name``; its running requests finish with ``abort``."""
        self._require_ready()
        if name not in self._adapters:
            raise errors.AdapterError(f"adapter {name!r} is not loaded", param="lora_name")
        await self._run_on_scheduler(lambda: self._unload_adapter_now(name))

    async def start(self) -> None:
        """Start the scheduler thread: it loads model, tokenizer and adapters, then serves.

        Every torch call of the engine runs on that one thread, loading included. libgomp gives
        each thread that starts parallel work its own team of worker threads, and once a process
        holds more OpenMP threads than CPUs, idle workers stop spin-waiting and sleep: loading
        on another thread made every parallel region of a decoding step wait for a sleeping
        worker to wake (see docs/benchmarks.md, Inference server).

        Raises:
            Exception: whatever loading raised (a bad model directory, dtype, adapter).
        """
        loaded: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._load_and_serve, args=(loaded,), name="kaito-engine", daemon=True
        )
        self._thread.start()
        await asyncio.wrap_future(loaded)
        self._ready = True

    async def stop(self) -> None:
        """Stop the scheduler; in-flight requests end with ``abort``, queued ones fail."""
        self._ready = False
        if self._scheduler is not None:
            self._scheduler.stopping.set()
        self._inbox.wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)
        # Whatever was queued after the scheduler's last look (or if it never ran) fails now.
        for pending in self._inbox.close():
            pending.open_choices = 0
            if not pending.cancelled:
                error = errors.NotReadyError("the engine is shutting down")
                pending.loop.call_soon_threadsafe(pending.queue.put_nowait, error)

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> LoadedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = self._config
        device = cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        if self._device.type == "cpu":
            torch.set_num_threads(cfg.threads or default_cpu_threads())
        dtype = resolve_dtype(cfg.dtype, self._device.type)
        logger.info(
            "loading %s on %s in %s (%d threads%s)",
            cfg.model_dir,
            self._device,
            dtype,
            torch.get_num_threads(),
            ", dtype chosen for this CPU" if cfg.dtype == "auto" else "",
        )
        self._tokenizer = AutoTokenizer.from_pretrained(str(cfg.model_dir))
        model = AutoModelForCausalLM.from_pretrained(str(cfg.model_dir), dtype=dtype)
        model.to(self._device)
        model.eval()  # type: ignore[no-untyped-call]
        if self._device.type == "cpu" and cfg.cpu_prepack:
            packed = cpu_linear.prepack_linears(model)
            fused = cpu_linear.fuse_siblings(model)
            logger.info(
                "packed %d linear layers for oneDNN (%d sibling groups fused)", packed, fused
            )
        self._model = model
        eager_step = decode_step.build(model) if cfg.fast_decode else None
        self._decode_step = eager_step
        if eager_step is not None and cfg.compile_decode:
            with torch.inference_mode():
                self._decode_step = compiled_step.build(eager_step) or eager_step
        if self._decode_step is None:
            path = "the model's forward"
        elif self._decode_step is eager_step:
            path = "kaito's Llama step"
        else:
            path = "kaito's compiled Llama step"
        logger.info("decoding steps through %s", path)
        eos_ids = frozenset(_eos_ids(model, self._tokenizer))
        # Left padding of batched prefills; masked out, so any valid token id would do.
        pad = self._tokenizer.pad_token_id
        limit = getattr(model.config, "max_position_embeddings", None) or DEFAULT_MAX_MODEL_LEN
        self._max_model_len = cfg.max_model_len or min(int(limit), DEFAULT_MAX_MODEL_LEN)
        if cfg.adapters_dir is not None and cfg.adapters_dir.is_dir():
            for child in sorted(cfg.adapters_dir.iterdir()):
                if (child / ADAPTER_CONFIG_FILE).is_file():
                    strength = settings.get_adapter_strength(child.name)
                    self._load_adapter_now(child.name, child, strength)
        return LoadedModel(
            forward=self._forward,
            decode=self._decode_logits,
            decode_ids=self._decode_ids,
            eos_ids=eos_ids,
            pad_id=int(pad if pad is not None else min(eos_ids, default=0)),
            device=self._device,
            max_model_len=self._max_model_len,
        )

    def _load_adapter_now(self, name: str, directory: Path, strength: float) -> None:
        """Load an adapter (scheduler thread; the only writer of the adapter table)."""
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer

        # Checked again here: two hot-loads of one name may both have passed the early check.
        if name in self._adapters:
            raise errors.AdapterError(f"adapter {name!r} is already loaded", param="lora_name")
        try:
            if isinstance(self._model, PeftModel):
                self._model.load_adapter(str(directory), adapter_name=name)
            else:
                self._model = PeftModel.from_pretrained(
                    self._model, str(directory), adapter_name=name
                )
        except Exception as exc:  # PEFT raises ValueError/KeyError/OSError variously
            raise errors.AdapterError(
                f"cannot load adapter {name!r} from {directory}: {exc}"
            ) from exc
        self._model.eval()
        if strength != settings.DEFAULT_ADAPTER_STRENGTH:
            for module in self._model.modules():
                if isinstance(module, LoraLayer):
                    module.set_scale(name, strength)
        self._adapters.add(name, directory)
        logger.info("loaded adapter %s from %s (strength %s)", name, directory, strength)

    def _unload_adapter_now(self, name: str) -> None:
        """Unload an adapter (scheduler thread); its running rows end with ``abort``."""
        if name not in self._adapters:
            raise errors.AdapterError(f"adapter {name!r} is not loaded", param="lora_name")
        if self._scheduler is not None:
            self._scheduler.abort_adapter(name)
        self._model.delete_adapter(name)
        self._adapters.remove(name)
        logger.info("unloaded adapter %s", name)

    # -- the scheduler thread -------------------------------------------------------------------

    def _load_and_serve(self, loaded: concurrent.futures.Future[None]) -> None:
        try:
            model = self._load()
        except BaseException as exc:
            self._inbox.close()
            loaded.set_exception(exc)
            return
        self._scheduler = Scheduler(
            self._inbox, model, self._adapter_for, self._config.max_batch_size
        )
        loaded.set_result(None)
        self._scheduler.serve()

    def _adapter_for(self, pending: Pending) -> str:
        request = pending.request
        adapter = BASE_ADAPTER if request.model == self.base_model_name else request.model
        if adapter != BASE_ADAPTER and adapter not in self._adapters:
            raise errors.ModelNotFoundError(f"The model `{request.model}` does not exist.")
        return adapter

    def _forward(self, input_ids: Any, adapters: list[str], **kwargs: Any) -> Any:
        from peft import PeftModel

        if isinstance(self._model, PeftModel) and len(self._adapters):
            kwargs["adapter_names"] = adapters
        elif isinstance(self._model, PeftModel):
            with self._model.disable_adapter():
                return self._model(input_ids=input_ids, use_cache=True, **kwargs)
        return self._model(input_ids=input_ids, use_cache=True, **kwargs)

    def _decode_logits(self, batch: DecodeBatch, adapters: list[str]) -> Any:
        """Next-token logits ``[rows, vocab]`` of one decoding step of the running batch.

        The step built before any adapter was attached keeps computing the base model (PEFT
        wraps the linears it holds, it does not change them), so it serves every step whose rows
        all ask for the base model; a step with adapter rows goes through PEFT.
        """
        mask = batch.step_mask()
        if self._decode_step is not None and all(a == BASE_ADAPTER for a in adapters):
            return self._decode_step(batch.next_tokens, batch.positions, mask, batch.cache_layers)
        out = self._forward(
            batch.next_tokens.unsqueeze(1),
            adapters,
            past_key_values=batch.cache(),
            attention_mask=mask,
            position_ids=batch.positions.unsqueeze(1),
        )
        return out.logits[:, -1, :]

    def _decode_ids(self, ids: Any) -> str:
        text: str = self._tokenizer.decode(ids, skip_special_tokens=True)
        return text

    async def _run_on_scheduler(self, command: Any) -> None:
        await asyncio.wrap_future(self._inbox.command(command))

    def _require_ready(self) -> None:
        if not self._ready:
            raise errors.NotReadyError("the model is still loading")


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids
