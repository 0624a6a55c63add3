"""Context-word score boosts that also work on Chinese text, which has no tokens for lemma matching."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts


class SubstringContextEnhancer(ContextAwareEnhancer):
    """Raises a result's score when one of its recognizer's context words appears just before it.

    Chinese has no spaces, so "手机号13812345678" is one token to a lemma-based matcher; a plain
    case-insensitive substring search in a character window works for both languages and needs no
    NLP pass. Same factors as Presidio's default enhancer, but a boosted score stays below 1.0, which
    marks a checksum-validated detection (overlap resolution relies on that).
    """

    def __init__(
        self,
        context_similarity_factor: float = 0.35,
        min_score_with_context_similarity: float = 0.4,
        window_before: int = 24,
        window_after: int = 8,
        max_boosted_score: float = 0.95,
    ) -> None:
        self.max_boosted_score = max_boosted_score
        super().__init__(
            context_similarity_factor=context_similarity_factor,
            min_score_with_context_similarity=min_score_with_context_similarity,
            context_prefix_count=window_before,
            context_suffix_count=window_after,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        words_by_recognizer = {
            recognizer.id: [word.lower() for word in getattr(recognizer, "context", None) or ()]
            for recognizer in recognizers
        }
        extra = [word.lower() for word in context or ()]
        for result in raw_results:
            metadata = result.recognition_metadata or {}
            if metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            recognizer_id = metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY)
            words = words_by_recognizer.get(recognizer_id, []) + extra
            if not words or result.score >= self.max_boosted_score:
                continue
            before = text[max(0, result.start - self.context_prefix_count) : result.start].lower()
            after = text[result.end : result.end + self.context_suffix_count].lower()
            word = next((w for w in words if w in before or w in after), None)
            if word is None:
                continue
            score = min(result.score + self.context_similarity_factor, self.max_boosted_score)
            result.score = max(score, self.min_score_with_context_similarity)
            metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
            if result.analysis_explanation is not None:
                result.analysis_explanation.set_supportive_context_word(word)
                result.analysis_explanation.set_improved_score(result.score)
        return raw_results
