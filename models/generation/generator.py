"""Chat-prompted text generation with a converted CTranslate2 decoder and the tokenizer saved beside it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.generation.chat_template import ChatTemplate
from models.generation.incremental import IncrementalDecoder
from schemas.errors import ConfigurationError

MODEL_FILE = "model.bin"
MANIFEST_NAME = "manifest.json"
# Used only when neither the manifest nor the saved config says how long a context the model was trained on.
DEFAULT_MAX_CONTEXT = 2048
# A shared prefix shorter than this is not worth CTranslate2's static-prompt pass of its own.
MIN_SHARED_PREFIX_TOKENS = 16


# Called after each generated token with the completion's text so far (settled: never half a character); returning
# True stops generating for that prompt (the Generation then holds what was generated until then).
StepCallback = Callable[[str], bool]


@dataclass(frozen=True)
class Generation:
    """One completion: its text, token counts and why it stopped ("stop" = end token, "length" = budget)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@runtime_checkable
class TextGenerator(Protocol):
    """The seam between the inference agents and a generator model."""

    version: str
    max_context_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for text, as generate_batch would encode it (no special tokens added)."""
        ...

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        """The model's own chat template applied to messages, ending with the assistant generation prompt."""
        ...

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: Sequence[int],
        temperature: Sequence[float],
        on_step: Sequence[StepCallback | None] | None = None,
    ) -> list[Generation]:
        """One Generation per prompt, in input order; `on_step[i]` (if given) sees prompt i's text grow."""
        ...


