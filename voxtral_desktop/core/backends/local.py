"""Runs Voxtral in this process with transformers: load on cpu/cuda/mps, generate in a thread, stream text."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from voxtral_desktop.core import hub, prompts
from voxtral_desktop.core.backends import cost, memory
from voxtral_desktop.core.backends.base import (
    DEFAULT_CONTEXT_TOKENS,
    Backend,
    GenerationError,
    GenerationRequest,
    LoadPhase,
    Mode,
    ModelLoadError,
    ProgressCallback,
)
from voxtral_desktop.core.backends.model_files import check_model_folder, damaged_folder_advice
from voxtral_desktop.core.backends.prefix_cache import PrefixReuse, ReuseStats, auto_budget_bytes
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import HubUnreachable, ModelBusy, ModelUnavailableOffline
from voxtral_desktop.core.timings import ReplyTimings, Stage

log = logging.getLogger(__name__)

_END = object()  # the generation thread's last message: nothing more will come
# A stopped generation ends within one step; a thread still running this long after is stuck (a hung
# kernel, a driver stall) and is left behind so the reply, and the turn lock, are not held hostage.
STOP_GRACE_S = 2.0
# How long a new reply waits for a stuck thread to come back before saying the model is busy.
BUSY_WAIT_S = 5.0
# How long close() waits for a stopped generation to leave torch: it stops at the end of the layer it is in
# (about a second for Voxtral Mini on a slow CPU); exiting while it is inside torch aborts the process.
CLOSE_WAIT_S = 15.0


GENERATION_THREAD = "voxtral-generate"


class _Stopped(Exception):
    """Raised between two layers of a forward pass once the reply is stopped: a long prefill ends at once."""


def generation_running() -> bool:
    """Whether a generation thread of this process is still alive (inside torch: exiting now would abort)."""
    return any(t.name == GENERATION_THREAD and t.is_alive() for t in threading.enumerate())


def resolve_device(requested: str) -> str:
    """auto = cuda, then mps, then cpu; an explicit device that is missing is an error, not a fallback."""
    import torch

    has = {
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if requested == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if has[d])
    if not has[requested]:
        raise ModelLoadError(f"model.device is '{requested}' but this machine has no {requested.upper()} device")
    return requested


def resolve_dtype(
    requested: str,
    device: str,
    source: str | None = None,
    available_memory: Callable[[], int | None] = memory.available_bytes,
) -> Any:
    """The torch dtype to load as (see memory.choose_dtype); NotEnoughMemory when even the smallest won't fit.

    ``source`` is the model folder: its safetensors headers give the weight count without reading weights.
    """
    import torch

    weights = None
    if source is not None:
        weights = memory.count_weights(source) or memory.count_weights_from_config(source)
    available = available_memory()
    name = memory.choose_dtype(requested, device, weights, available, memory.has_native_bf16())
    if weights is not None and available is not None:
        log.info(
            "memory: about %.1f GB needed as %s, %.1f GB available",
            memory.needed_bytes(weights.parameters, name) / 1e9,
            name,
            available / 1e9,
        )
    return getattr(torch, name)


def _looks_like_path(model_id: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else with a slash is meant as a folder."""
    return (
        model_id.startswith((".", "~"))
        or os.path.isabs(model_id)
        or "\\" in model_id
        or model_id.count("/") > 1
    )


def _missing_model_advice(model_id: str, cause: BaseException) -> str:
    return (
        f"Could not load the Voxtral model '{model_id}': {cause}. "
        f"If this machine is online, it downloads on first use (about 9 GB for Voxtral Mini); offline, "
        f"download it elsewhere with `hf download {model_id}` and copy the folder here, then set model.id "
        f"to that folder (Settings, `--model /path/to/folder`, or config.yaml)."
    )


# What transformers needs from a Voxtral hub repo; its Mistral-format `consolidated.safetensors` (a second
# full copy of the weights, for vLLM) is left out, which halves the download.
HUB_FILES = ["*.json", "model*.safetensors", "*.model", "*.txt"]
SKIPPED_FILE = "consolidated.safetensors"  # what the advice's `hf download --exclude` leaves out, likewise


