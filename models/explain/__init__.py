"""Explanations of answers: which prompt tokens, records and turns the model attended to while answering."""

from __future__ import annotations

from models.explain.attention import (
    AGGREGATION,
    MAX_ANSWER_TOKENS,
    TOP_K,
    AnswerToken,
    AttendedToken,
    AttentionExplanation,
    AttentionModel,
    Bounds,
    PromptToken,
    RecordAttention,
    explain_attention,
    render_prompt,
)
from models.explain.segments import RecordText, Segment, SegmentKind, prompt_segments, token_segments

__all__ = [
    "AGGREGATION",
    "MAX_ANSWER_TOKENS",
    "TOP_K",
    "AnswerToken",
    "AttendedToken",
    "AttentionExplanation",
    "AttentionModel",
    "Bounds",
    "PromptToken",
    "RecordAttention",
    "RecordText",
    "Segment",
    "SegmentKind",
    "explain_attention",
    "prompt_segments",
    "render_prompt",
    "token_segments",
]