class CT2Generator:
    """A TextGenerator backed by a CTranslate2 generator directory written by models.registry.import_model."""

    def __init__(
        self,
        model_dir: Path,
        *,
        compute_type: str = "int8",
        intra_threads: int = 0,
        version: str | None = None,
        share_prefix: bool = True,
    ) -> None:
        import ctranslate2
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        if not (model_dir / MODEL_FILE).is_file():
            raise ConfigurationError(f"{model_dir} holds no CTranslate2 {MODEL_FILE}; import the model first")
        if not (model_dir / "tokenizer.json").is_file():
            raise ConfigurationError(f"{model_dir} holds no tokenizer.json; re-import the model")
        supported = ctranslate2.get_supported_compute_types("cpu")
        if compute_type not in supported:
            raise ConfigurationError(
                f"compute_type {compute_type!r} is not supported on this CPU; supported: {sorted(supported)}"
            )
        if intra_threads < 0:
            raise ConfigurationError(f"intra_threads must be >= 0, got {intra_threads}")

        manifest = _read_json(model_dir / MANIFEST_NAME)
        self.model_dir = model_dir
        self.share_prefix = share_prefix  # run a batch's common leading tokens once (static_prompt)
        self.compute_type = compute_type
        self.version: str = version or f"{manifest.get('name', model_dir.parent.name)}@{model_dir.name}"
        self.max_context_tokens: int = int(manifest.get("max_context_tokens") or DEFAULT_MAX_CONTEXT)
        end_tokens = manifest.get("end_tokens")
        # The GGUF-derived tokenizer may name the wrong EOS; the manifest records the ids the config declares.
        self._end_tokens: list[str] | None = [str(t) for t in end_tokens] if end_tokens else None
        # inter_threads=1: one batch at a time per generator; parallelism comes from intra_threads and batching.
        self._generator = ctranslate2.Generator(
            str(model_dir), device="cpu", compute_type=compute_type, intra_threads=intra_threads, inter_threads=1
        )
        # The `tokenizers` library reads tokenizer.json directly; transformers would import torch for nothing.
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        # Rust-backed tokenizers fail with "Already borrowed" when one instance is used from two threads.
        self._lock = threading.Lock()
        self._chat_template = ChatTemplate.from_model_dir(model_dir)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for text (special tokens written in the text count as one each)."""
        return len(self._encode([text])[0])

    def render_chat(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Apply the model's chat template (as transformers does) with add_generation_prompt=True."""
        return self._chat_template.render(messages)

    def generate_batch(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: Sequence[int],
        temperature: Sequence[float],
        on_step: Sequence[StepCallback | None] | None = None,
    ) -> list[Generation]:
        """Generate for every prompt; items with different temperatures run as separate sub-batches."""
        if isinstance(prompts, str):
            raise TypeError("generate_batch() takes a sequence of prompts, not a single string")
        callbacks = list(on_step) if on_step is not None else [None] * len(prompts)
        if not (len(prompts) == len(max_tokens) == len(temperature) == len(callbacks)):
            raise ValueError(
                f"prompts, max_tokens, temperature and on_step differ in length: "
                f"{len(prompts)}, {len(max_tokens)}, {len(temperature)}, {len(callbacks)}"
            )
        for value in max_tokens:
            if value < 1:
                raise ValueError(f"max_tokens must be >= 1, got {value}")
        for temp in temperature:
            if not temp >= 0.0:  # also rejects NaN
                raise ValueError(f"temperature must be >= 0, got {temp}")
        if not prompts:
            return []
        encoded = self._encode(prompts)
        budgets: list[int] = []
        for ids, wanted in zip(encoded, max_tokens, strict=True):
            room = self.max_context_tokens - len(ids)
            if room < 1:
                raise ValueError(
                    f"prompt of {len(ids)} tokens leaves no room in the {self.max_context_tokens}-token context"
                )
            budgets.append(min(wanted, room))

        groups: dict[float, list[int]] = {}
        for index, temp in enumerate(temperature):
            groups.setdefault(float(temp), []).append(index)
        results: list[Generation | None] = [None] * len(prompts)
        for temp, indexes in groups.items():
            outputs = self._generate_ids(
                [encoded[i] for i in indexes], [budgets[i] for i in indexes], temp, [callbacks[i] for i in indexes]
            )
            for index, (ids, finish) in zip(indexes, outputs, strict=True):
                results[index] = Generation(
                    text=without_cut_character(self._decode(ids), finish),
                    prompt_tokens=len(encoded[index]),
                    completion_tokens=len(ids),
                    finish_reason=finish,
                )
        return [item for item in results if item is not None]

    def generate_token_ids(self, prompts: Sequence[str], *, max_tokens: int) -> list[list[int]]:
        """Greedy completion token ids (no text decoding); what the registry's quality check compares."""
        encoded = self._encode(prompts)
        return [ids for ids, _ in self._generate_ids(encoded, [max_tokens] * len(encoded), 0.0)]

    def _generate_ids(
        self,
        encoded: list[list[int]],
        budgets: list[int],
        temp: float,
        on_step: Sequence[StepCallback | None] = (),
    ) -> list[tuple[list[int], str]]:
        # CTranslate2 takes one max_length per call; the batch runs to its largest budget and shorter
        # budgets are cut afterwards, which for greedy decoding equals running them alone.
        options: dict[str, Any] = {
            "max_length": max(budgets),
            "include_prompt_in_result": False,
            "beam_size": 1,
        }
        if temp == 0.0:
            options["sampling_topk"] = 1
        else:
            # topk=0 samples from the whole distribution, shaped only by the temperature.
            options.update(sampling_topk=0, sampling_temperature=temp)
        if self._end_tokens:
            options["end_token"] = self._end_tokens
        shared = shared_prefix_length(encoded) if self.share_prefix else 0
        if shared:
            # The prompts of a batch open with the same tokens (chat markup and the template's instructions):
            # CTranslate2 runs that prefix once and copies its state to every prompt (static_prompt). Not cached
            # across batches: the shared prefix changes with the batch, and CTranslate2's cache has no bound.
            options.update(static_prompt=self._tokenizer_tokens(encoded[0][:shared]), cache_static_prompt=False)
        start_tokens = [self._tokenizer_tokens(ids[shared:]) for ids in encoded]
        if any(callback is not None for callback in on_step):
            options["callback"] = self._step_callback(on_step, budgets)
        outputs = self._generator.generate_batch(start_tokens, **options)
        results: list[tuple[list[int], str]] = []
        for output, budget in zip(outputs, budgets, strict=True):
            ids = [int(i) for i in output.sequences_ids[0]]
            if len(ids) >= budget:
                results.append((ids[:budget], "length"))
            else:
                results.append((ids, "stop"))
        return results

    def _step_callback(self, on_step: Sequence[StepCallback | None], budgets: list[int]) -> Callable[[Any], bool]:
        """CTranslate2's per-token callback (beam_size=1 only) turned into per-prompt text callbacks."""
        decoders = [IncrementalDecoder(self._decode) if callback else None for callback in on_step]

        def step(result: Any) -> bool:
            index = int(result.batch_id)
            callback, decoder = on_step[index], decoders[index]
            # Tokens past a prompt's own budget are cut afterwards (see above): never shown to its callback.
            if callback is None or decoder is None or int(result.step) >= budgets[index]:
                return False
            return bool(callback(decoder.push(int(result.token_id))))

        return step

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        # Prompts are rendered chat text that already spell out their special tokens; adding a BOS would double it.
        with self._lock:
            items = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [list(item.ids) for item in items]

    def _tokenizer_tokens(self, ids: list[int]) -> list[str]:
        with self._lock:
            return [str(self._tokenizer.id_to_token(i)) for i in ids]

    def _decode(self, ids: Sequence[int]) -> str:
        with self._lock:
            return str(self._tokenizer.decode(list(ids), skip_special_tokens=True))


def without_cut_character(text: str, finish_reason: str) -> str:
    """A completion cut at its token budget can end in half of a character's bytes, which decodes as U+FFFD: that
    is not text the model wrote, so it goes (a completion that stopped by itself is left as it is)."""
    return text.rstrip("\ufffd") if finish_reason == "length" else text


def shared_prefix_length(encoded: Sequence[Sequence[int]], *, minimum: int = MIN_SHARED_PREFIX_TOKENS) -> int:
    """How many leading tokens every prompt of a batch shares (0 when fewer than `minimum`, or one prompt), leaving
    at least one token of each prompt after it."""
    if len(encoded) < 2:
        return 0
    limit = min(len(ids) for ids in encoded) - 1
    first = encoded[0]
    length = 0
    while length < limit and all(ids[length] == first[length] for ids in encoded[1:]):
        length += 1
    return length if length >= minimum else 0


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}
