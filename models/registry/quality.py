"""Answer scores of the registry's quality check: normalised exact match and ROUGE-L F1, per language and overall."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from models.registry.quality_set import QualityQuestion

# CJK ideographs, kana and their compatibility forms: each character is one ROUGE token, since Chinese
# has no spaces to split words on (and a word segmenter would make the score depend on its dictionary).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, punctuation removed, whitespace collapsed and trimmed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Punctuation becomes a space, so "shipped.Next" does not glue two words together.
    cleaned = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return _SPACES.sub(" ", cleaned).strip()


def exact_match(answer: str, reference: str) -> bool:
    """Whether both texts are equal once normalised; spaces between CJK characters do not count."""
    return _TOKEN.findall(normalise(answer)) == _TOKEN.findall(normalise(reference))


def rouge_tokens(text: str) -> list[str]:
    """Normalised tokens: one per CJK character, one per run of other letters and digits (English words)."""
    return _TOKEN.findall(normalise(text))


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 (beta = 1) of answer against reference over rouge_tokens; 1.0 when both are empty."""
    candidate, target = rouge_tokens(answer), rouge_tokens(reference)
    if not candidate and not target:
        return 1.0
    lcs = _lcs_length(candidate, target)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(target)
    return 2 * precision * recall / (precision + recall)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    # One row of the dynamic programme at a time: answers are at most a few dozen tokens.
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if item == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def score_answers(
    questions: Sequence[QualityQuestion], answers: Sequence[str], references: Sequence[str]
) -> dict[str, Any]:
    """Mean exact match and ROUGE-L of answers against references, overall and per question language."""
    if not (len(questions) == len(answers) == len(references)):
        raise ValueError(f"{len(questions)} questions, {len(answers)} answers and {len(references)} references")
    by_language: dict[str, list[tuple[float, float]]] = {}
    for question, answer, reference in zip(questions, answers, references, strict=True):
        pair = (1.0 if exact_match(answer, reference) else 0.0, rouge_l(answer, reference))
        by_language.setdefault(question.lang, []).append(pair)
    every = [pair for pairs in by_language.values() for pair in pairs]
    return {
        **_means(every),
        "by_language": {lang: _means(pairs) for lang, pairs in sorted(by_language.items())},
    }


def _means(pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    count = len(pairs)
    if count == 0:
        return {"questions": 0, "exact_match": 0.0, "rouge_l": 0.0}
    return {
        "questions": count,
        "exact_match": round(sum(p[0] for p in pairs) / count, 4),
        "rouge_l": round(sum(p[1] for p in pairs) / count, 4),
    }


def quality_summary(quality: Mapping[str, Any]) -> str:
    """A one-line summary of a manifest's quality block, for `sluice models list` and the import's last line."""
    parts: list[str] = []
    refs = quality.get("vs_references")
    if isinstance(refs, Mapping):
        parts.append(f"ref EM {refs.get('exact_match', 0):.2f} RL {refs.get('rouge_l', 0):.2f}")
        langs = refs.get("by_language") or {}
        parts.extend(f"{lang} RL {v.get('rouge_l', 0):.2f}" for lang, v in sorted(langs.items()))
    f32 = quality.get("vs_float32")
    if isinstance(f32, Mapping):
        parts.append(f"f32 EM {f32.get('exact_match', 0):.2f} RL {f32.get('rouge_l', 0):.2f}")
    if "mean_token_agreement" in quality:
        parts.append(f"token agreement {quality['mean_token_agreement']:.2f}")
    return " | ".join(parts) if parts else "no quality figures"
