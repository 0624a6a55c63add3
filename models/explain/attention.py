"""Which prompt tokens each answer token attended to, read from the torch twin of the model that answered."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from models.explain.segments import RecordText, Segment, prompt_segments, token_segments
from models.generation.chat_template import ChatTemplate
from schemas.errors import ConfigurationError

MAX_ANSWER_TOKENS = 256
TOP_K = 5
# Answer tokens per forward step over the cached prompt: bounds the attention held at once to
# layers × heads × CHUNK × sequence floats (SmolLM2, 2k context: about 130 MB), instead of all of them.
CHUNK_TOKENS = 64
MAX_THREADS = 8
SINK_POSITION = 0

AGGREGATION = (
    "For every answer token, the attention weights of every head in every layer (the torch twin in float32, eager "
    "attention) are averaged with equal weight: no head or layer is assumed to matter more, and no gradients or "
    "value norms are involved, so the figure is what the model looked at, not proof of why it answered. The first "
    "prompt position is dropped: decoder models park a large, content-free share of attention there (the "
    "'attention sink'), which would otherwise dominate every row. The remaining weights on prompt tokens are "
    "renormalised to sum to 1, so each row says how the answer token's attention to the prompt was shared out; "
    "attention to earlier answer tokens is left out of the row and reported as 1 − prompt share. A segment's "
    "weight is the sum over its tokens. A record's attention mass is its weight averaged over the answer tokens; "
    "its lift is that mass divided by the record's share of the prompt's tokens (above 1: attended more than its "
    "length alone explains). Concentration is 1 − the entropy of a row divided by the entropy of a uniform row: "
    "0 = spread evenly over the prompt, 1 = all on one token."
)


@dataclass(frozen=True)
class PromptToken:
    position: int  # in the sequence the model saw
    text: str
    segment: int  # index into AttentionExplanation.segments


@dataclass(frozen=True)
class AttendedToken:
    position: int
    text: str
    segment: int
    weight: float


@dataclass(frozen=True)
class AnswerToken:
    """One answer token: its text, its weight per segment, its top prompt tokens (heaviest first)."""

    index: int
    text: str
    segment_weights: tuple[float, ...]
    top: tuple[AttendedToken, ...]
    concentration: float
    prompt_share: float  # of its attention beyond the sink, the share that went to the prompt


@dataclass(frozen=True)
class RecordAttention:
    record_id: str
    mass: float  # mean over answer tokens of the record's segment weight
    tokens: int  # prompt tokens of the record; 0 = the prompt did not show it
    lift: float  # mass / the record's share of the prompt's tokens: above 1, attended more than its length implies


@dataclass(frozen=True)
class Bounds:
    """What was cut to bound the cost, so that a report can say so."""

    answer_tokens: int
    answer_tokens_kept: int
    prompt_tokens: int
    prompt_tokens_kept: int  # the prompt's last tokens are kept when prompt + answer exceed the context
    max_answer_tokens: int
    context_tokens: int


@dataclass(frozen=True)
class AttentionExplanation:
    prompt: str
    segments: tuple[Segment, ...]
    prompt_tokens: tuple[PromptToken, ...]
    answer_tokens: tuple[AnswerToken, ...]
    records: tuple[RecordAttention, ...]
    layers: int
    heads: int
    bounds: Bounds
    method: str = AGGREGATION

    @property
    def segment_matrix(self) -> tuple[tuple[float, ...], ...]:
        """[segment][answer token] weights; each answer token's column sums to 1."""
        return tuple(zip(*(t.segment_weights for t in self.answer_tokens), strict=True))


def render_prompt(template: ChatTemplate, task: str, messages: Sequence[Mapping[str, str]]) -> str:
    """The prompt the generator was given: the chat template over the messages for chat; for complete and code, the
    user's text as it is (agents/inference/service.py sends those without the chat template)."""
    if task == "chat" or len(messages) != 1:
        return template.render(messages)
    return messages[0]["content"]


def mean_attention(layer_attentions: Sequence[Any]) -> NDArray[np.float64]:
    """[queries, keys] mean over layers and heads of attentions shaped [1, heads, queries, keys] per layer."""
    total: Any = None
    count = 0
    for layer in layer_attentions:
        summed = layer[0].double().sum(dim=0)
        total = summed if total is None else total + summed
        count += int(layer.shape[1])
    if total is None:
        raise ValueError("no attention layers")
    return np.asarray((total / count).numpy(), dtype=np.float64)