def _offline_model_advice(model_id: str, offline: HubUnreachable) -> str:
    """What to do when the model is not here and the hub cannot be reached, in a person's words."""
    size = f" ({hub.about(offline.size_bytes)})" if offline.size_bytes else ""
    folder = model_id.rstrip("/").rsplit("/", 1)[-1].lower()
    return (
        f"{hub.why_unreachable(offline)}, and the model {model_id}{size} is not on this computer yet. "
        f"On a computer that is online, run "
        f"`hf download {model_id} --exclude {SKIPPED_FILE} --local-dir {folder}`, copy that folder here and "
        f"choose it under Settings > Model (or model.id in config.yaml, or --model FOLDER). "
        f"{hub.try_again(offline)}: it downloads once."
    )


def _fetch(model_id: str, report: ProgressCallback) -> str:
    """The hub snapshot's local folder: from the cache when it is there, else downloaded with progress."""
    cached = hub.cached_snapshot(model_id, HUB_FILES)
    if cached is not None:
        return cached
    report(LoadPhase.DOWNLOADING, 0.0)
    try:
        return hub.download_snapshot(model_id, HUB_FILES, lambda fraction: report(LoadPhase.DOWNLOADING, fraction))
    except HubUnreachable as e:
        raise ModelUnavailableOffline(
            _offline_model_advice(model_id, e),
            repo=e.repo,
            cause=e.cause,
            size_bytes=e.size_bytes,
            offline_mode=e.offline_mode,
        ) from e
    except (OSError, ValueError) as e:  # unknown repo, gated, hub error, disk full, a malformed id
        raise ModelLoadError(_missing_model_advice(model_id, e)) from e