def prompt_weights(mean: NDArray[np.float64], prompt_len: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rows of `mean` ([answer tokens, keys]) turned into weights over the prompt, and each row's prompt share.

    The sink position gets weight 0 and the rest of the prompt sums to 1 (AGGREGATION); a one-token prompt has no
    sink to drop. prompt share = attention on the prompt / attention on everything but the sink.
    """
    sink = SINK_POSITION + 1 if prompt_len > 1 else 0
    weights = np.array(mean[:, :prompt_len], dtype=np.float64)
    weights[:, :sink] = 0.0
    on_prompt = weights.sum(axis=1)
    beyond_sink = mean[:, sink:].sum(axis=1)
    share = np.divide(on_prompt, beyond_sink, out=np.zeros_like(on_prompt), where=beyond_sink > 0)
    uniform = np.zeros(prompt_len)
    uniform[sink:] = 1.0 / (prompt_len - sink)
    # A row with no attention on the prompt at all (only possible with degenerate weights) reads as uniform.
    safe = np.where(on_prompt > 0, on_prompt, 1.0)[:, None]
    normalised = np.where(on_prompt[:, None] > 0, weights / safe, uniform[None, :])
    return normalised, share


def concentration(row: NDArray[np.float64], positions: int) -> float:
    """1 − entropy(row) / log(positions), where `positions` is how many tokens the row may spread over (the prompt
    without the sink): 0 = uniform, 1 = all on one token."""
    if positions <= 1:
        return 1.0
    positive = row[row > 0]
    entropy = float(-(positive * np.log(positive)).sum())
    return float(min(1.0, max(0.0, 1.0 - entropy / math.log(positions))))


class AttentionModel:
    """The torch twin loaded once (float32, eager attention, CPU) with its tokenizer and chat template."""

    def __init__(self, twin_dir: Path, *, threads: int | None = None) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModelForCausalLM

        twin_dir = Path(twin_dir)
        if not (twin_dir / "tokenizer.json").is_file():
            raise ConfigurationError(f"{twin_dir} holds no tokenizer.json: not a torch twin")
        self.twin_dir = twin_dir
        self.threads = threads or default_threads()
        # The same tokenizer file and options as CT2Generator, so the prompt splits into the same tokens.
        self._tokenizer = Tokenizer.from_file(str(twin_dir / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.template = ChatTemplate.from_model_dir(twin_dir)
        # Only eager attention materialises the weights; sdpa and flash kernels never form them.
        self._model: Any = cast(
            Any,
            AutoModelForCausalLM.from_pretrained(
                str(twin_dir), local_files_only=True, dtype=torch.float32, attn_implementation="eager"
            ),
        )
        self._model.eval()
        # One explanation at a time: the Rust tokenizer refuses use from two threads, and torch's thread count is
        # process-wide (a review console may call this from several request threads).
        self._lock = threading.Lock()
        config = self._model.config
        self.layers = int(config.num_hidden_layers)
        self.heads = int(config.num_attention_heads)
        self.context_tokens = int(getattr(config, "max_position_embeddings", 0) or 2048)

    def explain(
        self,
        *,
        task: str,
        messages: Sequence[Mapping[str, str]],
        records: Sequence[RecordText],
        answer: str,
        top_k: int = TOP_K,
        max_answer_tokens: int = MAX_ANSWER_TOKENS,
        chunk_tokens: int = CHUNK_TOKENS,
    ) -> AttentionExplanation:
        """Attribute `answer` to the prompt the messages render to (see AGGREGATION for how)."""
        with self._lock:
            return self._explain(task, messages, records, answer, top_k, max_answer_tokens, chunk_tokens)

    def _explain(
        self,
        task: str,
        messages: Sequence[Mapping[str, str]],
        records: Sequence[RecordText],
        answer: str,
        top_k: int,
        max_answer_tokens: int,
        chunk_tokens: int,
    ) -> AttentionExplanation:
        if not answer:
            raise ValueError("there is no answer to explain")
        if top_k < 1 or max_answer_tokens < 1 or chunk_tokens < 1:
            raise ValueError("top_k, max_answer_tokens and chunk_tokens must be >= 1")
        prompt = render_prompt(self.template, task, messages)
        # Rendered chat text spells out its special tokens; the generator adds none, and neither does this.
        prompt_enc = self._tokenizer.encode(prompt, add_special_tokens=False)
        answer_enc = self._tokenizer.encode(answer, add_special_tokens=False)
        prompt_ids, prompt_offsets = list(prompt_enc.ids), list(prompt_enc.offsets)
        answer_ids, answer_offsets = list(answer_enc.ids), list(answer_enc.offsets)
        if not answer_ids:
            raise ValueError("the answer holds no tokens")
        kept_answer = min(len(answer_ids), max_answer_tokens, max(1, self.context_tokens - 1))
        kept_prompt = min(len(prompt_ids), self.context_tokens - kept_answer)
        bounds = Bounds(
            answer_tokens=len(answer_ids),
            answer_tokens_kept=kept_answer,
            prompt_tokens=len(prompt_ids),
            prompt_tokens_kept=kept_prompt,
            max_answer_tokens=max_answer_tokens,
            context_tokens=self.context_tokens,
        )
        first = len(prompt_ids) - kept_prompt
        prompt_ids, prompt_offsets = prompt_ids[first:], prompt_offsets[first:]
        answer_ids, answer_offsets = answer_ids[:kept_answer], answer_offsets[:kept_answer]

        mean_rows = self._answer_attention(prompt_ids, answer_ids, chunk_tokens)
        weights, shares = prompt_weights(mean_rows, len(prompt_ids))
        spread = len(prompt_ids) - (1 if len(prompt_ids) > 1 else 0)

        segments = prompt_segments(prompt, messages, records)
        owners = token_segments(prompt_offsets, segments, len(prompt))
        prompt_tokens = tuple(
            PromptToken(position, prompt[start:end], owners[position])
            for position, (start, end) in enumerate(prompt_offsets)
        )
        by_segment = np.zeros((len(segments), len(prompt_ids)))
        by_segment[owners, np.arange(len(prompt_ids))] = 1.0
        segment_rows = weights @ by_segment.T  # [answer token, segment]

        answer_tokens = tuple(
            AnswerToken(
                index=index,
                text=answer[start:end],
                segment_weights=tuple(float(w) for w in segment_rows[index]),
                top=_top(weights[index], prompt_tokens, top_k),
                concentration=concentration(weights[index], spread),
                prompt_share=float(shares[index]),
            )
            for index, (start, end) in enumerate(answer_offsets)
        )
        token_counts = np.bincount(np.asarray(owners, dtype=np.int64), minlength=len(segments))
        mass = segment_rows.mean(axis=0)
        records_attention = tuple(
            RecordAttention(
                segment.record_id or "",
                float(mass[number]),
                int(token_counts[number]),
                float(mass[number] * spread / token_counts[number]) if token_counts[number] else 0.0,
            )
            for number, segment in enumerate(segments)
            if segment.kind == "record"
        )
        return AttentionExplanation(
            prompt=prompt,
            segments=segments,
            prompt_tokens=prompt_tokens,
            answer_tokens=answer_tokens,
            records=records_attention,
            layers=self.layers,
            heads=self.heads,
            bounds=bounds,
        )

    def _answer_attention(self, prompt_ids: list[int], answer_ids: list[int], chunk: int) -> NDArray[np.float64]:
        """[answer tokens, prompt + answer tokens] mean attention, the answer fed in chunks over the cached prompt.

        Causal attention makes this equal to one pass over prompt + answer (a unit test pins it); chunks only
        bound how many attention maps exist at once.
        """
        import torch

        rows: list[NDArray[np.float64]] = []
        total = len(prompt_ids) + len(answer_ids)
        with _torch_threads(self.threads), torch.no_grad():
            out = self._model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
            past = out.past_key_values
            for start in range(0, len(answer_ids), chunk):
                ids = answer_ids[start : start + chunk]
                out = self._model(
                    input_ids=torch.tensor([ids]), past_key_values=past, use_cache=True, output_attentions=True
                )
                past = out.past_key_values
                mean = mean_attention(out.attentions)
                padded = np.zeros((len(ids), total))
                padded[:, : mean.shape[1]] = mean
                rows.append(padded)
        return np.concatenate(rows, axis=0)


def explain_attention(
    twin_dir: Path,
    *,
    task: str,
    messages: Sequence[Mapping[str, str]],
    records: Sequence[RecordText],
    answer: str,
    top_k: int = TOP_K,
    max_answer_tokens: int = MAX_ANSWER_TOKENS,
    threads: int | None = None,
) -> AttentionExplanation:
    """Load the twin and explain one answer (AttentionModel keeps the model for several)."""
    model = AttentionModel(twin_dir, threads=threads)
    return model.explain(
        task=task, messages=messages, records=records, answer=answer, top_k=top_k, max_answer_tokens=max_answer_tokens
    )


def default_threads() -> int:
    """The cores this process may run on, at most MAX_THREADS (beyond that a 135M model gains little)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    # torch's thread count is process-wide: a review console that explains in its own process gets its setting back.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _top(row: NDArray[np.float64], tokens: Sequence[PromptToken], k: int) -> tuple[AttendedToken, ...]:
    # A stable sort keeps ties in prompt order, so the same weights always list the same tokens.
    order = np.argsort(-row, kind="stable")[:k]
    return tuple(
        AttendedToken(int(p), tokens[int(p)].text, tokens[int(p)].segment, float(row[int(p)]))
        for p in order
        if row[int(p)] > 0
    )