class LocalBackend(Backend):
    """Loads the processor and model lazily and generates with a TextIteratorStreamer in a worker thread."""

    def __init__(self, config: Config, available_memory: Callable[[], int | None] = memory.available_bytes) -> None:
        self.config = config
        self.model: Any = None
        self.processor: Any = None
        self._device: str | None = None
        self.model_id: str | None = None
        self._worker: threading.Thread | None = None  # the latest generation thread
        # Free memory figure used before loading (a test passes a fake one to see the refusal).
        self.available_memory = available_memory
        self.reuse: PrefixReuse | None = None
        self._load_notice = ""  # what replies will cost on this CPU, said once loaded (see core/backends/cost.py)
        self.reply_cost: cost.ReplyCost | None = None

    @property
    def last_reuse(self) -> ReuseStats | None:
        """What the last reply reused (prompt tokens, reused tokens, audio windows encoded)."""
        return self.reuse.last if self.reuse is not None else None

    @property
    def is_loaded(self) -> bool:
        return self.model is not None

    def load(self, progress: ProgressCallback | None = None) -> None:
        cfg = self.config.model
        model_id = cfg.id
        report = progress or (lambda phase, fraction: None)
        local = Path(model_id).expanduser()
        if _looks_like_path(model_id) and not local.is_dir():
            raise ModelLoadError(
                f"model folder {local} does not exist. Point model.id at a folder holding the model's "
                f"config.json, tekken.json and weights, or at a Hugging Face hub id such as "
                f"mistralai/Voxtral-Mini-3B-2507."
            )
        source = str(local) if local.is_dir() else _fetch(model_id, report)
        check_model_folder(Path(source), model_id)
        report(LoadPhase.LOADING, None)
        try:
            import torch
            from transformers import AutoProcessor, VoxtralForConditionalGeneration
        except ImportError as e:  # pragma: no cover - only on broken installs
            raise ModelLoadError(f"torch and transformers are needed to run Voxtral locally: {e}") from e
        device = resolve_device(cfg.device)
        dtype = resolve_dtype(cfg.dtype, device, source, self.available_memory)
        log.info("loading %s on %s as %s", source, device, str(dtype).removeprefix("torch."))
        try:
            processor = AutoProcessor.from_pretrained(source)
            model = VoxtralForConditionalGeneration.from_pretrained(source, dtype=dtype)
        except Exception as e:  # noqa: BLE001 - files that passed the checks can still be wrong inside
            raise ModelLoadError(damaged_folder_advice(Path(source), model_id, f"{type(e).__name__}: {e}")) from e
        model.to(device)
        model.eval()
        if device == "cpu":
            self._say_cost(model, cfg.dtype)
        self.processor, self.model, self._device, self.model_id = processor, model, device, source
        # A fresh model never sees another model's caches: reuse starts empty on every load.
        weight_bytes = sum(p.nbytes for p in model.parameters())
        budget = cfg.cache_mb * 2**20 if cfg.cache_mb else auto_budget_bytes(weight_bytes)
        self.reuse = PrefixReuse(model, budget)
        log.info("prefix reuse: %.0f MB budget", budget / 2**20)
        _ = torch  # loaded above; keeps the import local to this back-end
        report(LoadPhase.READY, 1.0)

    def _say_cost(self, model: Any, requested_dtype: str) -> None:
        """Before the user talks: what a reply will cost here, and whether bfloat16 is emulated on this CPU."""
        dtype = str(model.dtype).removeprefix("torch.")
        emulated = dtype == "bfloat16" and not memory.has_native_bf16()
        self.reply_cost = cost.probe(model)
        self._load_notice = cost.notice(
            self.reply_cost, dtype, emulated_bf16=emulated, float32_did_not_fit=emulated and requested_dtype == "auto"
        )
        log.info("running Voxtral on the CPU: %s", self._load_notice)  # the CLI and the window say it too

    @property
    def load_notice(self) -> str:
        return self._load_notice

    @property
    def first_words_s(self) -> float | None:
        return None if self.reply_cost is None else self.reply_cost.first_words_s

    @property
    def engine_name(self) -> str:
        return "transformers"

    @property
    def device(self) -> str | None:
        """The torch device the model was loaded on; None before loading."""
        return self._device

    @property
    def context_tokens(self) -> int:
        """The text model's context length once loaded (Voxtral Mini's until then)."""
        if self.model is None:
            return DEFAULT_CONTEXT_TOKENS
        return int(getattr(self.model.config.text_config, "max_position_embeddings", 0)) or DEFAULT_CONTEXT_TOKENS

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the latest generation thread (stopped or not) to end."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)
        return worker is None or not worker.is_alive()

    def close(self) -> None:
        # A stopped reply leaves torch at its next layer boundary; wait for it so the model is not released,
        # or the process ended, under a running forward pass.
        if not self.wait_idle(CLOSE_WAIT_S):
            log.warning("a generation step is still running %.0f s after the model was closed", CLOSE_WAIT_S)
        self.model = None
        self.processor = None
        if self.reuse is not None:
            self.reuse.clear()
        self.reuse = None

    def forget_conversations(self) -> None:
        """Drop every kept computation (the next turn of each conversation starts from scratch)."""
        if self.reuse is not None:
            self.reuse.clear()

    def build_inputs(self, request: GenerationRequest) -> Any:
        """The exact tensors generate() gets: tests inspect them to prove the audio reaches the model."""
        if request.mode == Mode.TRANSCRIBE:
            inputs = prompts.transcription_inputs(
                self.processor, request.audio, language=request.language, model_id=self.model_id
            )
        else:
            inputs = prompts.conversation_inputs(
                self.processor, request.audio, instruction=request.user_text, history=request.history
            )
        return inputs.to(self._device, dtype=self.model.dtype)

    def generate_kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": request.max_new_tokens}
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    async def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        if self.model is None:
            raise GenerationError("the model is not loaded")
        await self._wait_for_previous()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def emit(item: object) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        thread = threading.Thread(
            target=self._generate, args=(request, stop, emit), name=GENERATION_THREAD, daemon=True
        )
        self._worker = thread
        thread.start()
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise GenerationError(str(item) or type(item).__name__) from item
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            if not finished:
                # The thread stops within one step once ``stop`` is set; wait for its last word so no thread
                # outlives the reply, but never forever: a step that does not return is abandoned.
                try:
                    await asyncio.wait_for(_until_done(queue), STOP_GRACE_S)
                    finished = True
                except TimeoutError:
                    # A slow layer (a CPU) or a hung step: the reply ends now; close() waits for it.
                    log.info("generation did not stop within %.0f s of being asked; leaving it", STOP_GRACE_S)
            if finished:
                thread.join()

    async def _wait_for_previous(self) -> None:
        """A stuck earlier thread still owns the model: wait a little for it, then refuse clearly."""
        previous = self._worker
        if previous is None or not previous.is_alive():
            return
        limit = min(BUSY_WAIT_S, self.config.streaming.timeout_ms / 2000.0)
        deadline = time.monotonic() + limit
        while previous.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if previous.is_alive():
            raise ModelBusy(
                "the model is still busy with an earlier reply that stopped responding; try again in a "
                "moment, and restart the app if it stays busy"
            )

    def _run_generate(
        self, request: GenerationRequest, inputs: Any, extra: dict[str, Any], timings: ReplyTimings | None
    ) -> None:
        """generate(), reusing the conversation's last exchange where the settings allow it."""
        reuse = self.reuse if self.config.model.reuse_prefix else None
        if reuse is None or request.mode != "conversation":
            # Transcripts and reuse switched off: the plain call, exactly as before.
            if timings is not None:
                timings.mark(Stage.PROMPT_BUILT)
            hook = None
            if timings is not None and "input_features" in inputs:
                done = _marker(timings, Stage.AUDIO_ENCODED)
                hook = self.model.model.audio_tower.register_forward_hook(lambda *_: done())
            try:
                self.model.generate(**inputs, **extra)
            finally:
                if hook is not None:
                    hook.remove()
            return
        turn = reuse.prepare(request.conversation_id, inputs, _marker(timings, Stage.AUDIO_ENCODED))
        if timings is not None:
            timings.mark(Stage.PROMPT_BUILT)
        sequence = None
        try:
            out = self.model.generate(**turn.generate_inputs, cache=turn.cache, **extra)
            sequence = out[0].tolist()
        finally:
            reuse.finish(turn, sequence)
            s = turn.stats
            log.info(
                "prefix reuse: %d of %d prompt tokens reused; %d of %d audio windows encoded",
                s.reused_tokens, s.prompt_tokens, s.encoded_windows, s.audio_windows,
            )

    def _generate(self, request: GenerationRequest, stop: threading.Event, emit: Callable[[object], None]) -> None:
        try:
            import torch
            from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

            class _StopWhenSet(StoppingCriteria):
                def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
                    return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

            timings = request.timings

            class _ForwardingStreamer(TextIteratorStreamer):
                """Hands each finished piece of text straight to the event loop instead of a blocking queue."""

                def put(self, value: Any) -> None:
                    if timings is not None and not self.next_tokens_are_prompt:
                        timings.mark(Stage.FIRST_TOKEN)  # the first put is the prompt; the second, token 1
                    super().put(value)

                def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                    if text:
                        emit(text)

            streamer = _ForwardingStreamer(
                self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True
            )
            hooks = _watch_layers(self.model, stop, timings)
            with contextlib.ExitStack() as cleanup, torch.inference_mode():
                for hook in hooks:
                    cleanup.callback(hook.remove)
                inputs = self.build_inputs(request)
                if not stop.is_set():  # stopped already: end at once (and say so: the consumer waits for it)
                    extra = {
                        "streamer": streamer,
                        "stopping_criteria": StoppingCriteriaList([_StopWhenSet()]),
                        **self.generate_kwargs(request),
                    }
                    self._run_generate(request, inputs, extra, timings)
        except BaseException as e:  # noqa: BLE001 - forwarded: the consumer must not wait for a timeout
            log.debug("generation raised %r", e)
            # Stopped (cancel, timeout, closing): it ended as asked, whatever a half-done step raised.
            _send(emit, _END if stop.is_set() else e)
            return
        _send(emit, _END)


def _watch_layers(model: Any, stop: threading.Event, timings: ReplyTimings | None) -> list[Any]:
    """Hooks on every repeated layer (the audio encoder's and the text model's): each finished layer is
    progress (a slow CPU is not a stall) and a point where a stopped reply leaves the forward pass."""
    import torch

    def after_layer(*_: Any) -> None:
        if stop.is_set():
            raise _Stopped
        if timings is not None:
            timings.touch()

    return [
        layer.register_forward_hook(after_layer)
        for module in model.modules()
        if isinstance(module, torch.nn.ModuleList)
        for layer in module
    ]


async def _until_done(queue: asyncio.Queue[object]) -> None:
    while True:
        item = await queue.get()
        if item is _END or isinstance(item, BaseException):
            return


def _marker(timings: ReplyTimings | None, stage: Stage) -> Callable[[], None] | None:
    return None if timings is None else (lambda: timings.mark(stage))


def _send(emit: Callable[[object], None], item: object) -> None:
    try:
        emit(item)
    except RuntimeError:  # the loop closed under us (app quitting): nobody is listening any more
        pass
